#!/usr/bin/env python3
"""Checks the imports among the files of the workspace's crates against design.md.

1. No import cycle among files: a file that names an item of another file (`crate::a::b`,
   `super::x`, `self::y`, `use` lists with braces, paths written inline in code) depends on
   it; any strongly connected group of two or more files fails the check. A module's own
   file (`mod.rs` or `x.rs` beside `x/`) counts as one file like any other, so a child that
   uses its parent's items while the parent uses the child's is a cycle too.
2. design.md's "never" rules for crates/nonstop: the journal imports nothing of delivery,
   the transports, the bot API or the outbox; the bot API, delivery and the outbox import no
   transport; the bot API nothing of delivery, a transport nothing of the bot API.

Comments are skipped. The paths are read from text, not by the compiler, so the check is an
over-approximation: a name in a string literal that looks like a path counts too.
"""
import collections
import pathlib
import re
import sys

workspace = pathlib.Path(__file__).resolve().parent.parent

# Parts of crates/nonstop by module path (the first segment, or a whole file module).
PARTS = {
    "journal": ["journal"],
    "delivery": ["delivery", "dispatch"],
    "transport": ["transport"],
    # The testing kit (testing.rs) wires a context and an outbox as the app does: not here.
    "bot_api": ["router", "listeners", "context", "storage", "request", "handler"],
    "outbox": ["outbox"],
}
NEVER = [
    ("journal", "delivery", "the writer commits; delivery decides"),
    ("journal", "transport", "the journal knows no sockets"),
    ("journal", "bot_api", "the journal knows no handlers"),
    ("journal", "outbox", "the journal knows no answer policy"),
    ("bot_api", "transport", "the bot API knows no transport"),
    ("bot_api", "delivery", "the bot API owns its types; delivery depends on it"),
    ("transport", "bot_api", "a transport knows no listeners"),
    ("delivery", "transport", "nothing above the transport knows how an envelope came"),
    ("outbox", "transport", "answers reach a socket only through what the app injects"),
]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*$", "", line) for line in text.splitlines())


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = tree.replace(" ", "").replace("\n", "")
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                parts, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    d += c == "{"
                    d -= c == "}"
                    cur += c
                parts.append(cur)
                out = []
                for part in parts:
                    if part:
                        out.extend(expand_use(prefix + part + rest))
                return out
    return [re.sub(r"\bas\w+$", "", tree)]


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file
        for path in src.rglob("*.rs"):
            rel = path.relative_to(src).with_suffix("").parts
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (("lib",), ("main",)):
                rel = ()
            self.files[rel] = path

    def file_of(self, module):
        """The file that holds the longest existing prefix of `module`."""
        for n in range(len(module), -1, -1):
            if tuple(module[:n]) in self.files:
                return tuple(module[:n])
        return ()

    def module_of(self, path):
        for module, p in self.files.items():
            if p == path:
                return module
        raise KeyError(path)


def references(text):
    """Every path in the text that starts at `crate`, `super`, `self` or a child module the
    file declares (`mod x;`), as `self::x::…`."""
    children = re.findall(r"\bmod\s+([a-z_][a-z0-9_]*)\s*;", text)
    starts = "|".join(["crate", "super", "self"] + children)
    found = []
    for use in re.findall(r"\buse\s+([^;]+);", text, flags=re.S):
        found.extend(expand_use(use))
    found.extend(re.findall(rf"(?<![A-Za-z0-9_:])((?:{starts})(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text))
    return ["self::" + p if p.split("::")[0] in children else p for p in found]


def resolve(crate, module, path):
    """The file a path starting in `module`'s file names: the longest prefix that is a module
    with a file, followed through that file's re-exports (`pub use`) to where the item lives."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        # A file `a/b.rs` is module a::b, whose `super` is a; `a/mod.rs` is module a.
        base = list(module)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    full = base + [s for s in segs if s and s != "*"]
    target = crate.file_of(full)
    rest = full[len(target) :]
    seen = set()
    while rest and (target, rest[0]) in crate.reexports and (target, rest[0]) not in seen:
        seen.add((target, rest[0]))
        via = crate.reexports[(target, rest[0])]
        resolved = resolve(crate, target, via, ) if via else None
        if resolved is None:
            break
        target, rest = resolved, rest[1:]
    return target


def split_reexports(crate, module, text):
    """Records the file's `pub use` items (a module's table of contents, not a dependency of
    its own code) and returns the text without them."""
    def record(match):
        for path in expand_use(match.group(1)):
            last = re.split(r"::|\bas\b", path)[-1].strip()
            alias = re.search(r"\bas\s*(\w+)$", match.group(1).replace("\n", " "))
            if path.split("::")[0] in crate.children.get(module, ()):
                path = "self::" + path
            crate.reexports[(module, alias.group(1) if alias and "{" not in match.group(1) else last)] = path
        return ""

    return re.sub(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]+);", record, text, flags=re.S)


def file_edges(crate):
    edges = collections.defaultdict(set)
    texts = {}
    crate.reexports = {}
    crate.children = {}
    for module, path in crate.files.items():
        text = strip_comments(path.read_text())
        # Test modules inside a file may use their parent freely (`use super::*`).
        text = re.split(r"#\[cfg\(test\)\]\s*mod\s+tests", text)[0]
        crate.children[module] = re.findall(r"\bmod\s+([a-z_][a-z0-9_]*)\s*;", text)
        texts[module] = text
    for module in crate.files:
        texts[module] = split_reexports(crate, module, texts[module])
    for module in crate.files:
        for ref in references(texts[module]):
            target = resolve(crate, module, ref)
            if target is not None and target != module:
                edges[module].add(target)
    return edges


def cycles_of(edges):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def part_of(module):
    for part, roots in PARTS.items():
        if module and module[0] in roots:
            return part
    return None


def name(crate, module):
    return str(crate.files[module].relative_to(workspace))


sys.setrecursionlimit(10_000)
failed = False
checked = 0
for src in sorted(workspace.glob("crates/*/src")) + sorted(workspace.glob("examples/*/src")):
    crate = Crate(src)
    edges = file_edges(crate)
    checked += len(crate.files)
    for group in cycles_of(edges):
        failed = True
        print("import cycle among files:", ", ".join(name(crate, m) for m in group), file=sys.stderr)
        for a in group:
            targets = sorted(name(crate, b) for b in edges[a] & set(group))
            print(f"  {name(crate, a)} -> {', '.join(targets)}", file=sys.stderr)
    if src.parent.name != "nonstop":
        continue
    for a, targets in sorted(edges.items()):
        for b in sorted(targets):
            for never_from, never_to, why in NEVER:
                if part_of(a) == never_from and part_of(b) == never_to:
                    failed = True
                    print(
                        f"never {never_from} -> {never_to} ({why}): {name(crate, a)} imports {name(crate, b)}",
                        file=sys.stderr,
                    )
if failed:
    sys.exit(1)
print(f"imports: no cycle among {checked} files, design.md's never rules kept")
