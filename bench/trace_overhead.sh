#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/trace_overhead.sh - what the event sites cost when nobody listens.
#
# Runs `nmrbench --core` (W1 and W2, nothing else registered) on the real
# library and on the same program built on a library whose event sites are
# compiled out (nmrbench_notrace), alternately ROUNDS times so that both
# see the same machine, and prints the median of each figure and the ratio
# traced / untraced.  The traced program also runs a second time in each
# round: the ratio of its two medians is the noise of the measurement, the
# yardstick for "no measurable difference".
#
# Usage: bench/trace_overhead.sh BUILD_DIR [ROUNDS]   (default 7 rounds)
set -eu
build=$1
rounds=${2:-7}
traced=$build/bench/nmrbench
plain=$build/bench/nmrbench_notrace
for b in "$traced" "$plain"; do
    [ -x "$b" ] || { echo "trace_overhead: $b not built" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
i=0
while [ "$i" -lt "$rounds" ]; do
    "$traced" --core | sed -n 's/^BENCH \([a-z0-9_]*\) \([0-9.]*\) .*/traced \1 \2/p' >>"$out"
    "$plain" --core | sed -n 's/^BENCH \([a-z0-9_]*\) \([0-9.]*\) .*/plain \1 \2/p' >>"$out"
    "$traced" --core | sed -n 's/^BENCH \([a-z0-9_]*\) \([0-9.]*\) .*/again \1 \2/p' >>"$out"
    i=$((i + 1))
done
median() { # KIND NAME
    awk -v k="$1" -v n="$2" '$1 == k && $2 == n { print $3 }' "$out" | sort -g |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo "tracing sites, no hook installed: medians of $rounds alternating runs"
for name in w1_lone_cycle_0 w2_bind_cycle_0; do
    t=$(median traced "$name")
    a=$(median again "$name")
    p=$(median plain "$name")
    r=$(awk -v t="$t" -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", (t + a) / 2 / p }')
    n=$(awk -v t="$t" -v a="$a" 'BEGIN { printf "%.3f", t / a }')
    printf '  %-16s traced %7s / %7s ns  compiled out %7s ns  ratio %s  (traced/traced: %s)\n' \
        "$name" "$t" "$a" "$p" "$r" "$n"
    echo "BENCH trace_sites_ratio_$name $r x"
    echo "BENCH trace_sites_noise_$name $n x"
done
