#!/usr/bin/env python3
"""Fails when the top-level modules of crates/nonstop/src import each other in a cycle.

design.md asks for no import cycles: a transport knows nothing of the router or the
journal, the journal nothing of sockets or handlers. This reads every `crate::<module>` path
in the crate's source (comments skipped) and reports any strongly connected group.
"""
import collections
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "crates" / "nonstop" / "src"
edges = collections.defaultdict(set)
for path in root.rglob("*.rs"):
    module = path.relative_to(root).parts[0].removesuffix(".rs")
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("//"):
            continue
        for used in re.findall(r"crate::([a-z_]+)", line):
            if used != module:
                edges[module].add(used)

index, low, stack, on_stack, cycles = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges.get(v, ())):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            cycles.append(sorted(group))


sys.setrecursionlimit(10_000)
for v in sorted(edges):
    if v not in index:
        visit(v)
if cycles:
    for group in cycles:
        print("import cycle among modules of crates/nonstop:", ", ".join(group), file=sys.stderr)
        for a in group:
            print(f"  {a} -> {', '.join(sorted(edges[a] & set(group)))}", file=sys.stderr)
    sys.exit(1)
print(f"module imports: no cycles among {len(edges)} modules of crates/nonstop")
