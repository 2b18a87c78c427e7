#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/host/run.sh - run one nmrhost script as a test.
#
#   run.sh NMRHOST MODULE_DIR SCRIPT
#
# The script's own header says what to expect:
#   # options: ARGS          extra nmrhost options (default: none)
#   # expect-status: N       nmrhost's exit status (default 0)
#   # expect-output: REGEX   a line of the output matches (grep -E); any number
#   # reject-output: REGEX   no line of the output matches
# nmrhost always runs with -e (stop at the first unexpected failure) unless
# the expected status is not 0, and with --progress=off.
set -u
host=$1 moddir=$2 script=$3
out=${TMPDIR:-/tmp}/nmrhost-test.$$
trap 'rm -f "$out"' EXIT

opts=$(sed -n 's/^# options: //p' "$script")
status=$(sed -n 's/^# expect-status: //p' "$script")
status=${status:-0}
errexit=-e
[ "$status" -ne 0 ] && errexit=
export NMRHOST_TEST_SCRIPT="$script"

# shellcheck disable=SC2086  # opts is a list of words
"$host" -M "$moddir" --progress=off $errexit $opts "$script" >"$out" 2>&1
rc=$?
cat "$out"
fail=0
if [ "$rc" -ne "$status" ]; then
    echo "run.sh: FAIL: nmrhost exited with $rc, expected $status"
    fail=1
fi
sed -n 's/^# expect-output: //p' "$script" | while IFS= read -r re; do
    if ! grep -Eq -- "$re" "$out"; then
        echo "run.sh: FAIL: no output line matches: $re"
        exit 1
    fi
done || fail=1
sed -n 's/^# reject-output: //p' "$script" | while IFS= read -r re; do
    if grep -Eq -- "$re" "$out"; then
        echo "run.sh: FAIL: an output line matches: $re"
        exit 1
    fi
done || fail=1
[ "$fail" -eq 0 ] && echo "run.sh: PASS"
exit "$fail"
