#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The closing summary of `make check` (tests/scripts/check_summary.sh)
# says what ran, what was skipped and why: on a small CTest project with a
# passing test and two skipped ones, it reports the layer with its counts
# and each skipped test with the reason it printed; an optional layer
# recorded as SKIPPED keeps its reason; a layer that stopped the run is
# FAILED, the ones after it "not run", and the verdict says so.  And
# `make check` ends with that summary.
source "$(dirname "$0")/lib.sh"

sum="$NMR_SOURCE_DIR/tests/scripts/check_summary.sh"
"$NMR_CMAKE" -S "$SCRIPTS/summary_project" -B "$TMP/p" > "$TMP/configure.log" 2>&1 ||
    { cat "$TMP/configure.log"; fail "configuring the summary project failed"; }

# A run where everything passes or is skipped.
"$sum" reset "$TMP/s"
"$sum" ctest "$TMP/s" plain "$TMP/p" > "$TMP/ctest.log" 2>&1 ||
    { cat "$TMP/ctest.log"; fail "check_summary.sh ctest failed on a passing project"; }
"$sum" ctest "$TMP/s" asan "$TMP/p" > /dev/null 2>&1 || fail "second ctest layer failed"
for l in tsan tsan-optimised fuzz coverage; do "$sum" record "$TMP/s" $l passed; done
"$sum" record "$TMP/s" model SKIPPED "spin is not installed; .ci/run installs it"
"$sum" print "$TMP/s" > "$TMP/out" || { cat "$TMP/out"; fail "print failed on a passing run"; }
cat "$TMP/out"
expect() { grep -qF -- "$1" "$TMP/out" || fail "the summary lacks: $1"; }
expect "plain           passed (3 tests, 2 skipped)"
expect "model           SKIPPED (spin is not installed; .ci/run installs it)"
expect "skips_with_reason (skipped in plain, asan): frobnicator not installed; install frob"
expect "skips_quietly (skipped in plain, asan): no widget here"
expect "make check: passed: plain, asan, tsan, tsan-optimised, fuzz, coverage; layers skipped: model; tests skipped: 2"
if grep -q 'passes (' "$TMP/out"; then fail "a passing test is listed as not run"; fi

# A run stopped by a failing layer.
"$sum" reset "$TMP/s"
"$sum" ctest "$TMP/s" plain "$TMP/p" > /dev/null 2>&1
"$sum" stopped "$TMP/s" check-asan
if "$sum" print "$TMP/s" > "$TMP/out"; then fail "print exits 0 after a failed layer"; fi
cat "$TMP/out"
expect "asan            FAILED"
expect "tsan            not run"
expect "make check: FAILED (failed: asan; not run: tsan, tsan-optimised, model, fuzz, coverage)"

# make check resets the record first and prints the summary last.
if command -v make > /dev/null; then
    (cd "$NMR_SOURCE_DIR" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -n --no-print-directory check BUILD="$TMP/mk" \
        ASAN_BUILD=build-asan TSAN_BUILD=build-tsan TSAN_OPT_BUILD=build-tsan-opt \
        COVERAGE_BUILD=build-coverage FUZZ_BUILD="$TMP/fuzz" \
        CMAKE="$NMR_CMAKE" FUZZ_SECONDS=1) > "$TMP/make-n.log" 2>&1 ||
        { cat "$TMP/make-n.log"; fail "make -n check failed"; }
    head -1 "$TMP/make-n.log" | grep -q 'check_summary.sh reset' ||
        fail "make check does not start by resetting the summary"
    grep -q 'check_summary.sh print' "$TMP/make-n.log" ||
        fail "make check does not end with the summary"
    grep -q 'build-tsan-opt.*-L threaded\|-L threaded.*build-tsan-opt' \
        <(awk '{ if (sub(/\\$/, "")) { buf = buf $0; next } print buf $0; buf = "" }' "$TMP/make-n.log") ||
        fail "make check does not run the threaded tests in build-tsan-opt"
fi
echo "PASS: the summary of make check lists every layer and every skipped test with its reason"
