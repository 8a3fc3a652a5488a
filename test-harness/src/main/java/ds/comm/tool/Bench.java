package ds.comm.tool;

import ds.comm.Backend;
import ds.comm.CommConfig;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code bin/dscomm bench}: osu-style all-reduce sweep over sizes, dtypes and ops.
 *
 * <p>Started without launcher variables it launches its own ranks ({@code -n}, {@code --nodes});
 * started by a launcher (bin/dscomm launch, mpirun, srun, torchrun) it is one rank, and only
 * rank 0 prints. Each iteration: refill the buffer from a pristine copy, barrier, time one
 * all-reduce. An iteration's time is the slowest rank's (a MAX all-reduce of the per-iteration
 * times after the sweep point). {@code memcpy_us} is rank 0's median copy of the same bytes in
 * the same run, so rows can be read as ratios on a noisy machine.
 */
final class Bench {

    /**
     * Untimed calls per (dtype, op) before its sweep, enough for C2 to compile the call path
     * (an explicit --warmup W makes it 100 W, for quick functional runs).
     */
    static final int WARMUP_CALLS = 3000;

    static final String CSV_HEADER = "backend,dtype,op,ranks,nodes,bytes,iters,p50_us,p99_us,busbw_gbps,memcpy_us";

    private static final String USAGE = """
            usage: bin/dscomm bench [-n N] [--nodes M] [--backend auto|shm|ring|hier|mpi]
                                    [--dtype fp32,bf16,fp16,...] [--op sum,max,...]
                                    [--sizes 4K,64K,1M,16M] [--iters K] [--warmup W]
                                    [--check] [--format table|csv] [--timeout S]
              -n N          ranks to launch (default 2; ignored under an external launcher)
              --nodes M     simulate M nodes (default 1)
              --backend B   backend for the world communicator (default auto)
              --dtype LIST  fp32 fp64 bf16 fp16 int32 int64 (default fp32)
              --op LIST     sum prod min max (default sum)
              --sizes LIST  message sizes in bytes, K/M/G suffixes (default 4K,64K,1M,16M)
              --iters K     timed iterations per point (default: by size, 20 to 1000)
              --warmup W    untimed iterations per point (default: iters / 5, at least 5), after
                            3000 (or 100 W) untimed small calls per dtype and op
              --check       verify every result against the exact reference and across ranks
              --format F    table (with progress) or csv (header then one row per point)
              --timeout S   launcher timeout in seconds (default 600)
            """;

    /** Parsed options. */
    record Options(int ranks, int nodes, Backend backend, List<DType> dtypes, List<ReduceOp> ops, List<Long> sizes,
                   int iters, int warmup, boolean check, boolean csv, int timeoutSeconds) {
    }

    private Bench() {
    }

    static int run(String[] argv) throws Exception {
        Options o = parse(argv);
        if (o == null) {
            System.out.print(USAGE);
            return 0;
        }
        if (!RankEnvironment.present()) {
            List<String> env = new ArrayList<>();
            if (o.backend() != Backend.AUTO) env.add("DSCOMM_BACKEND=" + o.backend().label());
            return SelfLaunch.launch(o.ranks(), o.nodes(), o.timeoutSeconds(), env, "ds.comm.tool.Main",
                    prepend("bench", argv));
        }
        return runAsRank(o, System.out);
    }

    private static String[] prepend(String first, String[] rest) {
        String[] out = new String[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }

    static Options parse(String[] argv) {
        int ranks = 2;
        int nodes = 1;
        Backend backend = Backend.AUTO;
        List<DType> dtypes = List.of(DType.FP32);
        List<ReduceOp> ops = List.of(ReduceOp.SUM);
        List<Long> sizes = List.of(4L << 10, 64L << 10, 1L << 20, 16L << 20);
        int iters = 0;
        int warmup = -1;
        boolean check = false;
        boolean csv = false;
        int timeout = 600;
        Args a = new Args(argv);
        for (String t = a.next(); t != null; t = a.next()) {
            String name = Args.name(t);
            switch (name) {
                case "-h", "--help" -> {
                    return null;
                }
                case "-n" -> ranks = Args.positiveInt("-n", a.value(t, name));
                case "--nodes" -> nodes = Args.positiveInt("--nodes", a.value(t, name));
                case "--backend" -> {
                    try {
                        backend = Backend.parse(a.value(t, name));
                    } catch (IllegalArgumentException e) {
                        throw new Main.UsageException(e.getMessage());
                    }
                }
                case "--dtype" -> dtypes = list(a.value(t, name), s -> DType.valueOf(s.toUpperCase(Locale.ROOT)), "--dtype");
                case "--op" -> ops = list(a.value(t, name), s -> ReduceOp.valueOf(s.toUpperCase(Locale.ROOT)), "--op");
                case "--sizes" -> sizes = list(a.value(t, name), s -> Args.size("--sizes", s), "--sizes");
                case "--iters" -> iters = Args.positiveInt("--iters", a.value(t, name));
                case "--warmup" -> {
                    String v = a.value(t, name);
                    warmup = v.equals("0") ? 0 : Args.positiveInt("--warmup", v);
                }
                case "--check" -> check = true;
                case "--format" -> {
                    String f = a.value(t, name);
                    if (!f.equals("csv") && !f.equals("table")) throw new Main.UsageException("--format must be table or csv, got '" + f + "'");
                    csv = f.equals("csv");
                }
                case "--timeout" -> timeout = Args.positiveInt("--timeout", a.value(t, name));
                default -> throw new Main.UsageException("unknown option '" + t + "'; see bin/dscomm bench --help");
            }
        }
        if (nodes > ranks) throw new Main.UsageException("--nodes " + nodes + " exceeds -n " + ranks);
        return new Options(ranks, nodes, backend, dtypes, ops, sizes, iters, warmup, check, csv, timeout);
    }

    private static <T> List<T> list(String v, java.util.function.Function<String, T> f, String name) {
        List<T> out = new ArrayList<>();
        for (String s : v.split(",")) {
            if (s.isBlank()) continue;
            try {
                out.add(f.apply(s.trim()));
            } catch (IllegalArgumentException e) {
                throw new Main.UsageException(name + ": '" + s.trim() + "' is not valid");
            }
        }
        if (out.isEmpty()) throw new Main.UsageException(name + " needs at least one value");
        return out;
    }

    /** Iterations for a message size when --iters is not given: more for small messages. */
    static int defaultIters(long bytes) {
        if (bytes <= (64 << 10)) return 1000;
        if (bytes <= (1 << 20)) return 200;
        if (bytes <= (16 << 20)) return 40;
        return 20;
    }

    static int runAsRank(Options o, PrintStream out) {
        CommConfig.Builder cfg = CommConfig.builder();
        if (o.backend() != Backend.AUTO) cfg.backend(o.backend());
        int failures = 0;
        try (Communicator comm = Communicator.init(cfg.build()); Arena arena = Arena.ofConfined()) {
            boolean lead = comm.rank() == 0;
            long max = o.sizes().stream().mapToLong(Long::longValue).max().orElse(0);
            int maxIters = o.iters() > 0 ? o.iters() : o.sizes().stream().mapToInt(s -> defaultIters(s)).max().orElse(1);
            MemorySegment buf = arena.allocate(Math.max(max, 8), 64);
            MemorySegment pristine = arena.allocate(Math.max(max, 8), 64);
            MemorySegment expected = arena.allocate(Math.max(max, 8), 64);
            MemorySegment times = arena.allocate(ValueLayout.JAVA_DOUBLE, maxIters);
            MemorySegment sums = arena.allocate(ValueLayout.JAVA_LONG, comm.size());
            MemorySegment mySum = arena.allocate(ValueLayout.JAVA_LONG);
            if (lead) {
                if (o.csv()) out.println(CSV_HEADER);
                else out.printf("# ds-comm bench: %d ranks, %d node(s), %s%n", comm.size(), comm.nodes(), comm.backend());
            }
            int points = o.dtypes().size() * o.ops().size() * o.sizes().size();
            int done = 0;
            for (DType type : o.dtypes()) {
                for (ReduceOp op : o.ops()) {
                    // JIT warm-up of this (dtype, op) path before anything is timed: the first
                    // sweep point would otherwise measure the interpreter and C1, not ds-comm.
                    // Through point() itself, untimed, so that the refill, the barrier and the
                    // timing loop are compiled too: warming only the all-reduce left the first
                    // point of a ring sweep 3-10x slower than the same size measured later.
                    long small = Math.min(o.sizes().get(0), 64L << 10);
                    small -= small % type.byteSize();
                    int calls = o.warmup() >= 0 ? o.warmup() * 100 : WARMUP_CALLS;
                    point(comm, false, type, op, small, 0, calls, buf.asSlice(0, small), pristine.asSlice(0, small),
                            expected.asSlice(0, small), times, mySum, sums);
                    if (lead && !o.csv()) {
                        out.printf("%n# %s %s%n%10s %10s %10s %11s %10s %9s%n", type.name().toLowerCase(Locale.ROOT),
                                op.name().toLowerCase(Locale.ROOT), "bytes", "p50_us", "p99_us", "busbw_GB/s", "memcpy_us", "p50/copy");
                    }
                    for (long requested : o.sizes()) {
                        long bytes = requested - requested % type.byteSize();
                        int iters = o.iters() > 0 ? o.iters() : defaultIters(bytes);
                        int warm = o.warmup() >= 0 ? o.warmup() : Math.max(5, iters / 5);
                        if (lead && !o.csv()) {
                            System.err.printf("\r[%d/%d] %s %s %s ...", ++done, points, type, op, Args.humanSize(bytes));
                        }
                        String bad = point(comm, o.check(), type, op, bytes, iters, warm, buf.asSlice(0, bytes),
                                pristine.asSlice(0, bytes), expected.asSlice(0, bytes), times, mySum, sums);
                        if (bad != null) {
                            failures++;
                            System.err.println("bench: rank " + comm.rank() + ": CHECK FAILED " + type + " " + op + " " + bytes
                                    + " bytes: " + bad);
                        }
                        if (lead) report(out, o.csv(), comm, type, op, bytes, iters, times, pristine.asSlice(0, bytes), buf.asSlice(0, bytes));
                    }
                }
            }
            if (lead && !o.csv()) System.err.println();
            // Everyone learns whether anyone failed, so every rank's exit code tells the truth.
            MemorySegment f = arena.allocate(ValueLayout.JAVA_INT);
            f.set(ValueLayout.JAVA_INT, 0, failures);
            comm.allReduce(f, DType.INT32, ReduceOp.SUM);
            int total = f.get(ValueLayout.JAVA_INT, 0);
            if (lead && o.check()) {
                (total == 0 ? out : System.err).println(total == 0 ? "# check: every result exact and bit-identical on all "
                        + comm.size() + " ranks" : "# check: " + total + " failure(s)");
            }
            return total == 0 ? 0 : 1;
        }
    }

    /** Runs one sweep point; returns a description of the first wrong result, or null. */
    private static String point(Communicator comm, boolean check, DType type, ReduceOp op, long bytes, int iters, int warm,
                                MemorySegment buf, MemorySegment pristine, MemorySegment expected, MemorySegment times,
                                MemorySegment mySum, MemorySegment sums) {
        Pattern.fill(pristine, type, op, comm.rank(), 0);
        if (check) {
            long n = bytes / type.byteSize();
            for (long i = 0; i < n; i++) Pattern.put(expected, type, i, Pattern.expected(op, comm.size(), 0, i));
        }
        String bad = null;
        for (int it = -warm; it < iters; it++) {
            MemorySegment.copy(pristine, 0, buf, 0, bytes);
            comm.barrier();
            long t0 = System.nanoTime();
            comm.allReduce(buf, type, op);
            long t1 = System.nanoTime();
            if (it >= 0) times.setAtIndex(ValueLayout.JAVA_DOUBLE, it, (t1 - t0) / 1e3);
            if (check && bad == null && buf.mismatch(expected) >= 0) {
                long i = buf.mismatch(expected) / type.byteSize();
                bad = "iteration " + it + ": " + Pattern.describe(buf, type, op, comm.size(), 0, i);
            }
        }
        if (check) {
            mySum.set(ValueLayout.JAVA_LONG, 0, Pattern.checksum(buf, type));
            comm.allGather(mySum, sums, DType.INT64);
            for (int r = 1; r < comm.size() && bad == null; r++) {
                if (sums.getAtIndex(ValueLayout.JAVA_LONG, r) != sums.getAtIndex(ValueLayout.JAVA_LONG, 0)) {
                    bad = "rank " + r + "'s result differs from rank 0's (checksums " + Long.toHexString(sums.getAtIndex(ValueLayout.JAVA_LONG, r))
                            + " vs " + Long.toHexString(sums.getAtIndex(ValueLayout.JAVA_LONG, 0)) + ")";
                }
            }
        }
        // The slowest rank defines each iteration's time.
        comm.allReduce(times.asSlice(0, iters * 8L), DType.FP64, ReduceOp.MAX);
        return bad;
    }

    private static void report(PrintStream out, boolean csv, Communicator comm, DType type, ReduceOp op, long bytes, int iters,
                               MemorySegment times, MemorySegment src, MemorySegment dst) {
        double[] t = new double[iters];
        for (int i = 0; i < iters; i++) t[i] = times.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
        Arrays.sort(t);
        double p50 = percentile(t, 50);
        double p99 = percentile(t, 99);
        double[] copy = new double[iters];
        for (int i = 0; i < iters; i++) {
            long t0 = System.nanoTime();
            MemorySegment.copy(src, 0, dst, 0, bytes);
            copy[i] = (System.nanoTime() - t0) / 1e3;
        }
        Arrays.sort(copy);
        double memcpy = percentile(copy, 50);
        int n = comm.size();
        // Bus bandwidth as in nccl-tests: an all-reduce moves 2(n-1)/n of the buffer per rank.
        double busbw = p50 > 0 && n > 1 ? bytes * 2.0 * (n - 1) / n / (p50 * 1e3) : 0;
        String t1 = type.name().toLowerCase(Locale.ROOT);
        String o1 = op.name().toLowerCase(Locale.ROOT);
        if (csv) {
            out.printf(Locale.ROOT, "%s,%s,%s,%d,%d,%d,%d,%.2f,%.2f,%.3f,%.2f%n", comm.backend().backend().label(), t1, o1, n,
                    comm.nodes(), bytes, iters, p50, p99, busbw, memcpy);
        } else {
            out.printf(Locale.ROOT, "%10s %10.2f %10.2f %11.3f %10.2f %9.1f%n", Args.humanSize(bytes), p50, p99, busbw, memcpy,
                    memcpy > 0 ? p50 / memcpy : 0);
        }
        out.flush();
    }

    /** Nearest-rank percentile of sorted values. */
    static double percentile(double[] sorted, int p) {
        if (sorted.length == 0) return 0;
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }
}
