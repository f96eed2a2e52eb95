#!/usr/bin/env bash
# The project's test command (README "Tests"): every crate's unit and loopback tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
