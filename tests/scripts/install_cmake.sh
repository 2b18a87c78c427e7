#!/usr/bin/env bash
# Install libnmr into a temporary prefix, then build a separate CMake
# project that uses find_package(nmr) and links nmr::nmr.
source "$(dirname "$0")/lib.sh"

prefix="$TMP/prefix"
install_into "$prefix"

cfg=(-S "$SCRIPTS/consumer" -B "$TMP/build"
     -DCMAKE_PREFIX_PATH="$prefix"
     -DCMAKE_C_COMPILER="$NMR_CC"
     -DCMAKE_BUILD_TYPE=Debug)
if [[ ${#SAN[@]} -gt 0 ]]; then
    cfg+=(-DCMAKE_C_FLAGS="${SAN[*]}" -DCMAKE_EXE_LINKER_FLAGS="${SAN[*]}")
fi
echo "+ $NMR_CMAKE ${cfg[*]}"
"$NMR_CMAKE" "${cfg[@]}" > "$TMP/configure.log" 2>&1 ||
    { cat "$TMP/configure.log"; fail "configuring the consumer project failed"; }

# find_package must have found the package we just installed.
nmr_dir=$(sed -n 's/^nmr_DIR:PATH=//p' "$TMP/build/CMakeCache.txt")
echo "  nmr_DIR=$nmr_dir"
[[ "$(realpath -m "$nmr_dir")" == "$(realpath "$prefix")/"* ]] ||
    fail "find_package(nmr) found $nmr_dir, not the package installed in $prefix"

echo "+ $NMR_CMAKE --build $TMP/build"
"$NMR_CMAKE" --build "$TMP/build" > "$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log"; fail "building the consumer project failed"; }

libdir="$(realpath "$prefix/$NMR_LIBDIR")"
check_loads_from "$TMP/build/consumer" "$libdir"
NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" run "$TMP/build/consumer"
echo "PASS"
