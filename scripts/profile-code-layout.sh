#!/usr/bin/env bash
# Rewrites scripts/hot-functions.txt: the functions a running bot executes, most executed
# first. scripts/build-release.sh hands the list to the linker (lld's
# --symbol-ordering-file), which puts those functions together at the start of .text.
#
# Why: the kernel maps a binary's code into a process in blocks of 64 KiB around each page
# the process touches (fault-around). Laid out as the compiler leaves it, code a bot runs
# sits next to code it never runs (the simulator, CLI help, error paths), so nearly all of
# .text becomes resident. Laid out hot-first, the resident code is about the code that runs
# (BENCHMARKS.md, fifth session: 4.0 -> 2.3 MiB).
#
# How: builds the release binary and runs `nonstop run` against `nonstop sim` three times
# on one journal, with the default settings. Under valgrind's callgrind, which sees every
# function that runs: first with 100 messages/s and every fault the simulator has; then
# restarted (journal replay, the outbox's backlog) with a few messages and `status`. Each ends with
# SIGTERM (graceful shutdown). Last, at full speed and 1,000 messages/s, with perf
# recording which functions fault code pages in. Listed: what callgrind saw, by
# instructions executed, then what only perf saw. Each run of this script on a binary laid
# out by the previous list finds what that list missed.
#
# When: after large code changes (functions renamed or moved). The list keeps Rust names
# without their hashes, so compiler and dependency updates leave it valid; build-release.sh
# prints how many listed functions it still finds. Takes about 6 minutes; needs valgrind and curl, and uses perf when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in valgrind curl; do
  command -v "$tool" >/dev/null || { echo "profile-code-layout: needs $tool" >&2; exit 1; }
done

bin=$(bash scripts/build-release.sh)
# The deployed nonstop leaves the simulator out; the bench built beside it serves one.
sim_bin="$(dirname "$bin")/nonstop-bench"
work=$(mktemp -d)
first_port=${NONSTOP_PROFILE_PORT:-3047}
sim_pid=""
bot_pid=""
cleanup() {
  for pid in $bot_pid $sim_pid; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A simulator of its own for each run (the last one stops): messages at the rate given.
start_sim() {
  port=$1
  for pid in $sim_pid; do kill "$pid" 2>/dev/null || true; done
  "$sim_bin" sim --port "$port" $2 >"$work/sim.$port.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/_sim/stats" >/dev/null && return
    sleep 0.1
  done
  echo "profile-code-layout: the simulator did not start on port $port" >&2
  exit 1
}

export SLACK_APP_TOKEN=xapp-1-A0SIM-0000-simulatedapptoken
export SLACK_BOT_TOKEN=xoxb-0000-0000-simulatedbottoken
export NONSTOP_DB="$work/journal.db" NONSTOP_LOG=info

control() { curl -sf -X POST -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$port/_sim/$1" >/dev/null; }
fault() { control fault "$1"; sleep "${2:-4}"; }
say() { control message "{\"channel\":\"C0DEMO\",\"user\":\"U0ALICE\",\"text\":\"$1\"$2}"; }

# Starts the bot under callgrind; `stop_bot` ends it as a deployment would (SIGTERM).
start_bot() {
  SLACK_API_URL="http://127.0.0.1:$port/api/" valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --callgrind-out-file="$work/callgrind.$1" "$bin" run >"$work/bot.$1.log" 2>&1 &
  bot_pid=$!
  wait_live
}
# Until the simulator has a live socket (under valgrind the bot takes seconds to get there).
wait_live() {
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/_sim/stats" | grep -q '"live_sockets":[1-9]' && return
    sleep 0.2
  done
  echo "profile-code-layout: the bot did not connect within 2 minutes" >&2
  exit 1
}
stop_bot() {
  kill -TERM "$bot_pid"
  wait "$bot_pid" || true
  bot_pid=""
}

echo "profile-code-layout: run 1 (100 messages/s, every fault; about 2.5 min)" >&2
start_sim "$first_port" "--rate 100"
start_bot 1
say "status" ""
say "ping in a thread" ',"thread_ts":"1700000000.000100"'
say "hello there" ""
fault '{"kind":"drop"}'
fault '{"kind":"half_open"}' 12
fault '{"kind":"refresh","close_after_secs":2}' 6
fault '{"kind":"disconnect_warning","close_after_secs":2}' 6
fault '{"kind":"outage","secs":4,"drop_all":true}' 10
fault '{"kind":"rate_limit","secs":2,"drop_all":true}' 8
fault '{"kind":"too_many_websockets"}'
fault '{"kind":"malformed"}' 1
fault '{"kind":"binary"}' 1
fault '{"kind":"oversized"}' 1
fault '{"kind":"unknown_envelope"}' 1
fault '{"kind":"close_frame","code":1011,"reason":"server error"}'
fault '{"kind":"withhold_hello","count":1}' 14
fault '{"kind":"rate_limit_method","method":"chat.postMessage","secs":2}'
fault '{"kind":"fail_method","method":"chat.postMessage","count":2}' 3
fault '{"kind":"slow_web_api","millis":200}' 3
fault '{"kind":"heal"}' 1
say "status" ""
sleep 50 # past the journal's first prune (a minute after start)
stop_bot

echo "profile-code-layout: run 2 (restart on the same journal; about 1 min)" >&2
start_sim $((first_port + 1)) ""
start_bot 2
for i in 1 2 3; do say "ping $i" ""; done
say "status" ""
sleep 20
stop_bot

# Run 3, natively: valgrind's virtual CPU lacks some of this machine's instruction sets, so
# under it some code (SHA-1 of the WebSocket handshake, some of glibc) takes other paths than
# at full speed. perf records each page fault of the bot from its start: a fault on an
# instruction names the function that brought its block of code in. Run on a binary already
# laid out by an earlier list, these are the functions the list missed.
: >"$work/faulted"
if command -v perf >/dev/null; then
  echo "profile-code-layout: run 3 (natively, 1,000 messages/s, page faults recorded; 30 s)" >&2
  start_sim $((first_port + 2)) "--rate 1000"
  SLACK_API_URL="http://127.0.0.1:$port/api/" \
    perf record -e page-faults -c 1 -d -o "$work/perf.data" -- "$bin" run \
    >"$work/bot.3.log" 2>&1 &
  bot_pid=$! # perf, which ends with the bot it started
  wait_live
  sleep 30
  pkill -TERM -P "$bot_pid" || true
  wait "$bot_pid" || true
  bot_pid=""
  # Fields: faulting address, its symbol, instruction pointer, its symbol. A fault on an
  # instruction has address = instruction pointer.
  perf script -i "$work/perf.data" -F addr,ip,sym --no-demangle 2>/dev/null |
    awk '$1 == $3 { print $4 }' >"$work/faulted" || true
else
  echo "profile-code-layout: no perf; listing what callgrind saw only" >&2
fi

# Instructions per function over both runs (callgrind's file format: `fn=(id) name` names a
# function once, later `fn=(id)` refers to it; the line after `calls=` is a callee's cost).
awk '
  /^c?fn=\(/ {
    id = $1; sub(/^c?fn=/, "", id)
    if (NF > 1) { name = $0; sub(/^[^ ]* /, "", name); sub(/'"'"'[0-9]+$/, "", name); names[id] = name }
    if ($0 ~ /^fn=/) current = names[id]
    next
  }
  /^calls=/ { callee_cost = 1; next }
  /^[0-9+*-]/ {
    if (callee_cost) { callee_cost = 0; next }
    cost[current] += $2
    next
  }
  END { for (f in cost) if (cost[f] > 0) print cost[f], f }
' "$work"/callgrind.1 "$work"/callgrind.2 |
  awk '{ sum[$2] += $1 } END { for (f in sum) print sum[f], f }' |
  sort -k1,1nr -k2,2 >"$work/costs"

# Only names the binary defines as functions or IFUNC resolvers (glibc runs every resolver at
# start-up); callgrind also lists `(below main)` and such.
nm --defined-only "$bin" | awk '$2 ~ /^[tTwWi]$/ { print $3 }' | sort -u >"$work/defined"
out=scripts/hot-functions.txt
{
  echo "# Functions a running bot executes, most executed first: the linker lays them out"
  echo "# together at the start of .text. Generated by scripts/profile-code-layout.sh; do not"
  echo "# edit by hand. Rust names are kept without their hash (\`17h...E\`), which changes with the"
  echo "# compiler and the dependencies: scripts/resolve-hot-functions.awk finds each in the"
  echo "# binary by its path, so the list survives those changes and goes stale only as functions"
  echo "# are renamed or moved (build-release.sh says how many it finds, and fails under half)."
  {
    awk '{ print $2 }' "$work/costs"
    cat "$work/faulted"
  } | awk 'NR == FNR { defined[$1] = 1; next } ($1 in defined)' "$work/defined" - |
    sed -E 's/17h[0-9a-f]{16}E$//' | awk '!seen[$1]++'
} >"$out"
echo "profile-code-layout: $(grep -vc '^#' "$out") functions in $out" >&2
