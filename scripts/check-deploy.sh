#!/usr/bin/env bash
# Tries what deploy/ holds, as far as this machine allows:
# - deploy/nonstop.service through `systemd-analyze verify` (syntax, directives, and that the
#   binary it starts exists: the copy checked names the nonstop built here);
# - deploy/Containerfile with `docker build` when a Docker daemon answers.
# The notify protocol the unit relies on (READY=1, WATCHDOG=1, STOPPING=1) is tested by
# crates/nonstop-cli/tests/cli.rs, systemd_hears_ready_the_watchdog_pings_and_stopping.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v systemd-analyze >/dev/null; then
  bin=target/debug/nonstop
  [ -x "$bin" ] || cargo build -q -p nonstop-cli --no-default-features
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  # The unit as installed, but naming the binary built here.
  sed "s|/usr/local/bin/nonstop|$(pwd)/$bin|" deploy/nonstop.service > "$scratch/nonstop.service"
  if out=$(systemd-analyze verify "$scratch/nonstop.service" 2>&1) && [ -z "$out" ]; then
    echo "check-deploy: deploy/nonstop.service verifies"
  else
    echo "check-deploy: deploy/nonstop.service: $out" >&2
    exit 1
  fi
else
  echo "check-deploy: no systemd-analyze here; the unit was not verified"
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker build -f deploy/Containerfile -t nonstop:check .
  echo "check-deploy: deploy/Containerfile builds"
else
  echo "check-deploy: no Docker daemon here; deploy/Containerfile was not built"
fi
