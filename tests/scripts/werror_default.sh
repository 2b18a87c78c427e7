#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# -Werror is the project's own choice, not the user's: NMR_WERROR is OFF
# in a fresh configure, so a warning that a user's flags bring (here a
# forced #warning in every translation unit) does not break the build; ON
# makes the same warning an error.  And `make check` turns it on: every
# CMake configure `make -n check` would run passes -DNMR_WERROR=ON.
source "$(dirname "$0")/lib.sh"

# A warning in every file compiled, as a user's own flags could bring.
printf '#warning "a warning from the user'"'"'s flags"\n' > "$TMP/warn.h"
flags=(-DCMAKE_C_FLAGS="-include $TMP/warn.h" -DNMR_BUILD_TESTS=OFF
       -DNMR_BUILD_EXAMPLES=OFF -DNMR_BUILD_BENCH=OFF)

configure_fresh "$TMP/b" "${flags[@]}" ||
    { cat "$TMP/b.configure.log"; fail "configure failed"; }
werror=$(sed -n 's/^NMR_WERROR:BOOL=//p' "$TMP/b/CMakeCache.txt")
echo "  NMR_WERROR in a fresh configure: ${werror:-(unset)}"
[[ "$werror" == OFF ]] || fail "NMR_WERROR defaults to '$werror', not OFF"

echo "+ $NMR_CMAKE --build $TMP/b --target nmr nmr_static"
"$NMR_CMAKE" --build "$TMP/b" -j 2 --target nmr nmr_static > "$TMP/build-off.log" 2>&1 ||
    { tail -30 "$TMP/build-off.log"; fail "a warning broke the default build (NMR_WERROR off)"; }
grep -q "a warning from the user's flags" "$TMP/build-off.log" ||
    fail "the injected warning was not seen: the test proves nothing"
echo "  default build: warnings shown, library built"

"$NMR_CMAKE" -DNMR_WERROR=ON "$TMP/b" > "$TMP/b.reconfigure.log" 2>&1 ||
    { cat "$TMP/b.reconfigure.log"; fail "reconfigure with NMR_WERROR=ON failed"; }
echo "+ $NMR_CMAKE --build $TMP/b --target nmr (NMR_WERROR=ON)"
if "$NMR_CMAKE" --build "$TMP/b" -j 2 --target nmr > "$TMP/build-on.log" 2>&1; then
    fail "with NMR_WERROR=ON the warning did not stop the build"
fi
grep -q -- "-Werror" "$TMP/build-on.log" ||
    { tail -20 "$TMP/build-on.log"; fail "the NMR_WERROR=ON build failed, but not on -Werror"; }
echo "  NMR_WERROR=ON: the same warning is an error"

# make check configures every build with -DNMR_WERROR=ON.
if ! command -v make > /dev/null; then
    echo "note: make not found: the Makefile's configure lines are not checked"
else
    (cd "$NMR_SOURCE_DIR" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -n --no-print-directory check BUILD="$TMP/mk" \
        ASAN_BUILD=build-asan TSAN_BUILD=build-tsan TSAN_OPT_BUILD=build-tsan-opt \
        COVERAGE_BUILD=build-coverage FUZZ_BUILD="$TMP/fuzz" \
        CMAKE="$NMR_CMAKE" FUZZ_SECONDS=1) > "$TMP/make-n.log" 2>&1 ||
        { cat "$TMP/make-n.log"; fail "make -n check failed"; }
    # One command per line: join the lines a backslash continues.
    awk '{ if (sub(/\\$/, "")) { buf = buf $0; next } print buf $0; buf = "" }' \
        "$TMP/make-n.log" | tr -s ' ' | grep -F -- "$NMR_CMAKE -S " > "$TMP/configures" || true
    n=$(wc -l < "$TMP/configures")
    echo "  make check configures $n build trees:"
    sed 's/^/    /' "$TMP/configures"
    [[ $n -ge 4 ]] || fail "make -n check shows only $n cmake configures (plain, asan, tsan, tsan-opt expected)"
    if grep -v -- '-DNMR_WERROR=ON' "$TMP/configures"; then
        fail "a configure of make check (above) does not pass -DNMR_WERROR=ON"
    fi
fi
echo "PASS: NMR_WERROR is OFF by default and make check turns it on"
