#!/usr/bin/env bash
# Compares ds-comm with Open MPI in one run on this machine, fp32 SUM in place. The machine is
# noisy: read the ratios (each computed from figures measured minutes apart at most), not the
# absolute times. Modes:
#
#   sweep    osu-style: refill, barrier, one timed call, the slowest rank's time (p50, p99):
#              shm vs Open MPI shared memory, ring vs Open MPI TCP loopback, the MPI backend vs the
#              C program under the same mpirun (2 ranks; the backend at its default thread level
#              and with DSCOMM_MPI_THREADS=single, C's MPI_Init level), and HIER vs ring at 4 ranks
#              on 2 nodes
#   decode   what a token pays: calls back to back with COMPUTE_US (default 5) of compute between
#              them, every call of every rank timed (mean, p50, p99, p99.9, max): the first 2 000
#              calls after init (cold), then steady state, then steady state beside one busy
#              process; 2 ranks, SHM vs Open MPI shared memory
#   oversub  more ranks than cores: the sweep's p50 at 3 and 4 ranks (SHM vs Open MPI shared
#              memory), and 4 ranks over sockets (ring, and HIER on 2 simulated nodes, vs Open MPI TCP)
#   sendrecv osu_latency-style ping-pong, one-way latency = round trip / 2: SHM send/recv vs Open
#              MPI's MPI_Send/MPI_Recv over shared memory, ring vs Open MPI TCP loopback (2 ranks)
#   alltoall osu_alltoall-style (SIZES = the block each rank sends each peer): SHM vs Open MPI
#              shared memory, ring vs Open MPI TCP loopback, the MPI backend vs C MPI_Alltoall under
#              the same mpirun, 2 ranks (3 ranks too for SHM, 3 and 4 for the ring)
#   symmetric  the sweep with symmetric tensors (bench --buffers symmetric, the zero-copy SHM
#              all-reduce) against the copy path and Open MPI shared memory, at RANKS ranks
#              (default 2), ROUNDS times in a row (default 3) so the spread shows; memcpy is the
#              symmetric run's own single-process copy of the same bytes
#   all      sweep, decode, oversub, sendrecv and alltoall
#
#   bench/compare-openmpi.sh [MODE] [SIZES]      SIZES default: 4K,64K,1M,16M (sweep), 4K,64K,1M (oversub, alltoall),
#                                                64K,1M,16M (symmetric)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mode=${1:-sweep}
case $mode in sweep|decode|oversub|sendrecv|alltoall|all|symmetric) ;; *) echo "usage: bench/compare-openmpi.sh [sweep|decode|oversub|sendrecv|alltoall|all|symmetric] [SIZES]" >&2; exit 2;; esac
compute=${COMPUTE_US:-5}
command -v mpicc >/dev/null || { echo "compare-openmpi: needs mpicc (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }
mpirun=$(command -v mpirun.openmpi || command -v mpirun)
work=$(mktemp -d)
busy_pid=""
cleanup() { [ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mpicc -O2 -o "$work/baseline" bench/allreduce_baseline.c
mpicc -O2 -o "$work/decode" bench/decode_baseline.c
mpicc -O2 -o "$work/pingpong" bench/pingpong_baseline.c
mpicc -O2 -o "$work/alltoall" bench/alltoall_baseline.c

bytes() { case $1 in *K) echo $(( ${1%K} << 10 ));; *M) echo $(( ${1%M} << 20 ));; *G) echo $(( ${1%G} << 30 ));; *) echo "$1";; esac; }
iters() { local b=$1; if [ "$b" -le 65536 ]; then echo 1000; elif [ "$b" -le 1048576 ]; then echo 200; elif [ "$b" -le 16777216 ]; then echo 40; else echo 20; fi; }
args_for() { local out=() s b; for s in ${1//,/ }; do b=$(bytes "$s"); out+=("$b:$(iters "$b")"); done; echo "${out[@]}"; }
ompi() { "$mpirun" --allow-run-as-root --oversubscribe "$@"; }

bin/dscomm build -q >/dev/null 2>&1 || true
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), mode $mode" >&2

# table TITLE OURS(csv from bench) THEIRS(csv) LABEL_OURS LABEL_THEIRS [theirs_is_bench]
table() {
  local title=$1 ours=$2 theirs=$3 lo=$4 lt=$5 tb=${6:-0}
  echo
  echo "### $title"
  echo
  echo "| bytes | $lo p50 us | $lo p99 us | $lt p50 us | $lt p99 us | p50 ratio | memcpy us | $lo p50 / memcpy |"
  echo "|------:|---------:|---------:|---------:|---------:|---------:|---------:|---------:|"
  awk -F, -v tb="$tb" 'NR==FNR { if (FNR > 1) { if (tb) { p50[$6]=$8; p99[$6]=$9 } else { p50[$1]=$3; p99[$1]=$4 } } next }
       FNR > 1 && $1 !~ /^#/ { b=$6; r = (p50[b] > 0) ? $8 / p50[b] : 0;
                 printf "| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2f | %.1fx |\n", b, $8, $9, p50[b], p99[b], r, $11, ($11 > 0 ? $8 / $11 : 0) }' \
       "$theirs" "$ours"
}

# decode_table TITLE OURS(bench csv) THEIRS(decode_baseline csv)
decode_table() {
  local title=$1 ours=$2 theirs=$3
  echo
  echo "### $title"
  echo
  echo "| dtype | bytes | calls | ds-comm mean | p50 | p99 | p99.9 | max | Open MPI mean | p50 | p99 | p99.9 | max | mean ratio | ds-comm p99/p50 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F, 'NR==FNR { if (FNR > 1) { m[$1]=$3; p50[$1]=$4; p99[$1]=$5; p999[$1]=$6; mx[$1]=$7 } next }
       FNR > 1 && $1 !~ /^#/ { b=$6; have = (b in m);
         printf "| %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s | %s | %s | %s | %s | %.1f |\n", $2, b, $7, $12, $8, $9, $13, $14,
           have ? sprintf("%.2f", m[b]) : "-", have ? sprintf("%.2f", p50[b]) : "-", have ? sprintf("%.2f", p99[b]) : "-",
           have ? sprintf("%.2f", p999[b]) : "-", have ? sprintf("%.1f", mx[b]) : "-",
           (have && m[b] > 0) ? sprintf("%.2fx", $12 / m[b]) : "-", ($8 > 0 ? $9 / $8 : 0) }' "$theirs" "$ours"
}

run_sweep() {
  local sizes=$1 a; a=$(args_for "$sizes")
  bin/dscomm bench -n 2 --backend shm --sizes "$sizes" --format csv 2>/dev/null > "$work/shm.csv"
  ompi -np 2 "$work/baseline" $a > "$work/ompi-shm.csv"
  bin/dscomm bench -n 2 --backend ring --sizes "$sizes" --format csv 2>/dev/null > "$work/ring.csv"
  ompi --mca btl tcp,self -np 2 "$work/baseline" $a > "$work/ompi-tcp.csv"
  ompi -np 2 bin/dscomm bench --backend mpi --sizes "$sizes" --format csv 2>/dev/null > "$work/mpi.csv"
  ompi -np 2 "$work/baseline" $a > "$work/ompi-c.csv"
  ompi -np 2 -x DSCOMM_MPI_THREADS=single bin/dscomm bench --backend mpi --sizes "$sizes" --format csv 2>/dev/null \
      > "$work/mpi-single.csv"
  bin/dscomm bench -n 4 --nodes 2 --backend hier --sizes "$sizes" --format csv 2>/dev/null > "$work/hier.csv"
  bin/dscomm bench -n 4 --nodes 2 --backend ring --sizes "$sizes" --format csv 2>/dev/null > "$work/ring4.csv"
  table "SHM backend vs Open MPI shared memory (2 ranks)" "$work/shm.csv" "$work/ompi-shm.csv" shm "Open MPI"
  table "Ring backend vs Open MPI TCP loopback (2 ranks)" "$work/ring.csv" "$work/ompi-tcp.csv" ring "Open MPI tcp"
  table "MPI backend (Java, FFM) vs C MPI_Allreduce, both Open MPI (2 ranks)" "$work/mpi.csv" "$work/ompi-c.csv" mpi "C"
  table "MPI backend with DSCOMM_MPI_THREADS=single vs C MPI_Allreduce (2 ranks)" "$work/mpi-single.csv" "$work/ompi-c.csv" \
      "mpi single" "C"
  table "HIER vs RING, 4 ranks on 2 simulated nodes" "$work/hier.csv" "$work/ring4.csv" hier ring 1
}

run_decode() {
  # Cold: a fresh process's first 2 000 calls; ds-comm's init() time goes to stderr.
  bin/dscomm bench -n 2 --backend shm --pattern decode --cold --compute-us "$compute" --sizes 16K --format csv \
      2> "$work/cold.err" > "$work/cold.csv"
  ompi -np 2 "$work/decode" --cold "$compute" 16384:2000 > "$work/ompi-cold.csv"
  bin/dscomm bench -n 2 --backend shm --pattern decode --compute-us "$compute" --sizes 16K,64K --format csv \
      2>/dev/null > "$work/steady.csv"
  bin/dscomm bench -n 2 --backend shm --pattern decode --compute-us "$compute" --dtype bf16 --sizes 8K --format csv \
      2>/dev/null | tail -n +2 >> "$work/steady.csv"
  ompi -np 2 "$work/decode" "$compute" 8192:20000 16384:20000 65536:20000 > "$work/ompi-steady.csv"
  # One busy process beside the two ranks (2 cores: 3 runnable threads), for both.
  ( while :; do :; done ) & busy_pid=$!
  bin/dscomm bench -n 2 --backend shm --pattern decode --compute-us "$compute" --sizes 16K,64K --format csv \
      2>/dev/null > "$work/busy.csv"
  ompi -np 2 "$work/decode" "$compute" 16384:20000 65536:20000 > "$work/ompi-busy.csv"
  kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; busy_pid=""
  decode_table "Decode, cold: the first 2 000 calls after init (2 ranks, $compute us compute between calls)" \
      "$work/cold.csv" "$work/ompi-cold.csv"
  echo; grep -h "# init" "$work/cold.err" | sed 's/^\[rank 0\] //' || true
  decode_table "Decode, steady state (2 ranks, $compute us compute between calls; bf16 vs Open MPI fp32 of the same bytes)" \
      "$work/steady.csv" "$work/ompi-steady.csv"
  decode_table "Decode, steady state beside one busy process (2 ranks + 1 spinning process on $(nproc) cores)" \
      "$work/busy.csv" "$work/ompi-busy.csv"
}

run_oversub() {
  local sizes=$1 a; a=$(args_for "$sizes")
  for n in 3 4; do
    bin/dscomm bench -n "$n" --backend shm --sizes "$sizes" --format csv 2>/dev/null > "$work/shm$n.csv"
    ompi -np "$n" "$work/baseline" $a > "$work/ompi$n.csv"
    table "SHM vs Open MPI shared memory, $n ranks on $(nproc) cores (default settings)" "$work/shm$n.csv" "$work/ompi$n.csv" shm "Open MPI"
  done
  bin/dscomm bench -n 4 --backend ring --sizes "$sizes" --format csv 2>/dev/null > "$work/ring4o.csv"
  bin/dscomm bench -n 4 --nodes 2 --backend hier --sizes "$sizes" --format csv 2>/dev/null > "$work/hier4o.csv"
  ompi --mca btl tcp,self -np 4 "$work/baseline" $a > "$work/ompi-tcp4.csv"
  table "Ring vs Open MPI TCP loopback, 4 ranks on $(nproc) cores" "$work/ring4o.csv" "$work/ompi-tcp4.csv" ring "Open MPI tcp"
  table "HIER (2 simulated nodes) vs Open MPI TCP loopback, 4 ranks on $(nproc) cores" "$work/hier4o.csv" "$work/ompi-tcp4.csv" hier "Open MPI tcp"
}

run_symmetric() {
  local sizes=$1 a n=${RANKS:-2} round; a=$(args_for "$sizes")
  for round in $(seq 1 "${ROUNDS:-3}"); do
    bin/dscomm bench -n "$n" --backend shm --buffers symmetric --sizes "$sizes" --format csv 2>/dev/null > "$work/sym.csv"
    bin/dscomm bench -n "$n" --backend shm --buffers copy --sizes "$sizes" --format csv 2>/dev/null > "$work/copy.csv"
    ompi -np "$n" "$work/baseline" $a > "$work/ompi-sym.csv"
    echo
    echo "### Symmetric tensors vs the copy path vs Open MPI shared memory, $n ranks, round $round ($(date -u +%TZ), load $(cut -d' ' -f1 /proc/loadavg))"
    echo
    echo "| bytes | symmetric p50 us | copy p50 us | Open MPI p50 us | memcpy us | symmetric / Open MPI | symmetric / memcpy | copy / Open MPI | symmetric p99 us |"
    echo "|------:|---------:|---------:|---------:|---------:|---------:|---------:|---------:|---------:|"
    awk -F, 'FILENAME == ARGV[1] { if (FNR > 1) o[$1] = $3; next }
             FILENAME == ARGV[2] { if (FNR > 1 && $1 !~ /^#/) c[$6] = $8; next }
             FNR > 1 && $1 !~ /^#/ { b = $6;
               printf "| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx | %.2f |\n", b, $8, c[b], o[b], $11,
                      (o[b] > 0 ? $8 / o[b] : 0), ($11 > 0 ? $8 / $11 : 0), (o[b] > 0 ? c[b] / o[b] : 0), $9 }' \
        "$work/ompi-sym.csv" "$work/copy.csv" "$work/sym.csv"
  done
}

pp_iters() { local b=$1; if [ "$b" -le 65536 ]; then echo 10000; elif [ "$b" -le 1048576 ]; then echo 1000; else echo 100; fi; }

run_sendrecv() {
  local sizes=$1 a=() s b
  for s in ${sizes//,/ }; do b=$(bytes "$s"); a+=("$b:$(pp_iters "$b")"); done
  bin/dscomm bench -n 2 --backend shm --collective sendrecv --sizes "$sizes" --format csv 2>/dev/null > "$work/pp-shm.csv"
  ompi -np 2 "$work/pingpong" "${a[@]}" > "$work/pp-ompi-shm.csv"
  bin/dscomm bench -n 2 --backend ring --collective sendrecv --sizes "$sizes" --format csv 2>/dev/null > "$work/pp-ring.csv"
  ompi --mca btl tcp,self -np 2 "$work/pingpong" "${a[@]}" > "$work/pp-ompi-tcp.csv"
  table "send/recv one-way latency (ping-pong / 2): SHM vs Open MPI MPI_Send/MPI_Recv, shared memory (2 ranks)" \
      "$work/pp-shm.csv" "$work/pp-ompi-shm.csv" shm "Open MPI"
  table "send/recv one-way latency (ping-pong / 2): ring vs Open MPI TCP loopback (2 ranks)" \
      "$work/pp-ring.csv" "$work/pp-ompi-tcp.csv" ring "Open MPI tcp"
}

run_alltoall() {
  local sizes=$1 a; a=$(args_for "$sizes")
  bin/dscomm bench -n 2 --backend shm --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-shm.csv"
  bin/dscomm bench -n 2 --backend shm --collective alltoall --buffers symmetric --sizes "$sizes" --format csv 2>/dev/null \
      > "$work/a2a-shm-sym.csv"
  ompi -np 2 "$work/alltoall" $a > "$work/a2a-ompi-shm.csv"
  bin/dscomm bench -n 3 --backend shm --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-shm3.csv"
  ompi -np 3 "$work/alltoall" $a > "$work/a2a-ompi-shm3.csv"
  bin/dscomm bench -n 2 --backend ring --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-ring.csv"
  ompi --mca btl tcp,self -np 2 "$work/alltoall" $a > "$work/a2a-ompi-tcp.csv"
  bin/dscomm bench -n 3 --backend ring --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-ring3.csv"
  ompi --mca btl tcp,self -np 3 "$work/alltoall" $a > "$work/a2a-ompi-tcp3.csv"
  bin/dscomm bench -n 4 --backend ring --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-ring4.csv"
  ompi --mca btl tcp,self -np 4 "$work/alltoall" $a > "$work/a2a-ompi-tcp4.csv"
  ompi -np 2 bin/dscomm bench --backend mpi --collective alltoall --sizes "$sizes" --format csv 2>/dev/null > "$work/a2a-mpi.csv"
  ompi -np 2 "$work/alltoall" $a > "$work/a2a-ompi-c.csv"
  table "All-to-all: SHM backend vs Open MPI shared memory MPI_Alltoall (2 ranks; bytes = block per peer)" \
      "$work/a2a-shm.csv" "$work/a2a-ompi-shm.csv" shm "Open MPI"
  table "All-to-all, input in a symmetric tensor (read by its receivers): SHM vs Open MPI shared memory (2 ranks)" \
      "$work/a2a-shm-sym.csv" "$work/a2a-ompi-shm.csv" shm-sym "Open MPI"
  table "All-to-all: SHM backend vs Open MPI shared memory MPI_Alltoall (3 ranks on $(nproc) cores)" \
      "$work/a2a-shm3.csv" "$work/a2a-ompi-shm3.csv" shm "Open MPI"
  table "All-to-all: ring backend vs Open MPI TCP loopback (2 ranks)" "$work/a2a-ring.csv" "$work/a2a-ompi-tcp.csv" ring "Open MPI tcp"
  table "All-to-all: ring backend vs Open MPI TCP loopback (3 ranks on $(nproc) cores)" "$work/a2a-ring3.csv" \
      "$work/a2a-ompi-tcp3.csv" ring "Open MPI tcp"
  table "All-to-all: ring backend vs Open MPI TCP loopback (4 ranks on $(nproc) cores)" "$work/a2a-ring4.csv" \
      "$work/a2a-ompi-tcp4.csv" ring "Open MPI tcp"
  table "All-to-all: MPI backend (Java, FFM) vs C MPI_Alltoall, both Open MPI (2 ranks)" "$work/a2a-mpi.csv" \
      "$work/a2a-ompi-c.csv" mpi "C"
}

case $mode in
  symmetric) run_symmetric "${2:-64K,1M,16M}" ;;
  sendrecv) run_sendrecv "${2:-0,8,4K,64K,1M}" ;;
  alltoall) run_alltoall "${2:-4K,64K,1M}" ;;
  sweep) run_sweep "${2:-4K,64K,1M,16M}" ;;
  decode) run_decode ;;
  oversub) run_oversub "${2:-4K,64K,1M}" ;;
  all) run_sweep "${2:-4K,64K,1M,16M}"; run_decode; run_oversub "4K,64K,1M"; run_sendrecv "0,8,4K,64K,1M"
       run_alltoall "4K,64K,1M" ;;
esac
