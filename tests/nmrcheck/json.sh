#!/bin/sh
# SPDX-License-Identifier: MIT
# json.sh NMRCHECK SCHEMA CHECK_MODDIR MODDIR CATALOGUE BUG...
#
# What nmrcheck --json FILE writes validates against docs/nmrcheck.schema.json
# (validate_json.py, which also checks that the schema rejects broken
# reports), for:
#   - each planted bug BUG of tests/check/catalogue.txt, run as case.sh
#     runs it (--first, a fixed seed, modules in CHECK_MODDIR): exit 1 and a
#     report whose first defect is of the catalogue's kind;
#   - the --replay of the first of them: one schedule, the replayed seed;
#   - a clean run (the echo modules of MODDIR, 50 schedules): exit 0 and
#     "defects": [].
# Needs python3 and its jsonschema module (Debian: python3-jsonschema);
# skipped without them (exit 77, as script_snapshot_json).
set -u
nmrcheck=$1 schema=$2 chkdir=$3 moddir=$4 catalogue=$5
shift 5
here=${0%/*}

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 > /dev/null ||
    skip "python3 not found; install python3 and python3-jsonschema to run this test"
python3 -c 'import jsonschema' 2> /dev/null ||
    skip "the python3 module jsonschema is missing; install python3-jsonschema (or pip install jsonschema)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmrcheck-json.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run EXPECTED_STATUS OUT NMRCHECK_ARGS...: nmrcheck --json OUT.json ARGS,
# its report in OUT.txt
run() {
    want=$1 out=$2
    shift 2
    echo "+ nmrcheck --json $out.json $*"
    "$nmrcheck" --json "$out.json" "$@" > "$out.txt" 2>&1
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$out.txt" >&2
        fail "nmrcheck exited $rc ($want expected)"
    fi
    [ -f "$out.json" ] || fail "nmrcheck --json $out.json wrote no file"
}

reports=
replay=
for name in "$@"; do
    line=$(grep "^${name}[[:space:]]*|" "$catalogue" | head -n 1)
    [ -n "$line" ] || fail "$name is not in $catalogue"
    field() { printf '%s\n' "$line" | awk -F'|' -v i="$1" '{ gsub(/^[ \t]+|[ \t]+$/, "", $i); print $i }'; }
    kind=$(field 2)
    options=$(field 3)
    modules=$(field 4)
    # shellcheck disable=SC2086
    run 1 "$tmp/$name" --first --seconds 20 --seed 1 --progress=off $options -M "$chkdir" $modules
    reports="$reports $tmp/$name.json=$kind"
    if [ -z "$replay" ]; then
        replay=$(grep -m 1 '^  replay:   ' "$tmp/$name.txt" | sed 's/^  replay:   nmrcheck //')
        [ -n "$replay" ] || fail "$name: the report gives no replay command"
        seed=$(printf '%s\n' "$replay" | sed 's/^--replay \(0x[0-9a-f]*\) .*/\1/')
        echo "+ nmrcheck --json $tmp/replay.json $replay"
        eval "\"\$nmrcheck\" --json \"\$tmp/replay.json\" $replay" > "$tmp/replay.txt" 2>&1
        rc=$?
        # (0 when it did not reproduce: case.sh allows that one time in 10)
        [ "$rc" -le 1 ] || { cat "$tmp/replay.txt" >&2; fail "the replay exited $rc (0 or 1 expected)"; }
        reports="$reports $tmp/replay.json=replay:$seed"
    fi
done
run 0 "$tmp/clean" --schedules 50 --seed 1 --progress=off -M "$moddir" \
    echo_provider_v1 echo_provider_v2 echo_client:threads=0
echo "clean run's report:"
cat "$tmp/clean.json"

# shellcheck disable=SC2086
python3 "$here/validate_json.py" "$schema" $reports "$tmp/clean.json=none:50" ||
    fail "the reports do not validate against $schema"
echo "PASS: the --json reports validate against $schema"
