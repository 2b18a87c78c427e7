#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/model/run.sh - check the Promela model of the binding state machine
# (tests/model/binding.pml; README.md next to it says what it models).
#
#   1. exhaustive search, 1 client  x 2 providers   (must report errors: 0)
#   2. exhaustive search, 2 clients x 1 provider    (must report errors: 0)
#   3. exhaustive search, 2 clients x 2 providers   (must report errors: 0;
#      about 4.7e6 states, under 0.5 GB with -DCOLLAPSE, about 40 s)
#   4. each injected bug (BUG_NO_LATECOMER, BUG_EARLY_CLEANUP, BUG_NO_CANCEL,
#      BUG_NO_BROADCAST) must make spin report the error it causes
#   5. each reachability probe (-DPROBE=n) must be reached: the behaviours
#      the reductions of the model could hide are all in its state space
#
# A search counts as passed only if pan finished it: exit status 0,
# errors: 0, and no "Search not completed", memory bound or depth bound.
#
# Exit status: 0 all as expected, 77 skipped (spin or a C compiler missing),
# 1 anything else.  Environment: CC (default cc), MODEL_SKIP_2X2=1 skips
# step 3 (reported as skipped, never as passed), MODEL_KEEP=1 keeps the
# work directory.
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
skip_2x2=${MODEL_SKIP_2X2:-0}

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

# build NAME SPIN_DEFS CC_DEFS [OPT]: spin -a, then compile pan as ./pan-NAME
# (OPT: -O2 by default; the small searches use -O0, which compiles 8 times
# faster and runs them in milliseconds anyway)
build() {
    local name=$1 sdefs=$2 cdefs=$3 opt=${4:--O2}
    rm -f pan.c pan.h pan.b pan.m pan.p pan.t
    # shellcheck disable=SC2086
    if ! spin $sdefs -a binding.pml >"spin-$name.log" 2>&1; then
        cat "spin-$name.log"
        fail "$name: spin -a failed"
        return 1
    fi
    # shellcheck disable=SC2086
    if ! "$CC" "$opt" -w $cdefs -o "pan-$name" pan.c >"cc-$name.log" 2>&1; then
        cat "cc-$name.log"
        fail "$name: compiling pan failed"
        return 1
    fi
}

errors_of() { sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | head -n1; }

# verify NAME SPIN_DEFS CC_DEFS PAN_ARGS [OPT]: exhaustive search, must
# finish and find nothing
verify() {
    local name=$1 sdefs=$2 cdefs=$3 pargs=$4 opt=${5:--O2}
    build "$name" "$sdefs" "-DSAFETY $cdefs" "$opt" || return
    # shellcheck disable=SC2086
    "./pan-$name" $pargs >"out-$name.txt" 2>&1
    local rc=$? errs
    errs=$(errors_of "out-$name.txt")
    figures "$name" "out-$name.txt"
    if [ "$rc" -ne 0 ] || [ "${errs:-x}" != 0 ] ||
       ! grep -q '^Full statespace search' "out-$name.txt" ||
       grep -qE 'Search not completed|out of memory|MEMLIM|max search depth too small|Interrupted' \
            "out-$name.txt"; then
        grep -E '^pan|assert' "out-$name.txt" | head -n5
        [ -f binding.pml.trail ] && spin $sdefs -t binding.pml 2>&1 | grep -E 'assert|Error' | head -n3
        fail "$name: exhaustive search did not finish with errors: 0"
    else
        echo "  $name: OK (exhaustive, complete, errors: 0)"
    fi
}

# expect_bug BUG SIGNATURE : the injected bug must be found, and the error
# pan reports must be the one the bug causes (SIGNATURE, an ERE)
expect_bug() {
    local bug=$1 sig=$2 sdefs="-DCLIENTS=1 -D$1"
    local name=bug-$bug
    rm -f binding.pml.trail
    build "$name" "$sdefs" "-DSAFETY -DMEMLIM=2048" -O0 || return
    "./pan-$name" -m20000 -w20 >"out-$name.txt" 2>&1
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

# expect_probe N : reachability probe N must fail (i.e. be reached) on 1 x 2
expect_probe() {
    local n=$1 sdefs="-DCLIENTS=1 -DPROBE=$1"
    local name=probe-$n
    rm -f binding.pml.trail
    build "$name" "$sdefs" "-DSAFETY -DMEMLIM=2048" -O0 || return
    "./pan-$name" -m20000 -w20 >"out-$name.txt" 2>&1
    if grep -qE "^pan:1: assertion violated \\($n!=$n\\)" "out-$name.txt"; then
        rm -f binding.pml.trail
        return 0
    fi
    fail "probe $n: not reached (a reduction of the model hides a behaviour)"
    return 1
}

echo "spin model of the binding state machine ($(spin -V | head -n1))"
echo "exhaustive searches:"
# 1 x 2 and 2 x 1: about 5,000 states each, no compression needed
verify 1x2 "-DCLIENTS=1 -DPROVIDERS=2" "-DMEMLIM=2048" "-m20000 -w22" -O0
verify 2x1 "-DCLIENTS=2 -DPROVIDERS=1" "-DMEMLIM=2048" "-m20000 -w22" -O0
if [ "$skip_2x2" = 1 ]; then
    echo "  2x2: SKIPPED (MODEL_SKIP_2X2=1): not checked"
else
    # 2 x 2: about 4.7e6 states; -DCOLLAPSE (lossless compression) keeps
    # it under 0.5 GB, and the search is still exhaustive
    verify 2x2 "-DCLIENTS=2 -DPROVIDERS=2" "-DCOLLAPSE -DMEMLIM=4096" "-m20000 -w24"
fi
echo "injected bugs (each must be found):"
# a late-comer left ATTACHED: its deregistration's wait never returns
expect_bug BUG_NO_LATECOMER 'invalid end state'
# cleanup with one half still out: the R16 assertion at the cleanups
expect_bug BUG_EARLY_CLEANUP 'assertion violated .*half\['
# a CREATED binding of a deregistering registration offered: the R12 assertion
expect_bug BUG_NO_CANCEL 'assertion violated .*rstate\['
# the last unlink does not wake the wait: it sleeps forever
expect_bug BUG_NO_BROADCAST 'invalid end state'
echo "reachability probes (each must be reached):"
nprobes=13 reached=0
for n in $(seq 1 "$nprobes"); do
    expect_probe "$n" && reached=$((reached + 1))
done
echo "  $reached of $nprobes probes reached"

if [ "$failures" -ne 0 ]; then
    echo "model check: $failures failure(s)"
    exit 1
fi
if [ "$skip_2x2" = 1 ]; then
    echo "model check: all run checks passed; 2 x 2 was SKIPPED (not verified)"
else
    echo "model check: all passed (1x2, 2x1 and 2x2 exhaustive)"
fi
exit 0
