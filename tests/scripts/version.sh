#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The version of libnmr is the same everywhere a user can read it: the
# project() version CMake was configured with, `pkg-config --modversion
# nmr`, the CMake package version (find_package(nmr) -> nmr_VERSION), the
# NMR_VERSION_MAJOR/MINOR/PATCH and NMR_VERSION_STRING macros of the
# installed <nmr/version.h>, and nmr_version() of the libnmr.so the program
# loads.  Everything from a fresh install into a temporary prefix.
source "$(dirname "$0")/lib.sh"

command -v pkg-config > /dev/null ||
    skip "pkg-config not found; install pkg-config (or pkgconf) to compare its version"

prefix="$TMP/prefix"
install_into "$prefix"
libdir="$(realpath "$prefix/$NMR_LIBDIR")"
[[ -f "$prefix/include/nmr/version.h" ]] || fail "nmr/version.h was not installed"

pcdir="$libdir/pkgconfig"
pc_version=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir" pkg-config --modversion nmr)

cfg=(-S "$SCRIPTS/version" -B "$TMP/build" -DCMAKE_PREFIX_PATH="$prefix"
     -DCMAKE_C_COMPILER="$NMR_CC" -DCMAKE_BUILD_TYPE=Debug)
if [[ ${#SAN[@]} -gt 0 ]]; then
    cfg+=(-DCMAKE_C_FLAGS="${SAN[*]}" -DCMAKE_EXE_LINKER_FLAGS="${SAN[*]}")
fi
echo "+ $NMR_CMAKE ${cfg[*]}"
"$NMR_CMAKE" "${cfg[@]}" > "$TMP/configure.log" 2>&1 ||
    { cat "$TMP/configure.log"; fail "configuring the version consumer failed"; }
"$NMR_CMAKE" --build "$TMP/build" > "$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log"; fail "building the version consumer failed"; }
cmake_version=$(cat "$TMP/build/cmake_package_version.txt")

check_loads_from "$TMP/build/print_version" "$libdir"
LD_LIBRARY_PATH="$libdir" "$TMP/build/print_version" > "$TMP/printed" ||
    fail "print_version failed"
macros=$(sed -n 's/^macros //p' "$TMP/printed")
string=$(sed -n 's/^string //p' "$TMP/printed")
library=$(sed -n 's/^library //p' "$TMP/printed")

printf '  %-34s %s\n' "project() version (CMakeLists.txt)" "$NMR_VERSION" \
    "pkg-config --modversion nmr" "$pc_version" \
    "find_package(nmr): nmr_VERSION" "$cmake_version" \
    "NMR_VERSION_MAJOR.MINOR.PATCH" "$macros" \
    "NMR_VERSION_STRING" "$string" \
    "nmr_version()" "$library"

[[ "$NMR_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    fail "the project version '$NMR_VERSION' is not MAJOR.MINOR.PATCH"
bad=0
for pair in "pkg-config:$pc_version" "CMake package:$cmake_version" \
            "the macros:$macros" "NMR_VERSION_STRING:$string" \
            "nmr_version():$library"; do
    if [[ "${pair#*:}" != "$NMR_VERSION" ]]; then
        echo "FAIL: ${pair%%:*} says '${pair#*:}', the project is $NMR_VERSION" >&2
        bad=1
    fi
done
[[ $bad == 0 ]] || fail "the versions disagree"

# The installed library's soname follows the major version.
soname=$(objdump -p "$libdir/libnmr.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }' || true)
if [[ -n "$soname" ]]; then
    echo "  soname: $soname"
    [[ "$soname" == "libnmr.so.${NMR_VERSION%%.*}" ]] ||
        fail "soname $soname does not carry the major version ${NMR_VERSION%%.*}"
fi
echo "PASS: every source says $NMR_VERSION"
