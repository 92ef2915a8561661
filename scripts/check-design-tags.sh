#!/bin/sh
# Every design tag the code cites (MPS style: ".vmspace.chunks", ".fwd.race")
# must have its paragraph in a design note: a line of docs/design/*.md that
# starts with the tag in backquotes, `.vmspace.chunks`.
#
# A tag in code is a dot, a lower-case word, and one or more further
# ".word" parts (words may contain digits and hyphens), standing after a
# space, tab, "(" or "/*" in a C source or header under core/, policies/,
# plans/, include/ or vmbinding/.
#
#   check-design-tags.sh          check; list missing tags and where cited
#   check-design-tags.sh --list   print every cited tag and where
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cited=$(mktemp)
defined=$(mktemp)
trap 'rm -f "$cited" "$defined"' EXIT

find core policies plans include vmbinding -name '*.[ch]' 2>/dev/null | sort | while read -r f; do
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
n=$(cut -d' ' -f1 "$cited" | sort -u | wc -l)
if [ $missing = 0 ]; then
    echo "all $n design tags cited in the code have a paragraph in docs/design/"
fi
exit $missing
