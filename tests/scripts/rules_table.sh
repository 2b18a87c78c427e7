#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rules_table.sh - regenerate the "Status of the rules" table of README.md
# from the tests: a file counts for rule Rn when it names Rn (tests/test_*.c,
# tests/scripts/*.sh), and the files that include tests/lib/rule_test.h count
# for the rules that header's end-of-case check names.  Not a test itself.
# Usage: tests/scripts/rules_table.sh   (rewrites README.md in place)
set -euo pipefail
cd "$(dirname "$0")/../.."

titles=(""
"registration validates input" "out of memory leaves no trace"
"caller owns characteristics; peer sees own instance"
"match by NPI ID value" "insert + match scan atomic"
"each pair offered at most once"
"offer on registering thread, handle set first"
"NmrClientAttachProvider only inside the offer"
"retry attach within one offer" "attach outcomes"
"late-comers detached at once" "deregister returns PENDING, never blocks"
"detach callbacks once each, client first"
"detach returns SUCCESS or PENDING" "early DetachComplete accepted"
"cleanups once, after both halves" "other side stays registered"
"wait returns when all is over" "wait before deregister / bad handle"
"wait from own callback: POSSIBLE_DEADLOCK"
"second deregister: INVALID_DEVICE_STATE"
"no lock held in callbacks; re-entry" "per-binding callback order"
"no threads of its own" "thread-safe; no global lock" "handles validated"
"handle lifetime" "dead handle never confused"
"DetachComplete when not pending: misuse"
"misuse channel: stderr, hook, counter, strict" "everything freed"
"allocate before the first callback" "no initialisation call")

table=$(
    echo "| rule | what | test files |"
    echo "|---|---|---|"
    for n in $(seq 1 33); do
        files=$(cd tests && {
            # rule_refs.sh cites rule numbers as examples, not as tests
            grep -lwE "R$n" test_*.c $(ls scripts/*.sh | grep -v rule_refs) \
                2>/dev/null || true
            if grep -qwE "R$n" lib/rule_test.h lib/rule_test.c 2>/dev/null; then
                grep -l '#include "rule_test.h"' test_*.c || true
            fi
        } | sort -u | sed 's/^/`/; s/$/`/' | paste -sd, - | sed 's/,/, /g')
        echo "| R$n | ${titles[$n]} | ${files:-**no test yet**} |"
    done
)
TABLE="$table" perl -0pi -e \
    's/\| rule \| what \| test files \|\n(?:\|.*\|\n)+/$ENV{TABLE}\n/' README.md
echo "README.md: table regenerated"
