#!/usr/bin/env python3
"""Fails when a function in crates/nonstop/src (tests left out) is longer than LIMIT lines,
and prints the longest ones either way, so the next engineer sees where reading gets hard.

Test suites compiled into the library (journal/conformance/, run by every backend's tests)
are tests too and are left out. A function is counted from its `fn` line to the line that closes its body, doc comments and
attributes not included; closures and nested items count toward the function around them.
"""
import pathlib
import re
import sys

LIMIT = 120
SHOWN = 8

root = pathlib.Path(__file__).resolve().parent.parent / "crates" / "nonstop" / "src"
FN = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def strip(line):
    """The line without its comment and without string and char literals, for brace counts."""
    line = re.sub(r'r#*"[^"]*"#*', '""', line)
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    return re.sub(r"//.*$", "", line)


def functions(path):
    lines = path.read_text().splitlines()
    found = []
    i = 0
    while i < len(lines):
        if re.match(r"^\s*#\[cfg\(test\)\]", lines[i]):
            break  # test modules sit at the end of a file
        match = FN.match(lines[i])
        if not match:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            code = strip(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body (a trait's method)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            j += 1
        if opened:
            found.append((j - i + 1, match.group(1), path.relative_to(root.parent.parent.parent), i + 1))
        i = j + 1 if opened else i + 1
    return found


TEST_SUITES = ("journal/conformance/",)
every = [
    f
    for path in sorted(root.rglob("*.rs"))
    if not str(path.relative_to(root)).startswith(TEST_SUITES)
    for f in functions(path)
]
every.sort(reverse=True)
print(f"longest functions in crates/nonstop/src (limit {LIMIT} lines):")
for length, name, path, line in every[:SHOWN]:
    print(f"  {length:4} {name} ({path}:{line})")
over = [f for f in every if f[0] > LIMIT]
if over:
    for length, name, path, line in over:
        print(f"{path}:{line}: {name} is {length} lines, over {LIMIT}: split it into named steps", file=sys.stderr)
    sys.exit(1)
