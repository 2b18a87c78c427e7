#!/bin/sh
# man/check.sh - check the section-3 manual pages of libnmr.
#
#   1. Coverage: every function declared with NMR_API in include/netioddk.h
#      and include/nmr/*.h, and every callback typedef NAME_FN in
#      include/netioddk.h, is documented: it is a .Nm entry in the NAME
#      section of some page in man/man3 (or a page is named after it).
#      A new extension function without a page fails here.
#   2. Every alias in man/MLINKS points at an existing page, and every
#      page's .Dt title is its file name in upper case.
#   3. Lint: "mandoc -T lint -W warning" is clean on every page.
#
# Exit status: 0 all good; 1 a check failed; 77 mandoc is not installed
# (the coverage checks, which need no mandoc, ran first and passed).
#
# Usage: man/check.sh [source-dir]     (default: the parent of man/)
set -u

src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
mandir=$src/man/man3
fail=0

if [ ! -d "$mandir" ]; then
    echo "check.sh: no $mandir" >&2
    exit 1
fi

# ---- 1. coverage -------------------------------------------------------

# Names the pages document: .Nm entries of each NAME section, plus the
# file names themselves.
documented=$(
    for page in "$mandir"/*.3; do
        basename "$page" .3
        awk '/^\.Sh[ \t]+NAME/ { inname = 1; next }
             /^\.Sh[ \t]/      { inname = 0 }
             inname && /^\.Nm[ \t]/ { print $2 }' "$page"
    done | sort -u
)

# C declarations with comments and preprocessor lines removed, one
# statement (up to ";") per line.
statements() {
    awk '
    {
        line = $0
        out = ""
        while (line != "") {
            if (incomment) {
                e = index(line, "*/")
                if (e == 0) { line = ""; break }
                line = substr(line, e + 2); incomment = 0
            } else {
                b = index(line, "/*")
                if (b == 0) { out = out line; line = ""; break }
                out = out substr(line, 1, b - 1) " "
                line = substr(line, b + 2); incomment = 1
            }
        }
        sub(/\/\/.*/, "", out)
        if (out ~ /^[ \t]*#/) next
        printf "%s ", out
    }' "$@" | tr ';' '\n'
}

# The identifier just before the first "(" of a statement.
name_before_paren() {
    sed -n 's/^\([^(]*[^A-Za-z0-9_(]\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)[ \t]*(.*/\2/p'
}

headers="$src/include/netioddk.h"
for h in "$src"/include/nmr/*.h; do
    [ -f "$h" ] && headers="$headers $h"
done

# shellcheck disable=SC2086  # $headers is a list of paths without spaces
api=$(statements $headers | grep -E '(^|[^A-Za-z0-9_])NMR_API[ \t]' |
      sed 's/.*NMR_API[ \t]*//' | name_before_paren | sort -u)
callbacks=$(statements "$src/include/netioddk.h" |
            grep -E '^[ \t]*typedef[^*]*[A-Za-z0-9_]+_FN[ \t]*\(' |
            name_before_paren | sort -u)

if [ -z "$api" ]; then
    echo "FAIL: found no NMR_API function in $headers" >&2
    fail=1
fi

nfun=0
for f in $api $callbacks; do
    nfun=$((nfun + 1))
    if ! printf '%s\n' "$documented" | grep -qx "$f"; then
        echo "FAIL: $f is declared in include/ but has no manual page" \
             "(no .Nm $f in the NAME section of any man/man3/*.3)" >&2
        fail=1
    fi
done

# ---- 2. aliases and titles --------------------------------------------

if [ -f "$src/man/MLINKS" ]; then
    while read -r page alias; do
        case $page in ''|'#'*) continue ;; esac
        if [ ! -f "$mandir/$page" ]; then
            echo "FAIL: man/MLINKS: $alias -> $page: no such page" >&2
            fail=1
        fi
        if [ -f "$mandir/$alias" ]; then
            echo "FAIL: man/MLINKS: alias $alias is also a real page" >&2
            fail=1
        fi
    done < "$src/man/MLINKS"
fi

npages=0
for page in "$mandir"/*.3; do
    npages=$((npages + 1))
    want=$(basename "$page" .3 | tr '[:lower:]' '[:upper:]')
    got=$(awk '/^\.Dt[ \t]/ { print $2; exit }' "$page")
    if [ "$got" != "$want" ]; then
        echo "FAIL: $(basename "$page"): .Dt $got, expected .Dt $want" >&2
        fail=1
    fi
done

if [ $fail -ne 0 ]; then
    echo "man/check.sh: FAILED (coverage, aliases or titles)" >&2
    exit 1
fi
echo "coverage: $nfun functions and callbacks, all documented in $npages pages"

# ---- 3. lint -----------------------------------------------------------

if ! command -v mandoc >/dev/null 2>&1; then
    echo "SKIPPED: mandoc not installed"
    exit 77
fi

for page in "$mandir"/*.3; do
    out=$(mandoc -T lint -W warning "$page" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || [ -n "$out" ]; then
        printf '%s\n' "$out" >&2
        echo "FAIL: mandoc lint: $(basename "$page") (exit $rc)" >&2
        fail=1
    fi
done

if [ $fail -ne 0 ]; then
    echo "man/check.sh: FAILED (lint)" >&2
    exit 1
fi
echo "lint: mandoc -T lint -W warning clean on $npages pages"
exit 0
