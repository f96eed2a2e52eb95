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
# Prints the path of the `nonstop` binary it built. Extra arguments go to `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."

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

cargo build --release --locked --target "$host" -p nonstop-cli -p nonstop-bench "$@" >&2

bin="target/$host/release/nonstop"
if [ "$static" = yes ] && readelf -d "$bin" | grep -q NEEDED; then
  echo "build-release: $bin still needs shared libraries:" >&2
  readelf -d "$bin" | grep NEEDED >&2
  exit 1
fi
echo "$bin"
