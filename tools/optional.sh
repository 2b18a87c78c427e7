#!/bin/sh
# Run one optional test layer if its tool is present; otherwise say plainly
# that it was skipped and why.  A skipped layer is never reported as passed.
#   tools/optional.sh NAME "CHECK COMMAND" "WHAT IS MISSING" CMD...
name=$1; probe=$2; missing=$3; shift 3
if ! sh -c "$probe" >/dev/null 2>&1; then
    echo "== $name: SKIPPED ($missing is not installed; .ci/run installs it)"
    exit 0
fi
echo "== $name"
"$@" || { echo "== $name: FAILED"; exit 1; }
echo "== $name: passed"
