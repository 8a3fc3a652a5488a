#!/usr/bin/env bash
# Compares ds-comm's backends with Open MPI in one run on this machine (fp32 SUM, in place,
# buffers refilled outside the timed region, slowest rank's time per iteration, p50 and p99):
#   shm  vs  Open MPI shared memory (default BTLs)          2 ranks
#   ring vs  Open MPI TCP loopback (--mca btl tcp,self)     2 ranks
#   mpi  vs  the C program, both under mpirun               2 ranks
#   hier vs  ring at 4 ranks on 2 simulated nodes
# Prints Markdown tables with the ratios; the machine is noisy, so read ratios, not absolutes.
#
#   bench/compare-openmpi.sh [SIZES]     SIZES default: 4K,64K,1M,16M
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
sizes=${1:-4K,64K,1M,16M}
command -v mpicc >/dev/null || { echo "compare-openmpi: needs mpicc (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }
mpirun=$(command -v mpirun.openmpi || command -v mpirun)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/baseline" bench/allreduce_baseline.c

bytes() { case $1 in *K) echo $(( ${1%K} << 10 ));; *M) echo $(( ${1%M} << 20 ));; *G) echo $(( ${1%G} << 30 ));; *) echo "$1";; esac; }
iters() { local b=$1; if [ "$b" -le 65536 ]; then echo 1000; elif [ "$b" -le 1048576 ]; then echo 200; elif [ "$b" -le 16777216 ]; then echo 40; else echo 20; fi; }
args=()
for s in ${sizes//,/ }; do b=$(bytes "$s"); args+=("$b:$(iters "$b")"); done

bin/dscomm build -q >/dev/null 2>&1 || true
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
bin/dscomm bench -n 2 --backend shm --sizes "$sizes" --format csv 2>/dev/null > "$work/shm.csv"
"$mpirun" --allow-run-as-root -np 2 "$work/baseline" "${args[@]}" > "$work/ompi-shm.csv"
bin/dscomm bench -n 2 --backend ring --sizes "$sizes" --format csv 2>/dev/null > "$work/ring.csv"
"$mpirun" --allow-run-as-root --mca btl tcp,self -np 2 "$work/baseline" "${args[@]}" > "$work/ompi-tcp.csv"
"$mpirun" --allow-run-as-root -np 2 bin/dscomm bench --backend mpi --sizes "$sizes" --format csv 2>/dev/null > "$work/mpi.csv"
"$mpirun" --allow-run-as-root -np 2 "$work/baseline" "${args[@]}" > "$work/ompi-c.csv"
bin/dscomm bench -n 4 --nodes 2 --backend hier --sizes "$sizes" --format csv 2>/dev/null > "$work/hier.csv"
bin/dscomm bench -n 4 --nodes 2 --backend ring --sizes "$sizes" --format csv 2>/dev/null > "$work/ring4.csv"

# table TITLE OURS(csv from bench) THEIRS(csv) LABEL_OURS LABEL_THEIRS [theirs_is_bench]
table() {
  local title=$1 ours=$2 theirs=$3 lo=$4 lt=$5 tb=${6:-0}
  echo
  echo "### $title"
  echo
  echo "| bytes | $lo p50 us | $lo p99 us | $lt p50 us | $lt p99 us | p50 ratio | memcpy us | $lo p50 / memcpy |"
  echo "|------:|---------:|---------:|---------:|---------:|---------:|---------:|---------:|"
  awk -F, -v tb="$tb" 'NR==FNR { if (FNR > 1) { if (tb) { p50[$6]=$8; p99[$6]=$9 } else { p50[$1]=$3; p99[$1]=$4 } } next }
       FNR > 1 { b=$6; r = (p50[b] > 0) ? $8 / p50[b] : 0;
                 printf "| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2f | %.1fx |\n", b, $8, $9, p50[b], p99[b], r, $11, ($11 > 0 ? $8 / $11 : 0) }' \
       "$theirs" "$ours"
}
table "SHM backend vs Open MPI shared memory (2 ranks)" "$work/shm.csv" "$work/ompi-shm.csv" shm "Open MPI"
table "Ring backend vs Open MPI TCP loopback (2 ranks)" "$work/ring.csv" "$work/ompi-tcp.csv" ring "Open MPI tcp"
table "MPI backend (Java, FFM) vs C MPI_Allreduce, both Open MPI (2 ranks)" "$work/mpi.csv" "$work/ompi-c.csv" mpi "C"
table "HIER vs RING, 4 ranks on 2 simulated nodes" "$work/hier.csv" "$work/ring4.csv" hier ring 1
