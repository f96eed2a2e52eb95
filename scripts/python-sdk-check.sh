#!/usr/bin/env bash
# Runs the official Python slack-sdk's SocketModeClient against `nonstop sim` (see
# python_sdk_check.py). Installs slack-sdk into a throwaway virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${NONSTOP_SDK_VENV:-target/python-sdk-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "slack-sdk>=3.33,<4"

cargo build --quiet --locked -p nonstop-cli
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NONSTOP_LOG=warn ./target/debug/nonstop sim --port "$port" >/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_sim/stats', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
timeout 120 "$venv/bin/python" scripts/python_sdk_check.py "http://127.0.0.1:$port"
