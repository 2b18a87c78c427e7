#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The first C example of README.md is a complete program: extracted from
# between its markers (<!-- readme-example: begin/end -->), it compiles
# with -std=c11 -Wall -Wextra -Werror against a fresh install of libnmr
# found with pkg-config, runs cleanly in strict mode, and prints exactly
# the output the README shows after it (<!-- readme-example-output -->).
source "$(dirname "$0")/lib.sh"

command -v pkg-config > /dev/null ||
    skip "pkg-config not found; install pkg-config (or pkgconf) to build the README example"

readme="$NMR_SOURCE_DIR/README.md"
# block MARKER: the lines inside the ``` fence between the begin and end
# markers named MARKER.
block() {
    awk -v m="$1" '
        index($0, "<!-- " m ": begin") == 1 { on = 1; next }
        index($0, "<!-- " m ": end") == 1   { on = 0; next }
        on && /^```/ { fence = !fence; next }
        on && fence  { print }' "$readme"
}
block readme-example > "$TMP/example.c"
block readme-example-output > "$TMP/expected"
[[ -s "$TMP/example.c" ]] || fail "no code between the readme-example markers of README.md"
[[ -s "$TMP/expected" ]] || fail "no output between the readme-example-output markers of README.md"
echo "  README.md: $(wc -l < "$TMP/example.c") lines of C, $(wc -l < "$TMP/expected") lines of output"
grep -q 'int main' "$TMP/example.c" || fail "the README example has no main(): not a complete program"

prefix="$TMP/prefix"
install_into "$prefix"
pcdir="$prefix/$NMR_LIBDIR/pkgconfig"
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir"
# shellcheck disable=SC2046  # pkg-config output is meant to be split
run "$NMR_CC" -std=c11 -Wall -Wextra -Werror "${SAN[@]}" $(pkg-config --cflags nmr) \
    "$TMP/example.c" -o "$TMP/example" $(pkg-config --libs nmr)

libdir="$(realpath "$prefix/$NMR_LIBDIR")"
check_loads_from "$TMP/example" "$libdir"
echo "+ $TMP/example"
NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" "$TMP/example" > "$TMP/output" 2> "$TMP/stderr" ||
    { cat "$TMP/output" "$TMP/stderr"; fail "the README example exited with status $?"; }
sed 's/^/  | /' "$TMP/output"
if [[ -s "$TMP/stderr" ]]; then
    cat "$TMP/stderr"
    fail "the README example wrote to standard error"
fi
diff -u --label README.md --label "what it printed" "$TMP/expected" "$TMP/output" ||
    fail "the README example does not print what README.md says it prints"
echo "PASS: the README example builds with -Wall -Wextra -Werror and prints what the README shows"
