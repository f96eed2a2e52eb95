# Turns scripts/hot-functions.txt (stable names) into the symbols of one linked binary, in
# the list's order, for lld's --symbol-ordering-file.
#
# A Rust symbol's name ends in a hash (`..17h0123456789abcdefE`) that changes with the
# compiler, the dependencies' versions and the code around it; the list keeps each name
# without it, so it survives all of that as long as the function keeps its path. A stable
# name stands for every symbol of the binary with that path (a generic function's
# instantiations). C names (SQLite, glibc) have no hash and are kept as they are.
#
# Usage: nm --defined-only BIN | awk '$2 ~ /^[tTwWi]$/ { print $3 }' |
#          awk -f scripts/resolve-hot-functions.awk scripts/hot-functions.txt - >RESOLVED
# Prints on stderr how many listed names the binary has: `found N of M`.
NR == FNR {
  if ($0 ~ /^#/ || $0 == "") next
  order[++listed] = $1
  next
}
{
  key = $1
  if (match(key, /17h[0-9a-f]+E$/)) key = substr(key, 1, RSTART - 1)
  symbols[key] = (key in symbols) ? symbols[key] "\n" $1 : $1
}
END {
  found = 0
  for (i = 1; i <= listed; i++) {
    name = order[i]
    if (name in symbols && !printed[name]++) {
      print symbols[name]
      found++
    }
  }
  printf "found %d of %d\n", found, listed > "/dev/stderr"
}
