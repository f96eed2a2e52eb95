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

# deploy/kubernetes.yml: no cluster here; parsed, and its probes must name the endpoint's
# routes (a renamed route would otherwise leave every pod unready).
python3 - <<'PY'
import sys
import yaml

with open("deploy/kubernetes.yml") as f:
    deployment = yaml.safe_load(f)
container = deployment["spec"]["template"]["spec"]["containers"][0]
probes = {container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]}
routes = open("crates/nonstop/src/ops/mod.rs").read()
missing = [p for p in probes if f'"{p}"' not in routes]
if missing or deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] != 0:
    sys.exit(f"check-deploy: deploy/kubernetes.yml: probes {missing} not served, or updates may remove a pod first")
print("check-deploy: deploy/kubernetes.yml parses; its probes are served by the endpoint")
PY

# deploy/compose.yml: no Compose here either; parsed, its Redis told to keep what it
# acknowledged, and its health check aimed at a route the endpoint serves.
python3 - <<'PY'
import sys
import yaml

with open("deploy/compose.yml") as f:
    compose = yaml.safe_load(f)
redis = " ".join(compose["services"]["redis"]["command"])
bot = compose["services"]["bot"]
check = bot["healthcheck"]["test"]
routes = open("crates/nonstop/src/ops/mod.rs").read()
path = "/" + check[-1].split("/", 3)[-1]
problems = [
    p
    for p, bad in [
        ("Redis without AOF", "--appendonly yes" not in redis),
        ("Redis that evicts", "--maxmemory-policy noeviction" not in redis),
        ("Redis that does not fsync", "--appendfsync no" in redis),
        (f"health check on {path}, not served", f'"{path}"' not in routes),
        ("bot without REDIS_URL", "REDIS_URL" not in bot["environment"]),
    ]
    if bad
]
if problems:
    sys.exit(f"check-deploy: deploy/compose.yml: {', '.join(problems)}")
print("check-deploy: deploy/compose.yml parses; Redis keeps what it acknowledged; its health check is served")
PY
