#!/usr/bin/env bash
# tests/model/run.sh - check the Promela model of the binding state machine
# (tests/model/binding.pml; README.md next to it says what it models).
#
#   1. exhaustive search, 1 client  x 2 providers   (must report errors: 0)
#   2. exhaustive search, 2 clients x 1 provider    (must report errors: 0)
#   3. 2 clients x 2 providers: the full state space is far beyond 2 GB
#      (> 2e8 states), so a bitstate (supertrace) search runs for
#      MODEL_2X2_SECONDS (default 60; 0 skips it) and must report errors: 0
#   4. each injected bug (BUG_NO_LATECOMER, BUG_EARLY_CLEANUP, BUG_NO_CANCEL,
#      BUG_NO_BROADCAST) must make spin report an error
#
# Exit status: 0 all as expected, 77 skipped (spin or a C compiler missing),
# 1 anything else.  Environment: CC (default cc), MODEL_2X2_SECONDS,
# MODEL_KEEP=1 keeps the work directory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
model=$here/binding.pml

if ! command -v spin >/dev/null 2>&1; then
    echo "SKIPPED: spin not installed"
    exit 77
fi
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "SKIPPED: no C compiler ($CC) to build spin's verifier"
    exit 77
fi
secs_2x2=${MODEL_2X2_SECONDS:-60}

work=$(mktemp -d "${TMPDIR:-/tmp}/nmr-model.XXXXXX") || exit 1
if [ "${MODEL_KEEP:-0}" = 1 ]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi
cp "$model" "$work/binding.pml" || exit 1
cd "$work" || exit 1

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# figures NAME OUTFILE: print the numbers pan reported
figures() {
    local out=$2
    local states trans depth mem time
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | head -n1)
    trans=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' "$out" | head -n1)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -n1)
    mem=$(sed -n 's/^ *\([0-9.]*\)[[:space:]]*total actual memory usage.*/\1/p' "$out" | head -n1)
    time=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$out" | head -n1)
    printf '  %-22s states stored %s, transitions %s, depth %s, memory %s MB, time %s s\n' \
        "$1" "${states:-?}" "${trans:-?}" "${depth:-?}" "${mem:-?}" "${time:-?}"
}

# build NAME SPIN_DEFS CC_DEFS: spin -a, then compile pan as ./pan-NAME
build() {
    local name=$1 sdefs=$2 cdefs=$3
    rm -f pan.c pan.h pan.b pan.m pan.p pan.t
    # shellcheck disable=SC2086
    if ! spin $sdefs -a binding.pml >"spin-$name.log" 2>&1; then
        cat "spin-$name.log"
        fail "$name: spin -a failed"
        return 1
    fi
    # shellcheck disable=SC2086
    if ! "$CC" -O2 -w $cdefs -o "pan-$name" pan.c >"cc-$name.log" 2>&1; then
        cat "cc-$name.log"
        fail "$name: compiling pan failed"
        return 1
    fi
}

errors_of() { sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | head -n1; }

# verify NAME SPIN_DEFS : exhaustive search, must find nothing
verify() {
    local name=$1 sdefs=$2
    build "$name" "$sdefs" "-DSAFETY -DMEMLIM=2048" || return
    "./pan-$name" -m20000 -w24 >"out-$name.txt" 2>&1
    local rc=$? errs
    errs=$(errors_of "out-$name.txt")
    figures "$name" "out-$name.txt"
    if [ "$rc" -ne 0 ] || [ "${errs:-x}" != 0 ] ||
       grep -qE 'Search not completed|out of memory|MEMLIM|max search depth too small' \
            "out-$name.txt"; then
        grep -E '^pan|assert' "out-$name.txt" | head -n5
        [ -f binding.pml.trail ] && spin $sdefs -t binding.pml 2>&1 | grep -E 'assert|Error' | head -n3
        fail "$name: exhaustive search did not finish with errors: 0"
    else
        echo "  $name: OK (exhaustive, errors: 0)"
    fi
}

# verify_bitstate NAME SPIN_DEFS SECONDS : supertrace for a bounded time
verify_bitstate() {
    local name=$1 sdefs=$2 secs=$3
    build "$name" "$sdefs" "-DSAFETY -DBITSTATE" || return
    timeout -s INT "$secs" "./pan-$name" -m20000 -w30 -k3 >"out-$name.txt" 2>&1
    local errs
    errs=$(errors_of "out-$name.txt")
    figures "$name" "out-$name.txt"
    if [ "${errs:-x}" != 0 ]; then
        grep -E '^pan|assert' "out-$name.txt" | head -n5
        fail "$name: bitstate search reported errors: ${errs:-none}"
    elif grep -q Interrupted "out-$name.txt"; then
        echo "  $name: OK (bitstate, partial: stopped after ${secs}s, errors: 0)"
    else
        echo "  $name: OK (bitstate search finished, errors: 0)"
    fi
}

# expect_bug BUG SIGNATURE : the injected bug must be found, and the error
# pan reports must be the one the bug causes (SIGNATURE, an ERE)
expect_bug() {
    local bug=$1 sig=$2 sdefs="-DCLIENTS=1 -D$1"
    local name=bug-$bug
    rm -f binding.pml.trail
    build "$name" "$sdefs" "-DSAFETY -DMEMLIM=2048" || return
    "./pan-$name" -m20000 -w24 >"out-$name.txt" 2>&1
    local errs what
    errs=$(errors_of "out-$name.txt")
    what=$(grep -E '^pan:1:' "out-$name.txt" | head -n1)
    if [ "${errs:-0}" -ge 1 ] 2>/dev/null && [ -f binding.pml.trail ] &&
       printf '%s\n' "$what" | grep -qE "$sig"; then
        echo "  $bug: found as expected: ${what#pan:1: }"
        # the counter-example: spin $sdefs -t -p binding.pml (MODEL_KEEP=1)
        mv binding.pml.trail "trail-$bug"
    else
        figures "$name" "out-$name.txt"
        [ -n "$what" ] && echo "  $bug: pan reported: ${what#pan:1: }"
        fail "$bug: spin did NOT find the injected bug (expected: $sig)"
    fi
}

echo "spin model of the binding state machine ($(spin -V | head -n1))"
echo "exhaustive searches:"
verify 1x2 "-DCLIENTS=1 -DPROVIDERS=2"
verify 2x1 "-DCLIENTS=2 -DPROVIDERS=1"
if [ "$secs_2x2" -gt 0 ] 2>/dev/null; then
    echo "2 clients x 2 providers (bitstate, ${secs_2x2}s):"
    verify_bitstate 2x2 "-DCLIENTS=2 -DPROVIDERS=2" "$secs_2x2"
fi
echo "injected bugs (each must be found):"
# a late-comer left ATTACHED: its deregistration's wait never returns
expect_bug BUG_NO_LATECOMER 'invalid end state'
# cleanup with one half still out: the R16 assertion in run_cleanups
expect_bug BUG_EARLY_CLEANUP 'assertion violated .*half\['
# a CREATED binding of a deregistering registration offered: the R12 assertion
expect_bug BUG_NO_CANCEL 'assertion violated .*rstate\['
# the last unlink does not wake the wait: it sleeps forever
expect_bug BUG_NO_BROADCAST 'invalid end state'

if [ "$failures" -ne 0 ]; then
    echo "model check: $failures failure(s)"
    exit 1
fi
echo "model check: all passed"
exit 0
