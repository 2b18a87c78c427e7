#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install libnmr into a temporary prefix, then build a C program the way
# docs/rules.md section 3 says a user does: `pkg-config --cflags/--libs nmr`.
source "$(dirname "$0")/lib.sh"

command -v pkg-config > /dev/null ||
    skip "pkg-config not found; install pkg-config (or pkgconf) to run this test"

prefix="$TMP/prefix"
install_into "$prefix"
pcdir="$prefix/$NMR_LIBDIR/pkgconfig"
[[ -f "$pcdir/nmr.pc" ]] || fail "nmr.pc was not installed into $pcdir"

# Only our prefix: a libnmr installed elsewhere on this machine must not
# make the test pass.
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir"
version=$(pkg-config --modversion nmr)
cflags=$(pkg-config --cflags nmr)
libs=$(pkg-config --libs nmr)
includedir=$(pkg-config --variable=includedir nmr)
echo "  modversion: $version"
echo "  cflags:     $cflags"
echo "  libs:       $libs"
[[ "$version" == "$NMR_VERSION" ]] ||
    fail "pkg-config --modversion nmr says $version, the project is $NMR_VERSION"
# nmr.pc must describe where it was installed, not where the build was
# configured to install (cmake --install --prefix moves it).
real_inc=$(realpath -m "$includedir")
[[ "$real_inc" == "$(realpath "$prefix")/"* ]] ||
    fail "nmr.pc says includedir=$includedir, outside the install prefix $prefix" \
         "(nmr.pc is not relocatable: derive prefix from \${pcfiledir})"
[[ -f "$real_inc/netioddk.h" && -f "$real_inc/nmr/diag.h" ]] ||
    fail "headers missing under $real_inc"

# shellcheck disable=SC2086  # pkg-config output is meant to be split
run "$NMR_CC" -std=c11 -Wall -Wextra -Werror "${SAN[@]}" $cflags \
    "$SCRIPTS/consumer/consumer.c" -o "$TMP/consumer" $libs

libdir="$(realpath "$prefix/$NMR_LIBDIR")"
check_loads_from "$TMP/consumer" "$libdir"
NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" run "$TMP/consumer"
echo "PASS"
