#!/bin/sh
# SPDX-License-Identifier: MIT
# man/check.sh - check the section-3 manual pages of libnmr.
#
#   1. Coverage: every function declared with NMR_API in a public header
#      (include/netioddk.h, include/nmr/*.h, and the templates of the
#      headers CMake generates, cmake/*.h.in: nmr/version.h), and every
#      callback typedef NAME_FN in include/netioddk.h, is documented: it
#      is a .Nm entry in the NAME section of some page in man/man3.  A new
#      extension function without a page fails here.
#   2. `man NAME` finds every name a page documents: each .Nm of a NAME
#      section (so each function and callback above) is a page of its own
#      or an alias in man/MLINKS.  Every alias in man/MLINKS points at an
#      existing page, and every page's .Dt title is its file name in upper
#      case.
#   3. Lint: "mandoc -T lint -W warning" and "groff -man -ww -z" (for
#      print, groff's default device, and for a terminal, -Tutf8) print
#      nothing for any page: a warning of either fails the check.
#
# Exit status: 0 all good; 1 a check failed; 77 mandoc or groff is not
# installed (the checks that need neither, and the lint by the one that is
# there, ran first and passed).
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
for h in "$src"/include/nmr/*.h "$src"/cmake/*.h.in; do
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

# ---- 2. man NAME, aliases and titles ----------------------------------

# Names `man` finds: the pages and the aliases man/MLINKS installs.
reachable=$(
    for page in "$mandir"/*.3; do basename "$page" .3; done
    if [ -f "$src/man/MLINKS" ]; then
        awk '!/^#/ && NF >= 2 { sub(/\.3$/, "", $2); print $2 }' "$src/man/MLINKS"
    fi
)
for page in "$mandir"/*.3; do
    names=$(awk '/^\.Sh[ \t]+NAME/ { inname = 1; next }
                 /^\.Sh[ \t]/      { inname = 0 }
                 inname && /^\.Nm[ \t]/ { print $2 }' "$page")
    for n in $names; do
        if ! printf '%s\n' "$reachable" | grep -qx "$n"; then
            echo "FAIL: man $n finds nothing: $(basename "$page") documents it" \
                 "(.Nm $n) but there is no $n.3 page or man/MLINKS alias" >&2
            fail=1
        fi
    done
done


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

# Every public header is the .In of some page's SYNOPSIS.
for h in $headers; do
    case $h in
        */include/netioddk.h) inc=netioddk.h ;;
        */include/nmr/*.h) inc=nmr/$(basename "$h") ;;
        */cmake/*.h.in) inc=nmr/$(basename "$h" .in) ;;
        *) continue ;;
    esac
    if ! grep -qx "\.In $inc" "$mandir"/*.3; then
        echo "FAIL: <$inc> has no manual page (no .In $inc in any man/man3/*.3)" >&2
        fail=1
    fi
done

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

missing=""
if command -v mandoc >/dev/null 2>&1; then
    for page in "$mandir"/*.3; do
        out=$(mandoc -T lint -W warning "$page" 2>&1)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$out" ]; then
            printf '%s\n' "$out" >&2
            echo "FAIL: mandoc lint: $(basename "$page") (exit $rc)" >&2
            fail=1
        fi
    done
    [ $fail -eq 0 ] && echo "lint: mandoc -T lint -W warning clean on $npages pages"
else
    missing="mandoc"
fi

if command -v groff >/dev/null 2>&1; then
    gfail=0
    for page in "$mandir"/*.3; do
        for dev in "" -Tutf8; do
            # shellcheck disable=SC2086  # $dev is empty or one word
            out=$(groff -man $dev -ww -z "$page" 2>&1)
            rc=$?
            if [ $rc -ne 0 ] || [ -n "$out" ]; then
                printf '%s\n' "$out" >&2
                echo "FAIL: groff -man ${dev:+$dev }-ww: $(basename "$page") warns (exit $rc)" >&2
                gfail=1
            fi
        done
    done
    if [ $gfail -eq 0 ]; then
        echo "lint: groff -man -ww clean on $npages pages (print and -Tutf8)"
    fi
    [ $gfail -eq 0 ] || fail=1
else
    missing="${missing:+$missing and }groff"
fi

if [ $fail -ne 0 ]; then
    echo "man/check.sh: FAILED (lint)" >&2
    exit 1
fi
if [ -n "$missing" ]; then
    echo "SKIPPED: $missing not installed (Debian: mandoc, groff-base): that lint did not run"
    exit 77
fi
exit 0
