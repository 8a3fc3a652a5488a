#!/usr/bin/env bash
# bench/jmh.sh — JMH benchmarks of the reduction kernels (src/test/java/ds/comm/bench):
# SUM of 2 and 8 sources (fp32, bf16) at 64 KiB and 16 MiB per source, and the ring's and MPI's
# bulk bf16/fp16 <-> fp32 conversions (ConvertBench), next to MemorySegment.copy of the same bytes,
# and tables of medians and ratios at the end.
#
#   bench/jmh.sh                         # short run: -f 1 -wi 3 -i 5 -w 5s -r 1s
#   bench/jmh.sh -f 1 -wi 5 -i 10        # any JMH options instead
#   DSCOMM_VECTOR_BITS=256 bench/jmh.sh  # benchmark another width (0 = scalar)
#
# Builds with `bin/dscomm build` (Maven with the JDK >= 25 bin/dscomm finds; test classes are
# compiled, JMH's annotation processor generates the harness) and runs on that same JDK.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bin/dscomm build -q >&2

# The JDK: JAVA_HOME if it is >= 25 (bin/dscomm prefers it too), else the one bin/dscomm's
# discovery settles on, as doctor reports it ("jdk: <vm> <version> (<java.home>)").
java_home=""
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] \
   && "$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | grep -Eq 'java.specification.version = (2[5-9]|[3-9][0-9])'; then
  java_home=$JAVA_HOME
else
  java_home=$(DSCOMM_VECTOR_BITS= bin/dscomm doctor 2>/dev/null | sed -n 's/^jdk:.*(\(.*\))$/\1/p')
fi
[ -x "$java_home/bin/java" ] || { echo "bench/jmh.sh: no JDK >= 25 found" >&2; exit 2; }

cp_file=target/bench.classpath
JAVA_HOME=$java_home mvn -B -q -pl ds-comm dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$(pwd)/$cp_file" >&2

if [ $# -eq 0 ]; then
  # 5 s warm-up iterations: until C2 has compiled a kernel it runs interpreted, thousands of
  # times slower, and 1 s iterations can end before the first compilation does.
  set -- -f 1 -wi 3 -i 5 -w 5s -r 1s
fi
exec "$java_home/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "target/test-classes:target/classes:$(cat "$cp_file")" ds.comm.bench.KernelBenchMain "$@"
