#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A C compiler is enough: configuring with a C++ compiler that does not
# exist (-DCMAKE_CXX_COMPILER=/nonexistent/c++, as on a machine with only
# gcc) succeeds with the test suite on, says that the C++ header test will
# be skipped, builds the library, and that test then reports itself as
# skipped, with the reason, instead of failing or passing.
source "$(dirname "$0")/lib.sh"

configure_fresh "$TMP/b" -DCMAKE_CXX_COMPILER=/nonexistent/c++ \
    -DNMR_BUILD_EXAMPLES=OFF -DNMR_BUILD_BENCH=OFF ||
    { cat "$TMP/b.configure.log"; fail "configure without a C++ compiler failed"; }
grep -i 'C++ header test will be skipped' "$TMP/b.configure.log" ||
    { cat "$TMP/b.configure.log"; fail "configure did not say the C++ header test is skipped"; }
if ls "$TMP/b"/CMakeFiles/*/CMakeCXXCompiler.cmake > /dev/null 2>&1; then
    fail "C++ was enabled although the C++ compiler does not exist"
fi

echo "+ $NMR_CMAKE --build $TMP/b --target nmr"
"$NMR_CMAKE" --build "$TMP/b" -j 2 --target nmr > "$TMP/build.log" 2>&1 ||
    { tail -30 "$TMP/build.log"; fail "the library does not build without a C++ compiler"; }

ctest_bin="$(dirname "$NMR_CMAKE")/ctest"
[[ -x "$ctest_bin" ]] || ctest_bin=ctest
echo "+ ctest -R '^script_header_cxx\$' (in $TMP/b)"
(cd "$TMP/b" && "$ctest_bin" -R '^script_header_cxx$' -V) > "$TMP/ctest.log" 2>&1 ||
    { cat "$TMP/ctest.log"; fail "ctest failed"; }
grep -E 'script_header_cxx .*Skipped' "$TMP/ctest.log" ||
    { cat "$TMP/ctest.log"; fail "script_header_cxx was not reported as skipped"; }
grep 'SKIPPED: .*nonexistent' "$TMP/ctest.log" ||
    { cat "$TMP/ctest.log"; fail "script_header_cxx did not print why it was skipped"; }
echo "PASS: no C++ compiler needed; the C++ header test says it is skipped"
