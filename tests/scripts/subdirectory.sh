#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# add_subdirectory() users get the names of the installed package: a
# project that adds libnmr's source tree (tests/scripts/subdirectory/)
# links nmr::nmr and nmr::nmr_static, builds, and both programs run.
source "$(dirname "$0")/lib.sh"

cfg=(-S "$SCRIPTS/subdirectory" -B "$TMP/build" -DNMR_SOURCE="$NMR_SOURCE_DIR"
     -DCMAKE_C_COMPILER="$NMR_CC" -DCMAKE_BUILD_TYPE=Debug)
echo "+ $NMR_CMAKE ${cfg[*]}"
"$NMR_CMAKE" "${cfg[@]}" > "$TMP/configure.log" 2>&1 ||
    { cat "$TMP/configure.log"; fail "configuring the add_subdirectory() consumer failed"; }
echo "+ $NMR_CMAKE --build $TMP/build --target consumer_shared consumer_static"
"$NMR_CMAKE" --build "$TMP/build" -j 2 --target consumer_shared consumer_static \
    > "$TMP/build.log" 2>&1 ||
    { tail -40 "$TMP/build.log"; fail "building the add_subdirectory() consumer failed"; }

libdir=$(dirname "$(find "$TMP/build/libnmr" -name 'libnmr.so' | head -1)")
check_loads_from "$TMP/build/consumer_shared" "$libdir"
NMR_STRICT=1 LD_LIBRARY_PATH="$libdir" run "$TMP/build/consumer_shared"
if ldd "$TMP/build/consumer_static" | grep -q 'libnmr\.so'; then
    fail "consumer_static (nmr::nmr_static) loads libnmr.so"
fi
NMR_STRICT=1 run "$TMP/build/consumer_static"
echo "PASS: add_subdirectory() gives nmr::nmr and nmr::nmr_static"
