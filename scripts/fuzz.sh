#!/usr/bin/env bash
# Fuzzes what a peer or a file controls (issue 12): Socket Mode frames with the payloads and
# listeners' views behind them, and journal rows read back after a restart.
#   1. The committed corpus (fuzz/corpus/, made by scripts/make-fuzz-corpus.py) through every
#      entry point, as a plain test on the stable toolchain.
#   2. Each cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECS seconds (default 60) on the
#      nightly toolchain, starting from that corpus; new inputs go to a scratch folder.
# Any panic fails the script, and libFuzzer leaves the input in fuzz/artifacts/<target>/.
# Reproduce one with: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECS:-60}"

echo "== the corpus through every entry point (stable)"
cargo test --locked -p nonstop --features fuzzing --lib fuzzing::

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "!! FUZZING NOT RUN: no nightly toolchain on this machine (cargo-fuzz needs one); only the corpus was checked" >&2
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in socket_frame journal_rows; do
  echo "== fuzzing $target for ${secs} s"
  mkdir -p "$scratch/$target"
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
