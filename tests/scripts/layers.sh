#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# layers.sh - the layers of src/ (src/layers.txt) hold: a file includes
# headers of its own layer and of the layers its line lists, never one of
# a layer above; the public headers of include/ follow the same order
# (each counts as the layer that implements it); tools/ uses only the
# public headers and its own; and no header includes itself, even through
# others (no circle among src/, include/ and tools/).
set -euo pipefail
root=${NMR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIPPED: python3 not found (it reads the include graph)"
    exit 77
fi
exec python3 - "$root" <<'PY'
import os, re, sys

root = sys.argv[1]
allowed, public, order = {}, {}, []
public_path, public_dir_of = {}, {}
table = os.path.join(root, "src", "layers.txt")
if not os.path.exists(table):
    sys.exit("FAIL: src/layers.txt is missing: the layers of src/ are written nowhere")
for line in open(table):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    if line.startswith("public "):
        _, name, layer = line.split()
        if name.endswith("/*"):
            # every header under include/DIR/, included by its name there
            # (the kernel-mode layer's <ntddk.h> lives in include/km/)
            d = name[:-2]
            for dp, _, ns in os.walk(os.path.join(root, "include", d)):
                for f in ns:
                    key = os.path.relpath(os.path.join(dp, f), os.path.join(root, "include", d))
                    public[key] = layer
                    public_path[key] = os.path.join("include", d, key)
                    public_dir_of[os.path.join(d, key)] = key
            continue
        public[name] = layer
        public_path[name] = os.path.join("include", name)
        continue
    layer, _, below = line.partition(":")
    allowed[layer.strip()] = set(below.split())
    order.append(layer.strip())
for layer, below in allowed.items():
    for b in below:
        if b not in allowed:
            sys.exit("FAIL: src/layers.txt: %s may include %s, which is no layer" % (layer, b))
        if order.index(b) >= order.index(layer):
            sys.exit("FAIL: src/layers.txt: %s may include %s, which is not below it" % (layer, b))

inc = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')
problems, edges, files = [], {}, 0

def includes(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = inc.match(line)
            if m:
                yield n, m.group(1), m.group(2)

def check_src(rel, layer):
    ok = allowed[layer] | {layer}
    for n, kind, name in includes(os.path.join(root, rel)):
        where = "%s:%d: %s" % (rel, n, name)
        if kind == '"':
            part = name.split("/")
            if len(part) != 2 or part[0] not in allowed:
                problems.append(where + ': write internal headers as "layer/name.h"')
                continue
            if part[0] not in ok:
                problems.append(where + ": %s is above %s (src/layers.txt)" % (part[0], layer))
            target = os.path.join("src", name)
            if not os.path.exists(os.path.join(root, target)):
                problems.append(where + ": no such header")
            edges.setdefault(rel, set()).add(target)
        elif name in public:
            if public[name] not in ok:
                problems.append(where + ": the public header of %s, above %s" % (public[name], layer))
            edges.setdefault(rel, set()).add(public_path[name])

for layer in allowed:
    d = os.path.join(root, "src", layer)
    for f in sorted(os.listdir(d)):
        if f.endswith((".c", ".h")):
            files += 1
            check_src(os.path.join("src", layer, f), layer)
for d in sorted(os.listdir(os.path.join(root, "src"))):
    p = os.path.join(root, "src", d)
    if d.endswith((".c", ".h")) or (os.path.isdir(p) and d not in allowed):
        problems.append("src/%s: outside every layer (src/layers.txt)" % d)

# include/: public headers include public headers only, in layer order.
for dirpath, _, names in os.walk(os.path.join(root, "include")):
    for f in sorted(names):
        rel = os.path.relpath(os.path.join(dirpath, f), root)
        name = os.path.relpath(rel, "include")
        name = public_dir_of.get(name, name)
        files += 1
        mine = public.get(name)
        if mine is None:
            problems.append("%s: not listed in src/layers.txt" % rel)
            continue
        for n, kind, inc_name in includes(os.path.join(root, rel)):
            where = "%s:%d: %s" % (rel, n, inc_name)
            if kind == '"':
                problems.append(where + ": a public header includes only public headers")
            elif inc_name in public:
                other = public[inc_name]
                if mine != "tools" and other != mine and other not in allowed.get(mine, ()):
                    problems.append(where + ": %s is above %s" % (other, mine))
                edges.setdefault(rel, set()).add(public_path[inc_name])

# tools/: the public headers and its own files, nothing of src/.
for dirpath, _, names in os.walk(os.path.join(root, "tools")):
    for f in sorted(names):
        if not f.endswith((".c", ".h")):
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), root)
        files += 1
        for n, kind, name in includes(os.path.join(root, rel)):
            if kind == '"':
                target = os.path.normpath(os.path.join(os.path.dirname(rel), name))
                if not os.path.exists(os.path.join(root, target)) or target.startswith("src"):
                    problems.append("%s:%d: %s: tools use the public headers and their own" % (rel, n, name))
                edges.setdefault(rel, set()).add(target)

# No circle: depth-first search over the include graph.
state = {}
def visit(node, path):
    state[node] = 1
    for nxt in sorted(edges.get(node, ())):
        if state.get(nxt) == 1:
            cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            problems.append("include circle: " + " -> ".join(cycle))
        elif nxt not in state:
            visit(nxt, path + [nxt])
    state[node] = 2
for node in sorted(edges):
    if node not in state:
        visit(node, [node])

if files < 10:
    sys.exit("FAIL: only %d files found under %s" % (files, root))
for p in problems:
    print("FAIL: " + p)
if problems:
    sys.exit(1)
print("PASS: %d files; layers %s, each including only %s" % (
    files, ", ".join(order),
    "; ".join("%s: %s" % (l, " ".join(sorted(allowed[l])) or "itself") for l in order)))
PY
