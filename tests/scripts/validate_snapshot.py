#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check libnmr JSON snapshots against docs/snapshot.schema.json.

usage: validate_snapshot.py SCHEMA SNAPSHOT.json...

Beyond the schema, checks what a schema cannot say: indices are positions,
bindings join a client and a provider of one NPI, the counts add up, and
"blocked" agrees with the halves.  Then checks the schema itself is not
vacuous: a few broken variants of the first snapshot must be rejected.
Exit status 0 when all is well, 1 otherwise.
"""
import json
import sys

from schema_check import fail, load_validator, rejects_broken, validate


def cross_check(name, doc):
    regs, binds = doc["registrations"], doc["bindings"]
    for i, r in enumerate(regs):
        if r["index"] != i:
            fail(f"{name}: registrations[{i}] has index {r['index']}")
    for i, b in enumerate(binds):
        if b["index"] != i:
            fail(f"{name}: bindings[{i}] has index {b['index']}")
        for side in ("client", "provider"):
            k = b[side]
            if k >= len(regs):
                fail(f"{name}: binding {b['handle']}: {side} {k} out of range")
            if regs[k]["role"] != side:
                fail(f"{name}: binding {b['handle']}: {side} {k} is a {regs[k]['role']}")
        if regs[b["client"]]["npi_id"] != regs[b["provider"]]["npi_id"]:
            fail(f"{name}: binding {b['handle']} joins two NPIs")
        halves = [b["halves"][s]["state"] for s in ("client", "provider")]
        blocked = any(h in ("pending", "calling") for h in halves)
        if b["blocked"] != blocked:
            fail(f"{name}: binding {b['handle']}: blocked is {b['blocked']}, halves {halves}")
    c = doc["counts"]
    want = {
        "registrations": len(regs),
        "clients": sum(r["role"] == "client" for r in regs),
        "providers": sum(r["role"] == "provider" for r in regs),
        "active": sum(r["state"] == "active" for r in regs),
        "deregistering": sum(r["state"] == "deregistering" for r in regs),
        "waiting": sum(r["state"] == "waiting" for r in regs),
        "bindings": len(binds),
        "offering": sum(b["state"] == "offering" for b in binds),
        "attached": sum(b["state"] == "attached" for b in binds),
        "detaching": sum(b["state"] == "detaching" for b in binds),
        "blocked": sum(b["blocked"] for b in binds),
    }
    if c != want:
        fail(f"{name}: counts {c}, expected {want}")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    validator = load_validator(sys.argv[1])

    docs = []
    for path in sys.argv[2:]:
        with open(path) as f:
            doc = json.load(f)
        validate(validator, path, doc)
        cross_check(path, doc)
        print(f"ok: {path} ({len(doc['registrations'])} registrations, "
              f"{len(doc['bindings'])} bindings)")
        docs.append(doc)

    # The schema must reject broken documents.
    base = next((d for d in docs if d["registrations"] and d["bindings"]), None)
    if base is None:
        fail("no snapshot with registrations and bindings to mutate")
    breakers = [
        ("schema_version 2", lambda d: d.update(schema_version=2)),
        ("unknown top-level key", lambda d: d.update(extra=1)),
        ("missing counts", lambda d: d.pop("counts")),
        ("bad role", lambda d: d["registrations"][0].update(role="server")),
        ("bad registration state", lambda d: d["registrations"][0].update(state="gone")),
        ("handle not hex", lambda d: d["registrations"][0].update(handle="65540")),
        ("GUID not in registry form",
         lambda d: d["registrations"][0].update(npi_id="11111111-2222-4e5f-8001-0203040506ab")),
        ("negative index", lambda d: d["bindings"][0].update(client=-1)),
        ("bad binding state", lambda d: d["bindings"][0].update(state="gone")),
        ("bad half state", lambda d: d["bindings"][0]["halves"]["client"].update(state="done")),
        ("blocked not boolean", lambda d: d["bindings"][0].update(blocked=1)),
        ("missing half", lambda d: d["bindings"][0]["halves"].pop("provider")),
    ]
    rejects_broken(validator, base, breakers, "snapshot")

if __name__ == "__main__":
    main()
