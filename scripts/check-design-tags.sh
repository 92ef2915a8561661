#!/bin/sh
# Every design tag the code cites (MPS style: ".vmspace.chunks", ".fwd.race")
# must have its paragraph in a design note: a line of docs/design/*.md that
# starts with the tag in backquotes, `.vmspace.chunks`.
#
# A tag in code is a dot, a lower-case word, and one or more further
# ".word" parts (words may contain digits and hyphens), standing after a
# space, tab, "(" or "/*" in a C source or header under core/, policies/,
# plans/, include/, vmbinding/, tests/ or tools/.
#
# A citation of a note by name ("docs/design/immix.md .immix.pin") must name
# a note that exists, and a tag right after the name must be one of that
# note's paragraphs. Section numbers of a document outside the tree
# ("design §3") are not citations: the overview is docs/design/overview.md.
#
#   check-design-tags.sh          check; list missing tags and where cited
#   check-design-tags.sh --list   print every cited tag and where
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cited=$(mktemp)
defined=$(mktemp)
trap 'rm -f "$cited" "$defined"' EXIT

find core policies plans include vmbinding tests tools -name '*.[ch]' 2>/dev/null | sort | while read -r f; do
    grep -noE '(^|[ 	(*])\.[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+' "$f" | sed 's/^\([0-9]*\):[ 	(*]*/\1 /' |
        while read -r line tag; do
            tag=${tag%-}
            echo "$tag $f:$line"
        done
done | sort >"$cited"

if [ "${1:-}" = --list ]; then
    cat "$cited"
    exit 0
fi

cat docs/design/*.md 2>/dev/null | sed -n 's/^`\(\.[a-z][a-z0-9.-]*\)`.*/\1/p' | sort -u >"$defined"

missing=0
for tag in $(cut -d' ' -f1 "$cited" | sort -u); do
    if ! grep -qxF -- "$tag" "$defined"; then
        where=$(grep "^$tag " "$cited" | cut -d' ' -f2 | tr '\n' ' ')
        echo "design tag $tag is cited in $where but no docs/design/*.md paragraph starts with \`$tag\`" >&2
        missing=1
    fi
done
sources=$(find core policies plans include vmbinding tests tools -name '*.[ch]' 2>/dev/null | sort)
# shellcheck disable=SC2086
if grep -HnE 'design §|DESIGN\.md' $sources $(ls docs/*.md docs/design/*.md 2>/dev/null) >&2; then
    echo "the lines above cite a design section by number; cite docs/design/<note>.md and a tag" >&2
    missing=1
fi
# shellcheck disable=SC2086
grep -HnoE 'docs/design/[a-z0-9-]+\.md( \.[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+)?' $sources | while IFS=: read -r f line ref; do
    note=${ref%% *}
    if [ ! -f "$note" ]; then
        echo "$f:$line cites $note, which does not exist" >&2
        echo fail
        continue
    fi
    case "$ref" in
    *" "*)
        tag=${ref#* }
        tag=${tag%-}
        if ! grep -q "^\`$tag\`" "$note"; then
            echo "$f:$line cites $tag in $note, which has no paragraph starting with \`$tag\`" >&2
            echo fail
        fi
        ;;
    esac
done | grep -q fail && missing=1
n=$(cut -d' ' -f1 "$cited" | sort -u | wc -l)
if [ $missing = 0 ]; then
    echo "all $n design tags cited in the code have a paragraph in docs/design/"
fi
exit $missing
