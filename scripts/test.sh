#!/usr/bin/env bash
# The project's test command (README "Tests"): every crate's unit and loopback tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked

# The official Python slack-sdk against our simulator.
bash scripts/python-sdk-check.sh
