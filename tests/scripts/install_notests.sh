#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README recipe that installs the library without building the test
# suite (between <!-- install-recipe: begin/end --> in README.md), run as
# written, with only the build directory and the prefix moved into a
# scratch directory: it must build no test program and install the
# library, its headers (the generated nmr/version.h too), the pkg-config
# file, the CMake package and the manual pages.
source "$(dirname "$0")/lib.sh"

readme="$NMR_SOURCE_DIR/README.md"
awk 'index($0, "<!-- install-recipe: begin") == 1 { on = 1; next }
     index($0, "<!-- install-recipe: end") == 1   { on = 0; next }
     on && /^```/ { fence = !fence; next }
     on && fence  { print }' "$readme" > "$TMP/recipe.sh"
[[ -s "$TMP/recipe.sh" ]] || fail "no recipe between the install-recipe markers of README.md"
grep -q -- '-DNMR_BUILD_TESTS=OFF' "$TMP/recipe.sh" ||
    fail "the README recipe does not turn NMR_BUILD_TESTS off"
grep -q -- '-DCMAKE_INSTALL_PREFIX=/usr/local' "$TMP/recipe.sh" ||
    fail "the README recipe does not install into -DCMAKE_INSTALL_PREFIX=/usr/local (the test moves that prefix)"

build="$TMP/build-lib" prefix="$TMP/prefix"
# The same commands, with this build's cmake and C compiler, build-lib and
# /usr/local moved into $TMP.
sed -e "s|build-lib|$build|g" -e "s|/usr/local|$prefix|g" \
    -e "s|^cmake -S |\"\$NMR_CMAKE\" -DCMAKE_C_COMPILER=\"\$NMR_CC\" -S |" \
    -e "s|^cmake |\"\$NMR_CMAKE\" |" "$TMP/recipe.sh" > "$TMP/run.sh"
echo "recipe, as run:"
sed 's/^/  /' "$TMP/run.sh"
(cd "$NMR_SOURCE_DIR" && NMR_CMAKE="$NMR_CMAKE" NMR_CC="$NMR_CC" bash -euo pipefail "$TMP/run.sh") \
    > "$TMP/recipe.log" 2>&1 ||
    { tail -40 "$TMP/recipe.log"; fail "the README install recipe failed"; }

# Nothing of the test suite was built or registered.
tests_built=$(find "$build" -type f -name 'test_*' -perm -u+x | head -5)
[[ -z "$tests_built" ]] || fail "the recipe built test programs: $tests_built"
[[ ! -d "$build/tests" ]] || fail "the recipe configured tests/ ($build/tests exists)"
[[ ! -e "$build/bench/nmrbench" ]] || fail "the recipe built the benchmarks"
grep -q '^NMR_BUILD_TESTS:BOOL=OFF' "$build/CMakeCache.txt" ||
    fail "NMR_BUILD_TESTS is not OFF in the recipe's build"

# What a user of the library needs is installed.
missing=0
for f in "$NMR_LIBDIR/libnmr.so" "$NMR_LIBDIR/libnmr.a" include/netioddk.h \
         include/nmr/diag.h include/nmr/version.h "$NMR_LIBDIR/pkgconfig/nmr.pc" \
         "$NMR_LIBDIR/cmake/nmr/nmrConfig.cmake" \
         "$NMR_LIBDIR/cmake/nmr/nmrConfigVersion.cmake" \
         share/man/man3/NmrRegisterClient.3 share/doc/nmr/CHANGELOG.md; do
    if [[ -e "$prefix/$f" ]]; then
        echo "  installed: $f"
    else
        echo "FAIL: not installed: $f" >&2
        missing=1
    fi
done
[[ $missing == 0 ]] || fail "the recipe did not install everything"
echo "PASS: the README recipe installs the library without building the test suite"
