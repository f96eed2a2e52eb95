#!/usr/bin/env bash
# The release build of `nonstop` as it is meant to be deployed, and the bench binary beside it
# (BENCHMARKS.md measures this build).
#
# On glibc Linux the C library is linked statically: the resident set of a bot is mostly code
# pages, and the shared libc, libm and loader cost about 1.2 MiB of them where the static
# binary keeps only the glibc code it calls. Name lookups still work (glibc's files and dns
# backends are built into its static library). `--target` keeps build scripts and proc-macros
# dynamically linked, which they must be; the binaries land in target/<host>/release/.
#
# On x86_64 Linux, where rustc links with lld, the functions listed in
# scripts/hot-functions.txt (those a running bot executes) are laid out together at the
# start of .text, so that only their pages become resident (scripts/profile-code-layout.sh
# says why and regenerates the list). The list names Rust functions without their symbols'
# hashes; each build resolves it against its own symbols (scripts/resolve-hot-functions.awk)
# and links with that (crates/nonstop-cli/build.rs passes it to the linker), linking a
# second time when the resolution changed.
#
# The deployed `nonstop` is built without default features: no `sim`, no `demo`, so the
# simulator is not linked into a production bot (checked below). axum is: it serves the
# operator endpoint (NONSTOP_HTTP), off unless asked for.
#
# Prints the path of the `nonstop` binary it built. Extra arguments go to `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-linux-gnu)
    export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
    static=yes
    ;;
  *)
    echo "build-release: $host is not glibc Linux; building a dynamically linked binary" >&2
    static=no
    ;;
esac

hot="$root/scripts/hot-functions.txt"
layout=no
if [ "$host" = x86_64-unknown-linux-gnu ] && [ -f "$hot" ]; then
  layout=yes
  # crates/nonstop-cli/build.rs hands the linker the list resolved against this build's
  # symbols (below); cargo relinks `nonstop` whenever that file changes.
  export NONSTOP_CODE_LAYOUT=1
  export NONSTOP_CODE_LAYOUT_FILE="$root/target/$host/hot-functions.resolved.txt"
fi
build() {
  cargo build --release --locked --target "$host" -p nonstop-cli -p nonstop-bench \
    --no-default-features "$@" >&2
}
build "$@"
bin="target/$host/release/nonstop"

if [ "$layout" = yes ]; then
  # The list names functions without their symbols' hashes; find each in this binary (the
  # hashes do not depend on the layout, so a build laid out by an older resolution has the
  # same names). When the resolution changed, link again with it.
  defined() { nm --defined-only "$bin" | awk '$2 ~ /^[tTwWi]$/ { print $3 }'; }
  resolved="$NONSTOP_CODE_LAYOUT_FILE"
  found_line=$(defined | awk -f scripts/resolve-hot-functions.awk "$hot" - 2>&1 >"$resolved.new")
  read -r _ found _ listed <<<"$found_line"
  if ! cmp -s "$resolved.new" "$resolved"; then
    mv "$resolved.new" "$resolved"
    echo "build-release: linking again with the code layout ($found of $listed hot functions)" >&2
    build "$@"
  else
    rm -f "$resolved.new"
  fi
fi

# By construction the simulator is not in the deployed build; say so loudly if it ever is.
if command -v nm >/dev/null && nm "$bin" 2>/dev/null | grep -qE 'nonstop_sim'; then
  echo "build-release: $bin links the simulator; the deployed build must not" >&2
  exit 1
fi
if [ "$layout" = yes ]; then
  # How far apart the laid-out functions lie against their size: laid out, little more than
  # their size; left where the compiler put them, most of .text (measured: 104% against 276%).
  spread=$(nm -S -t d --defined-only "$bin" | awk '
    NR == FNR { hot[$1] = 1; next }
    NF == 4 && ($4 in hot) && !seen[$1]++ {
      start = $1 + 0; size = $2 + 0; total += size
      if (low == "" || start < low) low = start
      if (start + size > high) high = start + size
    }
    END { printf "%d\n", (total > 0) ? 100 * (high - low) / total : 0 }
  ' "$resolved" -)
  echo "build-release: code layout: $found of $listed hot functions found, together spanning" \
    "${spread}% of their size" >&2
  if [ "$spread" -gt 130 ]; then
    echo "build-release: the linker did not lay the hot functions out together (is it lld?" \
      "does the link argument from crates/nonstop-cli/build.rs reach it?)" >&2
    exit 1
  fi
  # A list that matches little of the binary is not a layout any more: fail, rather than
  # deploy a build whose memory quietly went up (regenerating takes about 6 minutes).
  if [ $((found * 2)) -lt "$listed" ]; then
    echo "build-release: only $found of $listed hot functions are in the binary: the list is" \
      "stale (functions renamed or moved); run scripts/profile-code-layout.sh and commit" \
      "scripts/hot-functions.txt" >&2
    exit 1
  fi
  if [ $((found * 10)) -lt $((listed * 9)) ]; then
    echo "build-release: the list is going stale ($found of $listed found); run" \
      "scripts/profile-code-layout.sh and commit scripts/hot-functions.txt" >&2
  fi
fi
# The binary must start: on x86_64 Linux it is linked with packed relocations (RELR,
# crates/nonstop-cli/build.rs), which a static glibc older than 2.36 would not apply.
if ! "$bin" --version >/dev/null; then
  echo "build-release: $bin does not start (a C library without RELR support? see" \
    "crates/nonstop-cli/build.rs)" >&2
  exit 1
fi
if [ "$static" = yes ] && readelf -d "$bin" | grep -q NEEDED; then
  echo "build-release: $bin still needs shared libraries:" >&2
  readelf -d "$bin" | grep NEEDED >&2
  exit 1
fi
echo "$bin"
