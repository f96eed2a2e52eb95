#!/usr/bin/env bash
# The project's test command (README "Tests"): every crate's unit and loopback tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# A test that cannot run here (no Chromium, no mount namespaces) writes why to this file; the
# lines are printed at the end, so a skip is seen. NONSTOP_NO_SKIPS=1 (CI) makes a skip fail.
export NONSTOP_SKIP_LOG="${NONSTOP_SKIP_LOG:-$(mktemp)}"
: > "$NONSTOP_SKIP_LOG"
report_skips() {
  if [ -s "$NONSTOP_SKIP_LOG" ]; then
    echo "== tests skipped on this machine:"
    cat "$NONSTOP_SKIP_LOG"
  fi
}
trap report_skips EXIT
cargo test --workspace --locked

# The official Python slack-sdk against our simulator.
bash scripts/python-sdk-check.sh
