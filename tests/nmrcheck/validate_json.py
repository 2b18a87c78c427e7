#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check nmrcheck --json reports against docs/nmrcheck.schema.json.

usage: validate_json.py SCHEMA REPORT.json=EXPECT...

EXPECT is what the run should have found: a defect kind (the first
defect's), "none[:N]" (nothing found, N schedules run) or "replay:SEED"
(a --replay of SEED: one schedule, the seed SEED, its defect's too when
it reproduced).  Each report must be
strict JSON in UTF-8 (no NaN, no duplicate keys) and validate.  Beyond the
schema, checks what a schema cannot say: each defect's replay command
replays its seed, its trace's steps are consecutive, and the report says
what the run found.  Then checks the schema itself is not vacuous: broken
variants of the first report with a defect must be rejected.
Exit status 0 when all is well, 1 otherwise.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from schema_check import fail, load_validator, rejects_broken, strict_load, validate  # noqa: E402


def cross_check(name, doc, expect):
    for i, d in enumerate(doc["defects"]):
        want = f"nmrcheck --replay {d['seed']} "
        if not d["replay"].startswith(want):
            fail(f"{name}: defects[{i}]: replay {d['replay']!r} does not start with {want!r}")
        steps = [s["step"] for s in d["trace"]]
        if steps and steps != list(range(steps[0], steps[0] + len(steps))):
            fail(f"{name}: defects[{i}]: the trace's steps are not consecutive: {steps[:20]}...")
    if expect.startswith("none"):
        if doc["defects"]:
            fail(f"{name}: a clean run reports {len(doc['defects'])} defects")
        n = expect.partition(":")[2]
        if n and doc["schedules"] != int(n):
            fail(f"{name}: {doc['schedules']} schedules, {n} expected")
        return "no defect"
    if expect.startswith("replay:"):
        seed = expect.partition(":")[2]
        if doc["seed"] != seed or doc["schedules"] != 1:
            fail(f"{name}: a replay of {seed} reports seed {doc['seed']}, "
                 f"{doc['schedules']} schedules")
        if not doc["defects"]:
            return "a replay that did not reproduce"
        if doc["defects"][0]["seed"] != seed:
            fail(f"{name}: a replay of {seed} reports a defect of seed {doc['defects'][0]['seed']}")
    elif not doc["defects"]:
        fail(f"{name}: no defect reported ({expect} expected)")
    elif doc["defects"][0]["kind"] != expect:
        fail(f"{name}: the first defect is a {doc['defects'][0]['kind']}, not a {expect}")
    d = doc["defects"][0]
    return f"{d['kind']}, {len(d['trace'])} trace steps"


def main():
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        fail(__doc__)
    validator = load_validator(sys.argv[1])

    docs = []
    for arg in sys.argv[2:]:
        path, _, expect = arg.rpartition("=")
        doc = strict_load(path)
        validate(validator, path, doc)
        what = cross_check(path, doc, expect)
        print(f"ok: {path} ({doc['schedules']} schedules, {what})")
        docs.append(doc)

    # The schema must reject broken reports.
    base = next((d for d in docs if d["defects"] and d["defects"][0]["trace"]), None)
    if base is None:
        fail("no report with a defect and a trace to mutate")
    d0 = lambda d: d["defects"][0]
    s0 = lambda d: d["defects"][0]["trace"][0]
    breakers = [
        ("unknown top-level key", lambda d: d.update(extra=1)),
        ("missing defects", lambda d: d.pop("defects")),
        ("missing seed", lambda d: d.pop("seed")),
        ("another tool", lambda d: d.update(tool="nmrhost")),
        ("seed as a number", lambda d: d.update(seed=1)),
        ("seed not 16 digits", lambda d: d.update(seed="0x1")),
        ("seed in upper case", lambda d: d.update(seed="0x00000000000000AB")),
        ("no modules", lambda d: d.update(modules=[])),
        ("schedules negative", lambda d: d.update(schedules=-1)),
        ("schedules as a string", lambda d: d.update(schedules="4")),
        ("seconds as a string", lambda d: d.update(seconds="0.1")),
        ("missing pending_detaches", lambda d: d.pop("pending_detaches")),
        ("pending detaches negative", lambda d: d["pending_detaches"].update(as_returned=-1)),
        ("unknown pending detach key", lambda d: d["pending_detaches"].update(never=0)),
        ("kind none", lambda d: d0(d).update(kind="none")),
        ("unknown kind", lambda d: d0(d).update(kind="leak")),
        ("defect without replay", lambda d: d0(d).pop("replay")),
        ("defect without trace", lambda d: d0(d).pop("trace")),
        ("detail null", lambda d: d0(d).update(detail=None)),
        ("occurrences 0", lambda d: d0(d).update(occurrences=0)),
        ("unknown defect key", lambda d: d0(d).update(output="")),
        ("replay of another tool", lambda d: d0(d).update(replay="nmrhost --replay")),
        ("thread -2", lambda d: s0(d).update(thread=-2)),
        ("switch not boolean", lambda d: s0(d).update(switch=0)),
        ("step without event", lambda d: s0(d).pop("event")),
        ("unknown step key", lambda d: s0(d).update(wake=False)),
    ]
    rejects_broken(validator, base, breakers, "report")

if __name__ == "__main__":
    main()
