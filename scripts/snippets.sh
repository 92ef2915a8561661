#!/bin/sh
# Code snippets in the guides are copied from source files, never retyped.
#
# In a source file a snippet is the lines between two marker lines
# (any comment style):      /* [snippet:NAME] */ ... /* [/snippet] */
# In a Markdown file it is pulled in with
#     <!-- snippet: path/from/top/of/tree NAME -->
#     ```c
#     (the snippet, rewritten by this script)
#     ```
#     <!-- /snippet -->
#
#   snippets.sh update [FILE.md...]   rewrite the snippet blocks from the sources
#   snippets.sh check  [FILE.md...]   fail if a snippet is missing or out of date
# Without files: every docs/*.md and docs/*/*.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
case "$mode" in
update | check) shift ;;
*)
    echo "usage: snippets.sh update|check [FILE.md...]" >&2
    exit 2
    ;;
esac
[ $# -gt 0 ] || set -- "$root"/docs/*.md "$root"/docs/*/*.md

status=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for md in "$@"; do
    [ -f "$md" ] || continue
    if ! awk -v root="$root" -v md="$md" '
    function lang(path) {
        if (path ~ /\.[ch]$/) return "c"
        if (path ~ /CMakeLists\.txt$|\.cmake$/) return "cmake"
        if (path ~ /Makefile$/) return "make"
        if (path ~ /\.sh$/) return "sh"
        return ""
    }
    # Print snippet NAME of FILE, dedented; fail when absent or ambiguous.
    function emit(file, name,    path, line, inside, found, n, i, lines, indent, m, pre) {
        path = root "/" file
        inside = 0; found = 0; n = 0
        while ((getline line < path) > 0) {
            if (index(line, "[snippet:" name "]")) {
                if (found) { printf "%s: snippet %s appears twice in %s\n", md, name, file > "/dev/stderr"; bad = 1 }
                found = 1; inside = 1; continue
            }
            if (inside && index(line, "[/snippet]")) { inside = 0; continue }
            if (inside) lines[++n] = line
        }
        close(path)
        if (!found) {
            printf "%s: no snippet \"%s\" in %s\n", md, name, file > "/dev/stderr"
            bad = 1
            return
        }
        if (inside) { printf "%s: snippet %s in %s has no [/snippet]\n", md, name, file > "/dev/stderr"; bad = 1 }
        indent = -1
        for (i = 1; i <= n; i++) {
            if (lines[i] ~ /^[ \t]*$/) continue
            match(lines[i], /^ */)
            if (indent < 0 || RLENGTH < indent) indent = RLENGTH
        }
        if (indent < 0) indent = 0
        print "```" lang(file)
        for (i = 1; i <= n; i++) print substr(lines[i], indent + 1)
        print "```"
    }
    /^<!-- snippet: [^ ]+ [^ ]+ -->$/ {
        print
        emit($3, $4)
        skipping = 1
        next
    }
    /^<!-- \/snippet -->$/ { skipping = 0; print; next }
    !skipping { print }
    END {
        if (skipping) { printf "%s: a snippet block has no <!-- /snippet -->\n", md > "/dev/stderr"; bad = 1 }
        exit bad
    }' "$md" >"$tmp"; then
        status=1
        continue
    fi
    if [ "$mode" = update ]; then
        cmp -s "$tmp" "$md" || cat "$tmp" >"$md"
    elif ! cmp -s "$tmp" "$md"; then
        echo "$md: snippets are out of date with their sources (run scripts/snippets.sh update):" >&2
        diff -u "$md" "$tmp" >&2 || true
        status=1
    fi
done
exit $status
