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
# says why and regenerates the list).
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
# rustc links with lld by default on this target from 1.90 on; GNU ld has no ordering file.
minor=$(rustc -V | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ "$host" = x86_64-unknown-linux-gnu ] && [ "${minor:-0}" -ge 90 ] && [ -f "$hot" ]; then
  # Names the binary no longer has are skipped quietly; the count below says how many.
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,--symbol-ordering-file=$hot -C link-arg=-Wl,--no-warn-symbol-ordering"
  layout=yes
  # Cargo does not know the list is an input of the link: relink when it changed.
  stamp="target/$host/release/.hot-functions.sum"
  sum=$(cksum <"$hot")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    cargo clean --release --target "$host" -p nonstop-cli >&2 2>/dev/null || true
  fi
fi

cargo build --release --locked --target "$host" -p nonstop-cli -p nonstop-bench "$@" >&2

bin="target/$host/release/nonstop"
if [ "$layout" = yes ]; then
  echo "$sum" >"$stamp"
  if ! readelf -p .comment "$bin" | grep -q 'Linker: LLD'; then
    echo "build-release: $bin was not linked by lld; the hot-first code layout was not applied" >&2
  else
    listed=$(grep -vc '^#' "$hot" || true)
    found=$(nm --defined-only "$bin" | awk '{ print $3 }' | sort -u |
      awk 'NR == FNR { have[$1] = 1; next } !/^#/ && ($1 in have) { n++ } END { print n + 0 }' - "$hot")
    # Laid out, the hot functions span little more than their own size; left where the
    # compiler put them, they span most of .text (measured: 1.04 against 2.76 times).
    spread=$(nm -S -t d --defined-only "$bin" | awk '
      NR == FNR { if (!/^#/) hot[$1] = 1; next }
      NF == 4 && ($4 in hot) && !seen[$1]++ {
        start = $1 + 0; size = $2 + 0; total += size
        if (low == "" || start < low) low = start
        if (start + size > high) high = start + size
      }
      END { if (total > 0) printf "%d", 100 * (high - low) / total; else print 0 }
    ' "$hot" -)
    echo "build-release: code layout: $found of $listed hot functions found, together spanning" \
      "${spread}% of their size" >&2
    if [ "$spread" -gt 130 ]; then
      echo "build-release: the hot functions span ${spread}% of their size: the linker did not" \
        "lay them out together (is it lld? does RUSTFLAGS reach the link?)" >&2
      exit 1
    fi
    if [ $((found * 10)) -lt $((listed * 9)) ]; then
      echo "build-release: the list is stale (dependencies or code changed); run" \
        "scripts/profile-code-layout.sh and commit scripts/hot-functions.txt" >&2
    fi
  fi
fi
if [ "$static" = yes ] && readelf -d "$bin" | grep -q NEEDED; then
  echo "build-release: $bin still needs shared libraries:" >&2
  readelf -d "$bin" | grep NEEDED >&2
  exit 1
fi
echo "$bin"
