#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The JSON rendering of a snapshot (nmr_snapshot_write, NMR_DUMP_JSON)
# validates against docs/snapshot.schema.json, and its cross-references
# hold: test_dump writes a known snapshot (with a binding stuck in a
# pending detach) and the empty one; validate_snapshot.py checks both, and
# checks that the schema rejects broken documents.  Needs python3 and its
# jsonschema module (Debian: python3-jsonschema); skipped without them.
source "$(dirname "$0")/lib.sh"

[[ -n "${NMR_TEST_DUMP:-}" && -n "${NMR_TEST_SNAPSHOT:-}" ]] ||
    fail "NMR_TEST_DUMP / NMR_TEST_SNAPSHOT not set: run this through ctest"
command -v python3 > /dev/null ||
    skip "python3 not found; install python3 and python3-jsonschema to run this test"
python3 -c 'import jsonschema' 2> /dev/null ||
    skip "the python3 module jsonschema is missing; install python3-jsonschema (or pip install jsonschema)"

run "$NMR_TEST_DUMP" "$TMP" > "$TMP/test_dump.log" 2>&1 ||
    { cat "$TMP/test_dump.log"; fail "test_dump failed"; }
# and a real one: the library's own snapshot of a binding stuck in a
# pending detach (test_snapshot)
run "$NMR_TEST_SNAPSHOT" "$TMP" > "$TMP/test_snapshot.log" 2>&1 ||
    { cat "$TMP/test_snapshot.log"; fail "test_snapshot failed"; }
run python3 "$SCRIPTS/validate_snapshot.py" "$NMR_SOURCE_DIR/docs/snapshot.schema.json" \
    "$TMP/snapshot.json" "$TMP/empty.json" "$TMP/live.json"
echo "PASS: the JSON snapshots validate against docs/snapshot.schema.json"
