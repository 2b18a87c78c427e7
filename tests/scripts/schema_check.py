# SPDX-License-Identifier: MIT
"""What the JSON checkers of the tests share (validate_snapshot.py here,
tests/nmrcheck/validate_json.py): a strict reader, the schema's validator,
one document validated with every error listed, and the check that a
schema rejects broken variants of a good document (so that it is not
vacuous).  Each function that finds a fault prints it and exits 1."""
import copy
import json
import sys

import jsonschema


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def strict_load(path):
    """The document at path: strict JSON in UTF-8 (no NaN or Infinity, no
    duplicate keys), else fail."""
    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate keys {sorted(dup)}")
        return dict(pairs)

    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        return json.loads(text, parse_constant=no_constant, object_pairs_hook=no_duplicates)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(f"{path} is not a well-formed JSON document: {e}")


def load_validator(schema_path):
    """The validator of the schema at schema_path, the schema checked first."""
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    print(f"schema {schema_path}: {schema['$schema']}, checked with {cls.__name__}")
    return cls(schema)


def validate(validator, path, doc):
    """doc (read from path) validates, else every error is printed and fail."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"{path}: {'/'.join(map(str, e.path)) or '(root)'}: {e.message}",
              file=sys.stderr)
    if errors:
        fail(f"{path} does not validate ({len(errors)} errors)")


def rejects_broken(validator, base, breakers, noun):
    """Each (what, breaker) of breakers, applied to a copy of base, makes a
    document the schema rejects."""
    for what, breaker in breakers:
        doc = copy.deepcopy(base)
        breaker(doc)
        if validator.is_valid(doc):
            fail(f"the schema accepts a broken {noun}: {what}")
    print(f"ok: the schema rejects {len(breakers)} broken variants")
