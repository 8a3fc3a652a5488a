#!/usr/bin/env bash
# Does allReduceAsync overlap the caller's compute when the all-reduce's time is the network's?
#
# `bin/dscomm bench --async` on the socket ring, 2 ranks, inside a private network namespace
# whose loopback is capped to RATE (default 1gbit, a token bucket: `tc qdisc ... tbf`), so that
# an all-reduce spends its time waiting for the wire as it does between nodes, not copying
# through the kernel on the CPUs the callers compute on. On this project's 2-core machine the
# plain (uncapped) runs cannot show overlap: each rank's caller computes on one core, and the
# all-reduce needs CPU the machine does not have (see docs/performance.md).
#
#   sudo bench/overlap-on-a-wire.sh [SIZES] [RATE] [extra bench options...]
#       SIZES default 64K,1M; RATE any tc rate (1gbit, 10gbit, 500mbit)
#
# Needs root (a network namespace of its own, so the machine's loopback is untouched),
# `unshare` (util-linux), `ip` and `tc` (iproute2), and a kernel with the tbf qdisc.
# The namespace and its qdisc vanish with the command. Output: the bench's table; ratio =
# overlapped / max(compute, all-reduce), 1.0 = perfect overlap, 2.0 = none.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
sizes=${1:-64K,1M}
rate=${2:-1gbit}
shift $(( $# < 2 ? $# : 2 ))
for tool in unshare ip tc; do
  command -v "$tool" >/dev/null || { echo "overlap-on-a-wire: needs $tool (apt-get install util-linux iproute2)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "overlap-on-a-wire: needs root (a network namespace and a qdisc)" >&2; exit 2; }
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), loopback capped at $rate" >&2
# MTU 9000 and a 20 KB bucket: the bucket must hold one whole packet (a tbf drops larger ones
# for good), and a small one means the cap applies from the first bytes of every call, not
# after a burst the compute's pause has refilled.
exec unshare -n -- bash -c '
  set -e
  ip link set lo mtu 9000
  ip link set lo up
  tc qdisc add dev lo root tbf rate "$1" burst 20kb latency 100ms
  shift
  sizes=$1; shift
  exec bin/dscomm bench -n 2 --backend ring --async --sizes "$sizes" "$@"
' overlap "$rate" "$sizes" "$@"
