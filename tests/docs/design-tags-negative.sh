#!/bin/sh
# The design-tag checker rejects each kind of bad citation: run it on a
# small copy of the tree with one planted fault at a time, and on the clean
# copy (which must pass).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

setup() {
    rm -rf "$work/t"
    mkdir -p "$work/t/scripts" "$work/t/docs/design" "$work/t/core"
    cp "$src/scripts/check-design-tags.sh" "$work/t/scripts/"
    printf '# Note\n\n`.note.rule`: A rule.\n' >"$work/t/docs/design/note.md"
    printf '/* a.c: cites docs/design/note.md .note.rule */\n' >"$work/t/core/a.c"
}
expect() { # expect pass|fail "what"
    if sh "$work/t/scripts/check-design-tags.sh" >/dev/null 2>&1; then got=pass; else got=fail; fi
    if [ "$got" != "$1" ]; then
        echo "FAIL: $2: checker said $got, expected $1" >&2
        exit 1
    fi
    echo "ok: $2 ($got)"
}

setup
expect pass "clean tree"
setup
printf '/* b.c (.note.missing) */\n' >"$work/t/core/b.c"
expect fail "tag with no paragraph"
setup
printf '/* b.c (docs/design/gone.md) */\n' >"$work/t/core/b.c"
expect fail "citation of a note that does not exist"
setup
printf '# Other\n\n`.other.rule`: Another.\n' >"$work/t/docs/design/other.md"
printf '/* b.c (docs/design/note.md .other.rule) */\n' >"$work/t/core/b.c"
expect fail "tag cited in the wrong note"
setup
printf '/* b.c (design §3) */\n' >"$work/t/core/b.c"
expect fail "section number of a document outside the tree"
