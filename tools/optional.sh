#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one optional test layer if its tool is present; otherwise say plainly
# that it was skipped and why.  A skipped layer is never reported as passed.
#   tools/optional.sh NAME "CHECK COMMAND" "WHAT IS MISSING" CMD...
# With NMR_CHECK_SUMMARY set (make check), the outcome is also recorded
# there for the closing summary (tests/scripts/check_summary.sh).
name=$1; probe=$2; missing=$3; shift 3
here=$(dirname "$0")
note() {
    if [ -n "${NMR_CHECK_SUMMARY:-}" ]; then
        "$here/../tests/scripts/check_summary.sh" record "$NMR_CHECK_SUMMARY" "$name" "$@"
    fi
}
if ! sh -c "$probe" >/dev/null 2>&1; then
    echo "== $name: SKIPPED ($missing is not installed; .ci/run installs it)"
    note SKIPPED "$missing is not installed; .ci/run installs it"
    exit 0
fi
echo "== $name"
if ! "$@"; then
    echo "== $name: FAILED"
    note FAILED ""
    exit 1
fi
echo "== $name: passed"
note passed ""
