#!/usr/bin/env bash
# portability.sh — one jar on every ISA: runs the jar that Maven built on this (x86) machine,
# unchanged, on JDKs of other ISAs under qemu user-mode emulation, and proves that all-reduce
# results are bit-identical to x86's. See docs/portability.md for the matrix and its limits.
#
# usage: test-harness/portability.sh [LEG ...]
#   LEG: neon sve256 sve512 s390x ring (the default set), riscv64, ppc64le (opt-in)
#     neon     aarch64, QEMU_CPU=cortex-a72      NEON, 128-bit vectors
#     sve256   aarch64, QEMU_CPU=max,sve256=on   SVE, 256-bit
#     sve512   aarch64, QEMU_CPU=max             SVE, 512-bit
#     s390x    s390x,   QEMU_CPU=max             128-bit, big-endian
#     ring     s390x,   QEMU_CPU=max             the socket ring backend instead of SHM (big-endian)
#     riscv64  riscv64, QEMU_CPU=rv64,v=true,vlen=256 with -XX:+UseRVV
#     ppc64le  ppc64le, QEMU_CPU=power10
#
# Before the legs, the x86 reference: the checksum run on this machine's JDK at its preferred
# width, and again at DSCOMM_VECTOR_BITS=256 and 0 (scalar); all must agree.
# Every leg runs, with the emulated JDK as JAVA_HOME: bin/dscomm doctor (ISA, byte order and
# vector width must be the leg's), bench -n 2 --check (fp32, bf16, fp16; sum, max; 4K and 256K),
# demo -n 2 (partial sums in the symmetric tensor), and ChecksumScenario on 3 ranks whose per-case
# checksums must equal x86's; with --symmetric, every case also runs on a slice of the symmetric
# tensor (the zero-copy SHM all-reduce) and must give the bits of the copy path.
# Prints one line per leg and exits 1 if any leg fails (2 on bad usage).
#
# Environment:
#   DSCOMM_EMULATED_JDK_TOOL   the shared emulated-jdk tool (default: shared/tools/emulated-jdk
#                              in the nearest ancestor directory that has one)
#   DSCOMM_PORTABILITY_OUT     logs (default target/portability)
#   DSCOMM_PORTABILITY_TIMEOUT collective timeout (DSCOMM_TIMEOUT) of the emulated legs (default 300s:
#                              the library's 30 s hang guard is too short for qemu on a loaded host);
#                              the legs also set DSCOMM_PEER_LOST_TIMEOUT=60s (heartbeat silence bound)
#   DSCOMM_PORTABILITY_SEED    checksum seed (default 20261126)
#   DSCOMM_PORTABILITY_REPEAT  repetitions per checksum case (default 2; all must agree)
#   DSCOMM_PORTABILITY_COUNTS  element counts of the checksum cases (default 1,15,33,65,4099,16411:
#                              tails below and above one vector of every width, an odd length, and
#                              past the 64 KiB small-message limit for 4- and 8-byte types); the
#                              Vector API's cold path is very slow under emulation, keep them small
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
out=${DSCOMM_PORTABILITY_OUT:-$here/target/portability}
seed=${DSCOMM_PORTABILITY_SEED:-20261126}
repeat=${DSCOMM_PORTABILITY_REPEAT:-2}
counts=${DSCOMM_PORTABILITY_COUNTS:-1,15,33,65,4099,16411}
ranks=3              # three, so that the order of floating-point additions could matter
# The rank program is a test class, in neither shipped jar: the ranks get the tool's test classes
# patched into module ds.comm.tool (bin/dscomm build compiles them).
test_classes=$here/test-harness/target/test-classes
scenario=(--jvm-opt "--patch-module=ds.comm.tool=$test_classes" -- -m ds.comm.tool/ds.comm.tool.scenario.ChecksumScenario)
fallback=$here/test-harness/emulated-jdk-sid.sh

legs=("$@")
[ ${#legs[@]} -gt 0 ] || legs=(neon sve256 sve512 s390x ring)

# leg -> "arch|QEMU_CPU|expected vector bits|byte order|backend|extra JAVA_TOOL_OPTIONS"
leg_spec() {
  case $1 in
    neon)    echo "aarch64|cortex-a72|128|LITTLE_ENDIAN|shm|" ;;
    sve256)  echo "aarch64|max,sve256=on|256|LITTLE_ENDIAN|shm|" ;;
    sve512)  echo "aarch64|max|512|LITTLE_ENDIAN|shm|" ;;
    s390x)   echo "s390x|max|128|BIG_ENDIAN|shm|" ;;
    ring)    echo "s390x|max|128|BIG_ENDIAN|ring|" ;;
    riscv64) echo "riscv64|rv64,v=true,vlen=256|256|LITTLE_ENDIAN|shm|-XX:+UnlockDiagnosticVMOptions -XX:+UseRVV" ;;
    ppc64le) echo "ppc64le|power10|128|LITTLE_ENDIAN|shm|" ;;
    *) return 1 ;;
  esac
}
for l in "${legs[@]}"; do
  leg_spec "$l" >/dev/null || { echo "portability: unknown leg '$l' (neon sve256 sve512 s390x ring riscv64 ppc64le)" >&2; exit 2; }
done

find_shared_tool() {
  if [ -n "${DSCOMM_EMULATED_JDK_TOOL:-}" ]; then echo "$DSCOMM_EMULATED_JDK_TOOL"; return; fi
  local d=$here
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    [ -x "$d/shared/tools/emulated-jdk" ] && { echo "$d/shared/tools/emulated-jdk"; return; }
  done
  echo ""
}
shared_tool=$(find_shared_tool)

rm -rf "$out" && mkdir -p "$out"
# The legs set JAVA_HOME, QEMU_CPU and JAVA_TOOL_OPTIONS; each leg starts from the caller's values.
caller_env=$(export -p | grep -E '^declare -x (JAVA_HOME|QEMU_CPU|JAVA_TOOL_OPTIONS|DSCOMM_TIMEOUT|DSCOMM_PEER_LOST_TIMEOUT|DSCOMM_WARMUP)=' || true)
say() { echo "portability: $*"; }
# run LOG SECONDS CMD...: runs with a hard deadline, output to LOG; returns the command's status.
run() {
  local log=$1 secs=$2; shift 2
  timeout --kill-after=10 "$secs" "$@" >"$log" 2>&1
}
tail_of() { sed 's/^/    | /' "$1" | tail -n "${2:-15}"; }
# The per-case checksum lines of rank 0 (the "[rank 0] " prefix removed), in order.
checksums_of() { sed -n 's/^\[rank 0\] \(checksum .*\)$/\1/p' "$1"; }

# The JVM may only use a JDK that can start the launcher: loading java.security is what fails
# when a JDK's conf/ symlinks point outside its root (see test-harness/emulated-jdk-sid.sh).
jdk_usable() {
  [ -x "$1/bin/java" ] && timeout 120 "$1/bin/java" -XshowSettings:security:properties -version >/dev/null 2>&1
}

declare -A jdk_home jdk_source
resolve_jdk() {
  local arch=$1 log=$out/jdk-$1.log home="" why=""
  [ -n "${jdk_home[$arch]:-}" ] && return 0
  if [ -n "$shared_tool" ]; then
    if home=$(bash "$shared_tool" "$arch" 2>"$log"); then
      if jdk_usable "$home"; then
        jdk_home[$arch]=$home; jdk_source[$arch]="shared tool"; return 0
      fi
      if [ ! -r "$home/conf/security/java.security" ]; then
        why="the shared tool's JDK ($home) cannot load java.security: it links to $(readlink -m "$home/conf/security/java.security"), absent here"
      else
        why="the shared tool's JDK ($home) fails: $("$home/bin/java" -XshowSettings:security:properties -version 2>&1 | grep -v '^ *$' | tail -n 1)"
      fi
    else
      why="the shared tool failed: $(grep -v '^ *$' "$log" | tail -n 1)"
    fi
  else
    why="no shared/tools/emulated-jdk found"
  fi
  say "$arch: $why; using the project's fallback $(basename "$fallback") (Debian sid)"
  if home=$(bash "$fallback" "$arch" 2>>"$log") && jdk_usable "$home"; then
    jdk_home[$arch]=$home; jdk_source[$arch]="fallback: $why"; return 0
  fi
  say "$arch: the fallback failed too:"; tail_of "$log" >&2
  return 1
}

# --- x86 reference ------------------------------------------------------------------------
status=0
x86_doctor=$out/x86-doctor.log
if ! run "$x86_doctor" 900 bin/dscomm doctor; then
  say "x86: bin/dscomm doctor failed (building the jar?)"; tail_of "$x86_doctor"; exit 1
fi
if [ ! -f "$test_classes/ds/comm/tool/scenario/ChecksumScenario.class" ]; then
  run "$out/x86-build.log" 900 bin/dscomm build -q || { say "x86: bin/dscomm build failed"; tail_of "$out/x86-build.log"; exit 1; }
fi
x86_bits=$(sed -n 's/^vectors: *\([0-9]*\)-bit in use.*/\1/p' "$x86_doctor")
declare -A reference
for backend in shm ring; do
  need=0
  for l in "${legs[@]}"; do [ "$(leg_spec "$l" | cut -d'|' -f5)" = "$backend" ] && need=1; done
  [ $need = 1 ] || [ $backend = shm ] || continue
  for bits in preferred 256 0; do
    # 256-bit only where it is not the preferred width, and for SHM (the ring runs the same kernels)
    [ "$bits" = 256 ] && { [ "${x86_bits:-0}" -le 256 ] || [ $backend = ring ]; } && continue
    case $bits in preferred) species="${x86_bits:-?}-bit" ;; 0) species=scalar ;; *) species="$bits-bit" ;; esac
    name="x86 $backend"
    log=$out/x86-$backend-$bits.log
    started=$SECONDS
    envs=(--env DSCOMM_BACKEND=$backend)
    [ "$bits" = preferred ] || envs+=(--env DSCOMM_VECTOR_BITS=$bits)
    if run "$log" 600 bin/dscomm launch -n $ranks --timeout 500 "${envs[@]}" "${scenario[@]}" --seed "$seed" --repeat "$repeat" --counts "$counts" --symmetric; then
      checksums_of "$log" >"$log.sums"
      total=$(sed -n 's/^checksum all all [0-9]* //p' "$log.sums")
      if [ -z "${reference[$backend]:-}" ]; then
        reference[$backend]=$log.sums; verdict=PASS; note="reference"
      elif cmp -s "$log.sums" "${reference[$backend]}"; then
        verdict=PASS; note="equal"
      else
        verdict=FAIL; note="DIFFERS"; status=1
      fi
    else
      verdict=FAIL; total="-"; note="run failed"; status=1
    fi
    printf 'leg %-18s isa=%-8s %-13s cpu=%-14s species=%-7s checksum=%s (%s) %4ss %s\n' "$name" amd64 LITTLE_ENDIAN \
      "native" "$species" "${total:--}" "$note" $((SECONDS - started)) "$verdict"
    [ "$verdict" = PASS ] || { tail_of "$log"; [ -f "$log.sums" ] && diff "${reference[$backend]}" "$log.sums" | head -20; }
  done
done
[ -n "${reference[shm]:-}" ] || { say "no x86 reference checksum; cannot judge the legs"; exit 1; }

# --- emulated legs ------------------------------------------------------------------------
for leg in "${legs[@]}"; do
  IFS='|' read -r arch cpu bits order backend tool_opts <<<"$(leg_spec "$leg")"
  started=$SECONDS
  dir=$out/$leg; mkdir -p "$dir"
  problems=()
  if ! resolve_jdk "$arch"; then
    printf 'leg %-18s isa=%-8s cpu=%-14s FAIL (no emulated JDK)\n' "$leg" "$arch" "$cpu"; status=1; continue
  fi
  home=${jdk_home[$arch]}
  # Peer-lost silence bound too: qemu runs 10-50x slower and may starve a heartbeat thread for
  # seconds, which the 3 s default would take for a lost rank.
  # No JIT warm-up in init(): under qemu the interpreter is 10-50x slower and the legs check
  # results, not speed (the warm-up would spend its whole budget in every init).
  export JAVA_HOME=$home QEMU_CPU=$cpu DSCOMM_TIMEOUT=${DSCOMM_PORTABILITY_TIMEOUT:-300s} DSCOMM_PEER_LOST_TIMEOUT=60s \
      DSCOMM_WARMUP=0
  if [ -n "$tool_opts" ]; then export JAVA_TOOL_OPTIONS="$tool_opts"; else unset JAVA_TOOL_OPTIONS; fi

  # doctor: the emulated JVM must report the leg's ISA, byte order and vector width.
  species="?"
  if run "$dir/doctor.log" 300 bin/dscomm doctor; then
    isa_seen=$(sed -n 's/^isa: *\([^,]*\),.*/\1/p' "$dir/doctor.log")
    order_seen=$(sed -n 's/^byte order: *//p' "$dir/doctor.log")
    species=$(sed -n 's/^vectors: *\([0-9]*-bit\|scalar\) in use.*/\1/p' "$dir/doctor.log")
    [ "$isa_seen" = "$arch" ] || problems+=("doctor: isa $isa_seen, expected $arch")
    [ "$order_seen" = "$order" ] || problems+=("doctor: byte order $order_seen, expected $order")
    [ "$species" = "$bits-bit" ] || problems+=("doctor: vectors $species, expected $bits-bit (QEMU_CPU=$cpu not in effect?)")
  else
    problems+=("doctor failed")
  fi

  # bench with --check: every result exact and identical on both ranks.
  run "$dir/bench.log" 900 bin/dscomm bench -n 2 --backend "$backend" --check --dtype fp32,bf16,fp16 --op sum,max \
      --sizes 4K,256K --iters 5 --warmup 1 --format csv --timeout 800 || problems+=("bench --check failed")

  # demo: tensor-parallel MLP on 2 ranks, bit-identical on both and close to the unsharded model.
  DSCOMM_BACKEND=$backend run "$dir/demo.log" 900 bin/dscomm demo -n 2 --layers 2 --tokens 8 --hidden 128 --warmup 0 \
      || problems+=("demo failed")
  grep -q '^\[rank 0\] PASS\|^PASS' "$dir/demo.log" || [ ${#problems[@]} -gt 0 ] || problems+=("demo printed no PASS")

  # checksum: equal, case by case, to x86's for the same backend.
  total="-"; note=""
  if run "$dir/checksum.log" 1200 bin/dscomm launch -n $ranks --timeout 1100 --env DSCOMM_BACKEND="$backend" \
      "${scenario[@]}" --seed "$seed" --repeat "$repeat" --counts "$counts" --symmetric; then
    checksums_of "$dir/checksum.log" >"$dir/checksum.sums"
    grep -q 'symmetric [0-9]* cases bit-identical to the copy path' "$dir/checksum.log" \
      || problems+=("the symmetric tensor's results differ from the copy path's (see $dir/checksum.log)")
    total=$(sed -n 's/^checksum all all [0-9]* //p' "$dir/checksum.sums")
    if cmp -s "$dir/checksum.sums" "${reference[$backend]}"; then
      note="= x86"
    else
      note="!= x86"
      # Name the cases that differ: "dtype op count: x86 -> leg".
      join -j1 <(awk '{print $2"_"$3"_"$4, $5}' "${reference[$backend]}" | sort) \
               <(awk '{print $2"_"$3"_"$4, $5}' "$dir/checksum.sums" | sort) \
        | awk '$2 != $3 {gsub("_"," ",$1); print "checksum differs: " $1 ": x86 " $2 ", " leg " " $3}' leg="$leg" >"$dir/differences"
      problems+=("checksum differs from x86 in $(wc -l <"$dir/differences") cases (see $dir/differences)")
    fi
  else
    problems+=("checksum run failed")
  fi
  unset JAVA_HOME QEMU_CPU JAVA_TOOL_OPTIONS DSCOMM_TIMEOUT DSCOMM_PEER_LOST_TIMEOUT DSCOMM_WARMUP
  eval "$caller_env"

  verdict=PASS; [ ${#problems[@]} -eq 0 ] || { verdict=FAIL; status=1; }
  printf 'leg %-18s isa=%-8s %-13s cpu=%-14s species=%-7s checksum=%s (%s) %4ss %s [jdk: %s]\n' \
    "$leg${backend:+ $backend}" "$arch" "$order" "$cpu" "$species" "$total" "$note" $((SECONDS - started)) "$verdict" \
    "${jdk_source[$arch]}"
  for p in "${problems[@]}"; do echo "    $p"; done
  if [ "$verdict" = FAIL ]; then
    for f in doctor bench demo checksum; do
      if grep -qi 'exception\|error\|fail' "$dir/$f.log" 2>/dev/null; then echo "  $f.log:"; tail_of "$dir/$f.log" 12; fi
    done
    [ -f "$dir/differences" ] && head -n 20 "$dir/differences"
  fi
done
[ $status = 0 ] && say "all legs PASS (logs in $out)" || say "FAILED (logs in $out)"
exit $status
