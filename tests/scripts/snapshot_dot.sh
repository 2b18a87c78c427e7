#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DOT rendering of a snapshot (nmr_snapshot_write, NMR_DUMP_DOT) is a
# graph Graphviz accepts: `dot -Tpng` turns the known snapshot (with a
# binding stuck in a pending detach) and the empty one into non-empty PNG
# images, without a warning.  Needs Graphviz (Debian: graphviz); skipped
# without it.
source "$(dirname "$0")/lib.sh"

[[ -n "${NMR_TEST_DUMP:-}" && -n "${NMR_TEST_SNAPSHOT:-}" ]] ||
    fail "NMR_TEST_DUMP / NMR_TEST_SNAPSHOT not set: run this through ctest"
command -v dot > /dev/null ||
    skip "dot not found; install graphviz to run this test"

run "$NMR_TEST_DUMP" "$TMP" > "$TMP/test_dump.log" 2>&1 ||
    { cat "$TMP/test_dump.log"; fail "test_dump failed"; }
run "$NMR_TEST_SNAPSHOT" "$TMP" > "$TMP/test_snapshot.log" 2>&1 ||
    { cat "$TMP/test_snapshot.log"; fail "test_snapshot failed"; }
for name in snapshot empty live; do
    run dot -Tpng "$TMP/$name.dot" -o "$TMP/$name.png" 2> "$TMP/$name.err" ||
        { cat "$TMP/$name.err"; fail "dot rejected $name.dot"; }
    if [[ -s "$TMP/$name.err" ]]; then
        cat "$TMP/$name.err"
        fail "dot warned about $name.dot"
    fi
    [[ -s "$TMP/$name.png" ]] || fail "$name.png is empty"
    magic=$(head -c 8 "$TMP/$name.png" | od -An -tx1 | tr -d ' \n')
    [[ "$magic" == 89504e470d0a1a0a ]] || fail "$name.png is not a PNG (starts with $magic)"
    echo "  $name.png: $(wc -c < "$TMP/$name.png") bytes"
done
echo "PASS: dot -Tpng renders the DOT snapshots"
