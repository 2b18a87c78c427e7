#!/bin/sh
# SPDX-License-Identifier: MIT
# timing.sh NMRCHECK MODDIR MODULE...
#
# --detach-timing steers when a pending detach completes (docs/nmrcheck.md,
# "Timing of pending detaches"; R14, R15).  For each of calls-first,
# as-returned and late, nmrcheck runs the modules over 300 schedules and
# counts when each completion came; the count the mode aims at must be the
# largest of the three (during the callback, as it returned, later) and,
# for calls-first and as-returned, larger than the same count under `free`
# (PCT alone, whose completions mostly come later already); under late,
# no more completions come early than under free.  The modules must complete their pending detaches from the
# calls in flight (bug_never_complete.so:fixed does).
set -u
nmrcheck=$1 moddir=$2
shift 2
fail() { echo "FAIL: $*" >&2; exit 1; }

# counts MODE: "DURING AS_RETURNED LATER" of the run's summary line
counts() {
    mode=$1
    shift
    out=$("$nmrcheck" --schedules 300 --seed 7 --progress=off --detach-timing "$mode" \
          -M "$moddir" "$@" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] || { printf '%s\n' "$out" >&2; fail "--detach-timing $mode: exit $rc"; }
    line=$(printf '%s\n' "$out" | grep '^nmrcheck: [0-9]* pending detach')
    [ -n "$line" ] || { printf '%s\n' "$out" >&2; fail "--detach-timing $mode: no count line"; }
    echo "$mode: $line" >&2
    printf '%s\n' "$line" | sed -n 's/.*, \([0-9]*\) from another thread while the callback ran, \([0-9]*\) from another thread as the callback returned (R15), \([0-9]*\) later by the detaching thread, \([0-9]*\) later by another thread$/\1 \2 \3 \4/p' |
        awk '{ print $1, $2, $3 + $4 }'
}

mods="$*"
# shellcheck disable=SC2086
free=$(counts free $mods) || exit 1
# shellcheck disable=SC2086
calls=$(counts calls-first $mods) || exit 1
# shellcheck disable=SC2086
ret=$(counts as-returned $mods) || exit 1
# shellcheck disable=SC2086
late=$(counts late $mods) || exit 1
[ -n "$free" ] && [ -n "$calls" ] && [ -n "$ret" ] && [ -n "$late" ] ||
    fail "a count line did not parse"

# aims VALUES INDEX BASELINE NAME: field INDEX of VALUES is the largest and
# above field INDEX of BASELINE
aims() {
    echo "$1" | awk -v i="$2" -v base="$3" -v name="$4" '{
        for (k = 1; k <= 3; k++) if (k != i && $k >= $i) { print "FAIL: " name ": " $0 " (field " i " is not the largest)"; exit 1 }
        split(base, b, " ")
        if (i < 3 && $i <= b[i]) { print "FAIL: " name ": " $i " is not above " b[i] " under free"; exit 1 }
        if (i == 3 && $1 + $2 > b[1] + b[2]) { print "FAIL: " name ": " $1 + $2 " early completions, more than " b[1] + b[2] " under free"; exit 1 }
    }' >&2
}
aims "$calls" 1 "$free" calls-first || exit 1
aims "$ret" 2 "$free" as-returned || exit 1
aims "$late" 3 "$free" late || exit 1
echo "each mode gets the timing it aims at (during, as returned, later):"
echo "  free $free; calls-first $calls; as-returned $ret; late $late"
