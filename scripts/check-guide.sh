#!/usr/bin/env bash
# docs/new-bot.md, as a newcomer follows it: its files (the blocks after a
# `<!-- guide-file: PATH -->` line) written into a fresh crate beside this repository, which is
# then built and tested. The guide's text is the source: a change to the API that breaks the
# guide breaks CI.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The guide's crate sits beside a clone named `nonstop`.
ln -s "$repo" "$work/nonstop"
python3 - "$repo/docs/new-bot.md" "$work/mybot" <<'PY'
import os, re, sys
guide, root = sys.argv[1], sys.argv[2]
text = open(guide).read()
files = re.findall(r"<!-- guide-file: (\S+) -->\n```[a-z]*\n(.*?)```", text, re.S)
if not files:
    sys.exit("docs/new-bot.md: no <!-- guide-file: … --> blocks found")
for path, body in files:
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as out:
        out.write(body)
    print(f"guide: wrote {path} ({body.count(chr(10))} lines)")
PY
# The workspace's lock, so the guide's crate builds with the versions CI tests (and reuses
# their compiled artifacts).
cp "$repo/Cargo.lock" "$work/mybot/Cargo.lock"
cd "$work/mybot"
# The workspace's target directory: dependencies compiled for the tests are reused.
export CARGO_TARGET_DIR="$repo/target"
cargo build
cargo test
# The binary has the operator's subcommands, and its manifest names its commands.
manifest="$("$CARGO_TARGET_DIR/debug/mybot" manifest)"
for expected in '"/remember"' '"/recall"' '"commands"'; do
  if ! grep -q -- "$expected" <<<"$manifest"; then
    echo "guide: mybot manifest lacks $expected:" >&2
    echo "$manifest" >&2
    exit 1
  fi
done
echo "guide: docs/new-bot.md builds, its test passes, its manifest names its commands"
