#!/bin/sh
# SPDX-License-Identifier: MIT
# case.sh NMRCHECK MODDIR CATALOGUE NAME SECONDS REPLAYS FIXED_SCHEDULES [MIN]
#
# One planted bug of tests/check/catalogue.txt, as make check runs it:
#   1. nmrcheck finds it within SECONDS (--first, a fixed seed), and the
#      first defect is of the kind the catalogue names;
#   2. the replay command of the report reproduces it at least MIN times
#      out of REPLAYS (default REPLAYS-1; the same kind each time);
#   3. the fixed form (bug_X.so:fixed, or the driver bugdrv_X_fixed.so)
#      runs FIXED_SCHEDULES schedules with nothing found.
set -u
nmrcheck=$1 moddir=$2 catalogue=$3 name=$4 seconds=$5 replays=$6 fixed_n=$7
min=${8:-$(($6 - 1))}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmrcheck-case.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

line=$(grep "^$name[[:space:]]*|" "$catalogue" | head -n 1)
if [ -z "$line" ]; then
    echo "FAIL: $name is not in $catalogue" >&2
    exit 1
fi
field() { printf '%s\n' "$line" | awk -F'|' -v i="$1" '{ gsub(/^[ \t]+|[ \t]+$/, "", $i); print $i }'; }
kind=$(field 2)
options=$(field 3)
modules=$(field 4)

# 1. found within the budget
start=$(date +%s)
# shellcheck disable=SC2086
"$nmrcheck" --first --seconds "$seconds" --seed 1 --progress=off $options -M "$moddir" \
    $modules >"$tmp/found.txt" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ "$rc" -ne 1 ]; then
    echo "FAIL: $name: nmrcheck exited $rc (1 expected: a defect) after $took s" >&2
    cat "$tmp/found.txt" >&2
    exit 1
fi
first=$(grep -m 1 '^DEFECT 1: ' "$tmp/found.txt")
case "$first" in
"DEFECT 1: $kind: "*) ;;
*)
    echo "FAIL: $name: the first defect is not of kind $kind:" >&2
    cat "$tmp/found.txt" >&2
    exit 1
    ;;
esac
summary=$(grep -m 1 '^nmrcheck: [0-9]* schedules' "$tmp/found.txt")
echo "found: $first"
echo "  ($summary; $took s)"

# 2. the replay reproduces it
cmd=$(grep -m 1 '^  replay:   ' "$tmp/found.txt" | sed 's/^  replay:   nmrcheck //')
if [ -z "$cmd" ]; then
    echo "FAIL: $name: the report gives no replay command" >&2
    exit 1
fi
ok=0 i=0
while [ "$i" -lt "$replays" ]; do
    i=$((i + 1))
    eval "\"\$nmrcheck\" $cmd" >"$tmp/replay.txt" 2>&1
    if grep -q '^nmrcheck: replay of .*: the defect reproduced' "$tmp/replay.txt" &&
       grep -q "^DEFECT 1: $kind: " "$tmp/replay.txt"; then
        ok=$((ok + 1))
    fi
done
echo "replay: reproduced $ok of $replays times"
if [ "$ok" -lt "$min" ]; then
    echo "FAIL: $name: the replay reproduced the defect $ok times out of $replays" >&2
    cat "$tmp/replay.txt" >&2
    exit 1
fi

# 3. the fixed form is clean
fixed=
for m in $modules; do
    base=${m%%:*}
    case "$base" in
    bugdrv_*) m="${base%.so}_fixed.so" ;;
    bug_*)
        case "$m" in
        *:*) m="$m,fixed" ;;
        *) m="$m:fixed" ;;
        esac
        ;;
    esac
    fixed="$fixed $m"
done
# shellcheck disable=SC2086
# (a longer hang budget than the search's: a loaded machine running a
# sanitizer build must not pass for a hang)
"$nmrcheck" --schedules "$fixed_n" --seed 2 --progress=off $options --hang-ms 4000 \
    -M "$moddir" $fixed \
    >"$tmp/fixed.txt" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: $name: the fixed form ($fixed ) is reported (exit $rc):" >&2
    cat "$tmp/fixed.txt" >&2
    exit 1
fi
echo "fixed:$fixed: $(grep -m 1 '^nmrcheck: [0-9]* schedules' "$tmp/fixed.txt")"
exit 0
