#!/bin/sh
# SPDX-License-Identifier: MIT
# usage.sh REGEX NMRCHECK [ARGS...]
#
# Bad usage, as a user meets it: nmrcheck ARGS exits with status 2 exactly
# (not 0, not 1 "a defect", not a signal or a sanitizer's status) and what
# it prints (standard output and error) has a line matching REGEX (grep
# -E) that says what is wrong.  ctest's PASS_REGULAR_EXPRESSION alone
# would ignore the status.
set -u
regex=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 2 ]; then
    echo "FAIL: exit status $rc, 2 expected (bad usage)" >&2
    exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
    echo "FAIL: no line of the output matches: $regex" >&2
    exit 1
fi
echo "PASS: exit status 2 and a line matching: $regex"
