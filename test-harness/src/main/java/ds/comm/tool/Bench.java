package ds.comm.tool;

import ds.comm.Backend;
import ds.comm.CommConfig;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.lanes.JitActivity;
import ds.comm.lanes.KernelWarmUp;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * the same run, so rows can be read as ratios on a noisy machine. With {@code --buffers
 * symmetric} the buffer is the communicator's symmetric tensor ({@code allocateSymmetric}): the
 * SHM backend then reduces in place in every rank's tensor instead of copying through its
 * segments; an all-to-all's input blocks are then a symmetric tensor too, which SHM peers copy
 * their blocks out of directly.
 */
final class Bench {

    /**
     * Untimed calls per (dtype, op) before its sweep, enough for C2 to compile the call path
     * (an explicit --warmup W makes it 100 W, for quick functional runs). HotSpot compiles a
     * method without loops with C2 after 5 000 invocations (Tier4InvocationThreshold), and a
     * sweep iteration invokes each method of the path once or twice: with the 3 000 calls used
     * before, a 4 KiB MPI-backend sweep ran its whole path (Communicator.runAllReduce,
     * MpiCollective.allReduce, barrier) in C1 code and measured 2.2 us where the compiled path
     * takes 1.5 us (docs/performance.md). The first {@link #WARMUP_FLOOR_CALLS} always run; the
     * rest only while the warm-up is under {@link #WARMUP_NANOS}, so that slow (oversubscribed)
     * runs do not grow.
     */
    static final int WARMUP_CALLS = 15_000;
    /** Warm-up calls made whatever they cost (the whole warm-up before {@link #WARMUP_CALLS} was raised). */
    static final int WARMUP_FLOOR_CALLS = 3000;
    /** Warm-up calls between two checks of the time budget. */
    static final int WARMUP_ROUND_CALLS = 1000;
    /**
     * Least wall time of the warm-up, per (dtype, op), even once {@link #WARMUP_CALLS} are made:
     * C2 keeps compiling for a second or more after the call counts are reached, and its threads
     * take the cores the ranks spin on (the first point of a sweep measured its own repetition's
     * 1.3-2x p50 and 5-10x mean a moment later).
     */
    static final long WARMUP_MIN_NANOS = 1_500_000_000L;
    /** No warm-up round starts after this much wall time, per (dtype, op): slow (oversubscribed) runs do not grow. */
    static final long WARMUP_NANOS = 2_000_000_000L;
    /** Longest wait, per point, for the JIT to finish compiling that point's path ({@link #settle}). */
    static final long SETTLE_NANOS = 3_000_000_000L;
    /** Least time spent on untimed calls of a point's own size before the JIT's empty queue counts ({@link #settle}). */
    static final long SETTLE_MIN_NANOS = 1_000_000_000L;
    /**
     * Least untimed calls of a point before the JIT's empty queue counts: none by count, so every
     * point settles for {@link #SETTLE_MIN_NANOS} at least. A point's loop is entered once per
     * round, so C2 compiles it only once it has gone round some 10^5 times in all (the tiered
     * thresholds for loops); with 500 calls as the minimum the JIT's queue was empty because that
     * count was not yet reached, and -Xlog:jit+compilation put both C2 compiles of the decode
     * loop (its on-stack replacement and the method) inside the timed calls of a 2-rank 16 KiB
     * decode; perf sched put a C2 thread on one of the 2 vCPUs for 100 ms during sweep points,
     * both ranks on the other.
     */
    static final int SETTLE_MIN_POINT_CALLS = Integer.MAX_VALUE;

    static final String CSV_HEADER =
            "backend,dtype,op,ranks,nodes,bytes,iters,p50_us,p99_us,busbw_gbps,memcpy_us,mean_us,p999_us,max_us,collective";

    /**
     * What {@code --collective} times. {@code bytes} is osu's message size: the buffer of
     * allreduce and reduce, and for the others what one rank sends to or receives from one peer
     * (allToAll: each block; gather: each rank's input; scatter: each rank's output). Roots are
     * rank 0.
     */
    enum Timed {
        ALLREDUCE("allreduce"), ALLTOALL("alltoall"), GATHER("gather"), SCATTER("scatter"), REDUCE("reduce"),
        ALLGATHER("allgather"),
        /** Point-to-point ping-pong between ranks 0 and 1, timed by {@link PingPong}. */
        SENDRECV("sendrecv");

        final String label;

        Timed(String label) {
            this.label = label;
        }

        /** Whether every rank ends with the same bits (checked across ranks under --check). */
        boolean sameOnAllRanks() {
            return this == ALLREDUCE;
        }

        /** Bytes a rank's buffers span: N blocks for the exchanges. */
        long span(long bytes, int ranks) {
            return this == ALLREDUCE || this == REDUCE ? bytes : bytes * ranks;
        }

        /** nccl-tests' bus bandwidth factor: bytes moved per rank per byte of message. */
        double busFactor(int n) {
            return switch (this) {
                case ALLREDUCE -> 2.0 * (n - 1) / n;
                case ALLTOALL, GATHER, SCATTER, ALLGATHER -> n - 1;
                case REDUCE, SENDRECV -> 1;
            };
        }
    }

    private static final String USAGE = """
            usage: bin/dscomm bench [-n N] [--nodes M] [--backend auto|shm|ring|hier|mpi]
                                    [--dtype fp32,bf16,fp16,...] [--op sum,max,...]
                                    [--sizes 4K,64K,1M,16M] [--iters K] [--warmup W]
                                    [--pattern sweep|decode] [--compute-us N] [--cold]
                                    [--buffers copy|symmetric] [--check] [--format table|csv|json] [--jfr FILE]
                                    [--timeout S] [--collective C] [--async]
              -n N          ranks to launch (default 2; ignored under an external launcher)
              --nodes M     simulate M nodes (default 1)
              --backend B   backend for the world communicator (default auto)
              --dtype LIST  fp32 fp64 bf16 fp16 int32 int64 (default fp32)
              --op LIST     sum prod min max (default sum)
              --sizes LIST  message sizes in bytes, K/M/G suffixes (default 4K,64K,1M,16M)
              --iters K     timed iterations per point (default: by size, 20 to 1000)
              --warmup W    untimed iterations per point (default: iters / 5, at least 5; before
                            them, untimed calls of the point's size, for at least 1 s, then
                            while a rank's JIT compiles, up to 3 s), after 3000 untimed small
                            calls per dtype and op, then more up to 15000 calls and 1.5 s (none
                            started after 2 s); with W: 100 W, and exactly W per point
              --pattern P   sweep: refill, barrier, one timed call; an iteration's time is the
                            slowest rank's (default). decode: what a token pays: calls back to
                            back, no barrier, --compute-us of compute (refilling the buffer, then
                            busy work) between them, every call timed on every rank; statistics
                            over all ranks' calls
              --compute-us N  decode: microseconds of compute between calls (default 5)
              --stalls US   decode: list every call slower than US microseconds, per rank, with
                            the JVM uptime it started at (to match -Xlog:safepoint,gc logs) and
                            how long this rank sat runnable but not running (scheduler) during
                            that iteration; reads /proc/thread-self/schedstat twice per call
              --cold        time from the first call after init(): no untimed warm-up calls at
                            all (the first point then shows what a fresh process pays); the
                            bench's own loop code is compiled before init(), as a C loop's is
              --buffers B   copy: an ordinary native buffer (the all-reduce copies it through
                            shared memory; default). symmetric: the communicator's symmetric
                            tensor (Communicator.allocateSymmetric), reduced in place on SHM;
                            with --collective alltoall the input blocks are one, which SHM
                            peers read directly
              --check       verify every result against the exact reference and across ranks
              --format F    table (with progress), csv (header then one row per point) or json (one
                            object: the run, then "rows" with the csv's columns, "init_ms", "check")
              --jfr FILE    record a JFR file on every rank: FILE with ".rank<R>" inserted before its
                            extension (out.jfr -> out.rank0.jfr, out.rank1.jfr), holding a
                            ds.comm.Collective event for every call the bench makes (warm-up calls,
                            barriers and its own gathers included), group open/close, failures and a
                            few low-rate JDK events (GC pauses, safepoints); see docs/observability.md
              --timeout S   launcher timeout in seconds (default 600)
              --collective C  allreduce (default), alltoall, allgather, gather, scatter or reduce
                            (root 0), osu-style (osu_alltoall, osu_allgather, ...): the size is each block's
                            (alltoall: what one rank sends each peer). The csv's last column names it.
                            sendrecv: osu_latency's ping-pong between ranks 0 and 1, one-way latency =
                            round trip / 2 (same CSV columns; op "sendrecv", busbw = one-way bandwidth)
              --async       overlap of allReduceAsync with compute: per size, the blocking
                            all-reduce, compute of --compute-us (default: as long as the
                            all-reduce), both in sequence, and overlapped; ratio = overlapped /
                            max(compute, all-reduce), 1.0 = perfect overlap
            """;

    /** Parsed options. */
    record Options(int ranks, int nodes, Backend backend, List<DType> dtypes, List<ReduceOp> ops, List<Long> sizes,
                   int iters, int warmup, boolean check, Format format, int timeoutSeconds, boolean decode, int computeMicros,
                   boolean cold, int stallMicros, Path jfr, boolean symmetric, Timed collective, boolean async,
                   int asyncComputeMicros) {

        /** Output for machines (csv or json): no progress, no table, nothing but the data on standard output. */
        boolean machine() {
            return format != Format.TABLE;
        }

        boolean csv() {
            return format == Format.CSV;
        }

        boolean json() {
            return format == Format.JSON;
        }
    }

    /** What rank 0 writes to standard output. */
    enum Format { TABLE, CSV, JSON }

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
        Format format = Format.TABLE;
        Path jfr = null;
        int timeout = 600;
        boolean decode = false;
        int computeMicros = 5;
        boolean cold = false;
        int stallMicros = 0;
        boolean symmetric = false;
        Timed collective = Timed.ALLREDUCE;
        boolean async = false;
        boolean computeGiven = false;
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
                case "--pattern" -> {
                    String pattern = a.value(t, name);
                    if (!pattern.equals("sweep") && !pattern.equals("decode")) {
                        throw new Main.UsageException("--pattern must be sweep or decode, got '" + pattern + "'");
                    }
                    decode = pattern.equals("decode");
                }
                case "--compute-us" -> {
                    String v = a.value(t, name);
                    computeMicros = v.equals("0") ? 0 : Args.positiveInt("--compute-us", v);
                    computeGiven = true;
                }
                case "--async" -> async = true;
                case "--cold" -> cold = true;
                case "--stalls" -> stallMicros = Args.positiveInt("--stalls", a.value(t, name));
                case "--format" -> {
                    String f = a.value(t, name);
                    format = switch (f) {
                        case "table" -> Format.TABLE;
                        case "csv" -> Format.CSV;
                        case "json" -> Format.JSON;
                        default -> throw new Main.UsageException("--format must be table, csv or json, got '" + f + "'");
                    };
                }
                case "--jfr" -> {
                    String f = a.value(t, name);
                    if (f.isBlank()) throw new Main.UsageException("--jfr needs a file name");
                    jfr = Path.of(f);
                }
                case "--buffers" -> {
                    String v = a.value(t, name);
                    if (!v.equals("copy") && !v.equals("symmetric")) {
                        throw new Main.UsageException("--buffers must be copy or symmetric, got '" + v + "'");
                    }
                    symmetric = v.equals("symmetric");
                }
                case "--timeout" -> timeout = Args.positiveInt("--timeout", a.value(t, name));
                case "--collective" -> {
                    String c = a.value(t, name);
                    collective = null;
                    for (Timed k : Timed.values()) if (k.label.equals(c.toLowerCase(Locale.ROOT))) collective = k;
                    if (collective == null) {
                        throw new Main.UsageException("--collective must be allreduce, alltoall, allgather, gather, scatter, reduce or"
                                + " sendrecv, got '" + c + "'");
                    }
                }
                default -> throw new Main.UsageException("unknown option '" + t + "'; see bin/dscomm bench --help");
            }
        }
        if (nodes > ranks) throw new Main.UsageException("--nodes " + nodes + " exceeds -n " + ranks);
        if (stallMicros > 0 && !decode) throw new Main.UsageException("--stalls needs --pattern decode");
        if (async && (decode || collective != Timed.ALLREDUCE)) {
            throw new Main.UsageException("--async measures allReduceAsync: no --pattern decode, no --collective "
                    + collective.label);
        }
        return new Options(ranks, nodes, backend, dtypes, ops, sizes, iters, warmup, check, format, timeout, decode,
                computeMicros, cold, stallMicros, jfr, symmetric, collective, async, computeGiven ? computeMicros : -1);
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

    /**
     * Decode calls per point when --iters is not given: 2 000 (the first ~30 tokens of a 32-layer
     * model) for a cold start, else enough for a p99.9 of real weight.
     */
    static int defaultDecodeIters(long bytes, boolean cold) {
        if (cold) return 2000;
        if (bytes <= (64 << 10)) return 20_000;
        if (bytes <= (1 << 20)) return 2000;
        return 200;
    }

    private static int iters(Options o, long bytes) {
        if (o.iters() > 0) return o.iters();
        return o.decode() ? defaultDecodeIters(bytes, o.cold()) : defaultIters(bytes);
    }

    static int runAsRank(Options o, PrintStream out) {
        if (o.jfr() == null) return measure(o, out, null);
        // Started before init() so that the world's opening is in it; written after close().
        try (BenchRecording recording = BenchRecording.start(o.jfr())) {
            return measure(o, out, recording);
        }
    }

    private static int measure(Options o, PrintStream out, BenchRecording recording) {
        CommConfig.Builder cfg = CommConfig.builder();
        if (o.backend() != Backend.AUTO) cfg.backend(o.backend());
        int failures = 0;
        if (o.decode() && o.cold()) OwnCode.warm(o);
        long initStart = System.nanoTime();
        try (Communicator comm = Communicator.init(cfg.build()); Arena arena = Arena.ofConfined()) {
            long initNanos = System.nanoTime() - initStart;
            if (recording != null) recording.rank(comm.worldRank());
            if (o.collective() == Timed.SENDRECV) return PingPong.run(o, comm, arena, out);
            if (o.async()) return Overlap.run(o, comm, arena, out);
            boolean lead = comm.rank() == 0;
            long max = o.sizes().stream().mapToLong(Long::longValue).max().orElse(0);
            int maxIters = o.sizes().stream().mapToInt(s -> iters(o, s)).max().orElse(1);
            MemorySegment buf = o.symmetric() ? comm.allocateSymmetric(Math.max(max, 8)) : arena.allocate(Math.max(max, 8), 64);
            MemorySegment pristine = arena.allocate(Math.max(max, 8), 64);
            MemorySegment expected = arena.allocate(Math.max(max, 8), 64);
            // allToAll, gather, scatter: N blocks per rank (the send side, and the receive side)
            long wide = o.collective() == Timed.ALLREDUCE || o.collective() == Timed.REDUCE ? 8
                    : Math.max(max * comm.size(), 8);
            MemorySegment wideIn = o.symmetric() && o.collective() == Timed.ALLTOALL ? comm.allocateSymmetric(wide)
                    : arena.allocate(wide, 64);
            MemorySegment wideOut = arena.allocate(wide, 64);
            MemorySegment widePristine = arena.allocate(wide, 64);
            MemorySegment times = arena.allocate(ValueLayout.JAVA_DOUBLE, maxIters);
            // decode: every rank's call times, gathered for the statistics over all calls
            MemorySegment allTimes = o.decode() ? arena.allocate(ValueLayout.JAVA_DOUBLE, (long) maxIters * comm.size())
                    : MemorySegment.NULL;
            MemorySegment sums = arena.allocate(ValueLayout.JAVA_LONG, comm.size());
            MemorySegment mySum = arena.allocate(ValueLayout.JAVA_LONG);
            // init() of the slowest rank, in ms: what a user waits before the first call
            MemorySegment initMs = arena.allocate(ValueLayout.JAVA_DOUBLE);
            initMs.set(ValueLayout.JAVA_DOUBLE, 0, initNanos / 1e6);
            // The JIT warm-up's "stop now" vote (a MAX over ranks, in fp64 like the other MAX calls).
            MemorySegment warmStop = arena.allocate(ValueLayout.JAVA_DOUBLE);
            JsonWriter json = new JsonWriter();
            JitActivity jit = o.cold() ? null : JitActivity.forThisJvm();
            Workload work = new Workload(o, comm, buf, pristine, expected, times, allTimes, mySum, sums, json, wideIn, wideOut,
                    widePristine);
            if (!o.cold()) comm.allReduce(initMs, DType.FP64, ReduceOp.MAX);
            if (lead) {
                if (o.csv()) out.println(CSV_HEADER);
                else if (o.json()) startJson(json, o, comm);
                else out.printf("# ds-comm bench: %s, %d ranks, %d node(s), %s, pattern %s%s, %s buffers%n",
                        o.collective().label, comm.size(), comm.nodes(), comm.backend(),
                        o.decode() ? "decode (" + o.computeMicros() + " us compute between calls)" : "sweep",
                        o.cold() ? ", cold" : "", o.symmetric() ? "symmetric" : "copy");
            }
            int points = o.dtypes().size() * o.ops().size() * o.sizes().size();
            int done = 0;
            for (DType type : o.dtypes()) {
                for (ReduceOp op : o.ops()) {
                    if (!o.cold()) {
                        // JIT warm-up of this (dtype, op) path before anything is timed: the first
                        // sweep point would otherwise measure the interpreter and C1, not ds-comm.
                        // Through point() itself, untimed, so that the refill, the barrier and the
                        // timing loop are compiled too: warming only the all-reduce left the first
                        // point of a ring sweep 3-10x slower than the same size measured later.
                        long small = Math.min(o.sizes().get(0), 64L << 10);
                        small -= small % type.byteSize();
                        if (o.warmup() >= 0) work.point(false, type, op, small, 0, o.warmup() * 100);
                        else jitWarmUp(work, comm, warmStop, type, op, small);
                    }
                    if (lead && !o.machine()) {
                        out.printf("%n# %s %s%n%10s %8s %10s %10s %10s %10s %10s %11s %10s %9s%n",
                                type.name().toLowerCase(Locale.ROOT), op.name().toLowerCase(Locale.ROOT), "bytes", "iters",
                                "mean_us", "p50_us", "p99_us", "p99.9_us", "max_us", "busbw_GB/s", "memcpy_us", "p50/copy");
                    }
                    for (long requested : o.sizes()) {
                        long bytes = requested - requested % type.byteSize();
                        int iters = iters(o, bytes);
                        int warm = o.cold() ? 0 : o.warmup() >= 0 ? o.warmup() : Math.max(5, iters / 5);
                        if (lead && !o.machine()) {
                            System.err.printf("\r[%d/%d] %s %s %s ...", ++done, points, type, op, Args.humanSize(bytes));
                        }
                        if (!o.cold() && o.warmup() < 0) settle(work, comm, warmStop, jit, type, op, bytes, warm);
                        String bad = work.point(o.check(), type, op, bytes, iters, warm);
                        if (bad != null) {
                            failures++;
                            System.err.println("bench: rank " + comm.rank() + ": CHECK FAILED " + type + " " + op + " " + bytes
                                    + " bytes: " + bad);
                        }
                        if (lead) work.report(out, type, op, bytes, iters);
                    }
                }
            }
            if (lead && !o.machine()) System.err.println();
            if (o.cold()) comm.allReduce(initMs, DType.FP64, ReduceOp.MAX);
            if (lead && !o.json()) {
                (o.csv() ? System.err : out).printf(Locale.ROOT, "# init: %.1f ms (slowest rank's Communicator.init())%n",
                        initMs.get(ValueLayout.JAVA_DOUBLE, 0));
            }
            // Everyone learns whether anyone failed, so every rank's exit code tells the truth.
            MemorySegment f = arena.allocate(ValueLayout.JAVA_INT);
            f.set(ValueLayout.JAVA_INT, 0, failures);
            comm.allReduce(f, DType.INT32, ReduceOp.SUM);
            int total = f.get(ValueLayout.JAVA_INT, 0);
            if (lead && o.json()) {
                json.endArray().name("init_ms").value(initMs.get(ValueLayout.JAVA_DOUBLE, 0), 1);
                json.name("check");
                if (o.check()) json.beginObject().field("ranks", comm.size()).field("failures", total).endObject();
                else json.value((String) null);
                out.println(json.endObject());
            } else if (lead && o.check()) {
                (total == 0 ? out : System.err).println(total == 0 ? "# check: every result exact and bit-identical on all "
                        + comm.size() + " ranks" : "# check: " + total + " failure(s)");
            }
            return total == 0 ? 0 : 1;
        }
    }

    /**
     * The default JIT warm-up of one (dtype, op): {@link #WARMUP_FLOOR_CALLS} untimed sweep
     * iterations, then rounds of {@link #WARMUP_ROUND_CALLS} until {@link #WARMUP_CALLS} are made
     * and {@link #WARMUP_MIN_NANOS} have passed, or until a rank has spent {@link #WARMUP_NANOS}. The ranks vote after every round (a MAX of
     * their "stop" flags, an fp64 all-reduce like the sweep's own MAX of the times, so no new
     * kernel enters the profile), so all make the same calls.
     */
    private static void jitWarmUp(Workload work, Communicator comm, MemorySegment stop, DType type, ReduceOp op, long bytes) {
        long start = System.nanoTime();
        work.point(false, type, op, bytes, 0, WARMUP_FLOOR_CALLS);
        for (int done = WARMUP_FLOOR_CALLS; ; done += WARMUP_ROUND_CALLS) {
            long spent = System.nanoTime() - start;
            boolean enough = done >= WARMUP_CALLS && spent >= WARMUP_MIN_NANOS || spent >= WARMUP_NANOS;
            stop.set(ValueLayout.JAVA_DOUBLE, 0, enough ? 1.0 : 0.0);
            comm.allReduce(stop, DType.FP64, ReduceOp.MAX);
            if (stop.get(ValueLayout.JAVA_DOUBLE, 0) != 0.0) return;
            work.point(false, type, op, bytes, 0, WARMUP_ROUND_CALLS);
        }
    }

    /**
     * Untimed rounds of one point's own size before it is timed, while any rank's JIT compiles
     * ({@link JitActivity}), at most {@link #SETTLE_NANOS}: a size above the one-step limit runs a
     * path (the chunked all-reduce, the ring's reduce-scatter) that the warm-up at the first size
     * never ran, and its first point was timed while C2 compiled it (4 ranks over the ring, 1 MiB:
     * mean 2-3x a later point of the same size; SHM 16 MiB p50 50-72 ms against 12-14 ms).
     * The JIT queues a method only once its counters cross a threshold, so an empty queue right
     * after the first calls of a size says little: the rounds go on for at least
     * {@link #SETTLE_MIN_POINT_CALLS} calls (none by count) or
     * {@link #SETTLE_MIN_NANOS}, whichever comes first, then
     * until the queue is empty. Rounds of {@code warm} calls; all ranks vote after each (a MAX,
     * like the warm-up's), so all make the same calls. Without a JIT to ask, one round.
     */
    private static void settle(Workload work, Communicator comm, MemorySegment stop, JitActivity jit, DType type,
                               ReduceOp op, long bytes, int warm) {
        long start = System.nanoTime();
        for (int calls = warm; ; calls += warm) {
            work.point(false, type, op, bytes, 0, warm);
            if (settled(comm, stop, jit, start, calls, SETTLE_MIN_POINT_CALLS)) return;
        }
    }

    /**
     * One vote of a settling round ({@link #settle}, and the ping-pong's): this rank is done once
     * it made at least {@code minCalls} calls of the point or spent {@link #SETTLE_MIN_NANOS} and
     * then sees its JIT idle, or spent {@link #SETTLE_NANOS}; all ranks agree through a MAX over
     * {@code stop}, so all make the same calls. Without a JIT to ask ({@code jit} null), done.
     */
    static boolean settled(Communicator comm, MemorySegment stop, JitActivity jit, long start, int calls,
                           int minCalls) {
        long spent = System.nanoTime() - start;
        boolean young = calls < minCalls && spent < SETTLE_MIN_NANOS;
        boolean enough = jit == null || !young && !jit.compiling() || spent >= SETTLE_NANOS;
        stop.set(ValueLayout.JAVA_DOUBLE, 0, enough ? 0.0 : 1.0);
        comm.allReduce(stop, DType.FP64, ReduceOp.MAX);
        return stop.get(ValueLayout.JAVA_DOUBLE, 0) == 0.0;
    }

    /** Buffers of one rank's run and the two ways of timing a point. */
    private record Workload(Options o, Communicator comm, MemorySegment buf, MemorySegment pristine, MemorySegment expected,
                            MemorySegment times, MemorySegment allTimes, MemorySegment mySum, MemorySegment sums,
                            JsonWriter json, MemorySegment wideIn, MemorySegment wideOut, MemorySegment widePristine) {

        /**
         * Before every call, outside the timed region, like the all-reduce's refill: the send side
         * of an exchange is rewritten from a pristine copy, as a model writes fresh activations
         * before each exchange (and as bench/alltoall_baseline.c does), so no rank can read a
         * peer's input from its own cache, as it could from a buffer nobody writes.
         */
        private void refill(MemorySegment b, MemorySegment p) {
            long bytes = b.byteSize();
            boolean wide = o.collective() == Timed.ALLTOALL || o.collective() == Timed.SCATTER;
            OwnCode.refill(b, p, widePristine, wideIn, wide ? bytes * comm.size() : 0);
        }

        /** The timed call of {@code --collective} on a buffer of {@code b.byteSize()} bytes (roots: rank 0). */
        private void call(DType type, ReduceOp op, MemorySegment b) {
            long bytes = b.byteSize();
            long span = bytes * comm.size();
            switch (o.collective()) {
                case ALLREDUCE -> comm.allReduce(b, type, op);
                case REDUCE -> comm.reduce(b, type, op, 0);
                case ALLTOALL -> comm.allToAll(wideIn.asSlice(0, span), wideOut.asSlice(0, span), type);
                case GATHER -> comm.gather(b, wideOut.asSlice(0, span), 0);
                case ALLGATHER -> comm.allGather(b, wideOut.asSlice(0, span), type);
                case SCATTER -> comm.scatter(wideIn.asSlice(0, span), b, 0);
            }
        }

        /**
         * Fills the send side of the exchanges (block j of rank r: the pattern of "rank" r * N + j)
         * and returns what this rank must hold afterwards, or null when it checks nothing.
         */
        private String checkExchange(DType type, MemorySegment b, MemorySegment p) {
            int n = comm.size();
            int me = comm.rank();
            long bytes = b.byteSize();
            MemorySegment want = expected.asSlice(0, bytes);
            switch (o.collective()) {
                case ALLTOALL -> {
                    for (int i = 0; i < n; i++) {
                        Pattern.fill(want, type, ReduceOp.MAX, i * n + me, 1);
                        if (wideOut.asSlice(i * bytes, bytes).mismatch(want) >= 0) return "allToAll block from rank " + i + " is wrong";
                    }
                }
                case GATHER, ALLGATHER -> {
                    if (me != 0 && o.collective() == Timed.GATHER) return null;
                    for (int i = 0; i < n; i++) {
                        Pattern.fill(want, type, ReduceOp.MAX, i, 1);
                        if (wideOut.asSlice(i * bytes, bytes).mismatch(want) >= 0) {
                            return o.collective().label + " slot " + i + " is wrong";
                        }
                    }
                }
                case SCATTER -> {
                    Pattern.fill(want, type, ReduceOp.MAX, me, 1);
                    if (b.mismatch(want) >= 0) return "scatter block is wrong";
                }
                case REDUCE -> {
                    if (me != 0 && b.mismatch(p) >= 0) return "reduce changed a non-root's buffer";
                }
                default -> {
                    return null;
                }
            }
            return null;
        }

        /** Fills the exchanges' send sides with patterns {@link #checkExchange} knows. */
        private void fillExchange(DType type, long bytes) {
            int n = comm.size();
            int me = comm.rank();
            switch (o.collective()) {
                case ALLTOALL -> {
                    for (int j = 0; j < n; j++) {
                        Pattern.fill(widePristine.asSlice(j * bytes, bytes), type, ReduceOp.MAX, me * n + j, 1);
                    }
                }
                case SCATTER -> {
                    for (int j = 0; j < n; j++) Pattern.fill(widePristine.asSlice(j * bytes, bytes), type, ReduceOp.MAX, j, 1);
                }
                default -> {
                }
            }
        }

        /** Runs one point (sweep or decode); returns a description of the first wrong result, or null. */
        String point(boolean check, DType type, ReduceOp op, long bytes, int iters, int warm) {
            MemorySegment b = buf.asSlice(0, bytes);
            MemorySegment p = pristine.asSlice(0, bytes);
            MemorySegment e = expected.asSlice(0, bytes);
            Timed what = o.collective();
            if (what == Timed.GATHER || what == Timed.ALLGATHER) Pattern.fill(p, type, ReduceOp.MAX, comm.rank(), 1);
            else Pattern.fill(p, type, op, comm.rank(), 0);
            fillExchange(type, bytes);
            boolean exact = what == Timed.ALLREDUCE || (what == Timed.REDUCE && comm.rank() == 0);
            if (check && exact) {
                long n = bytes / type.byteSize();
                for (long i = 0; i < n; i++) Pattern.put(e, type, i, Pattern.expected(op, comm.size(), 0, i));
            }
            String bad = o.decode() ? decode(check && exact, type, op, b, p, e, iters, warm)
                    : sweep(check && exact, type, op, b, p, e, iters, warm);
            if (check && !exact && bad == null) bad = checkExchange(type, b, p);
            if (check && what.sameOnAllRanks()) {
                mySum.set(ValueLayout.JAVA_LONG, 0, Pattern.checksum(b, type));
                comm.allGather(mySum, sums, DType.INT64);
                for (int r = 1; r < comm.size() && bad == null; r++) {
                    if (sums.getAtIndex(ValueLayout.JAVA_LONG, r) != sums.getAtIndex(ValueLayout.JAVA_LONG, 0)) {
                        bad = "rank " + r + "'s result differs from rank 0's (checksums "
                                + Long.toHexString(sums.getAtIndex(ValueLayout.JAVA_LONG, r)) + " vs "
                                + Long.toHexString(sums.getAtIndex(ValueLayout.JAVA_LONG, 0)) + ")";
                    }
                }
            }
            if (o.decode()) {
                // Every call of every rank counts: what tokens pay is each rank's own wait.
                comm.allGather(times.asSlice(0, iters * 8L), allTimes.asSlice(0, iters * 8L * comm.size()), DType.FP64);
            } else {
                // The slowest rank defines each iteration's time.
                comm.allReduce(times.asSlice(0, iters * 8L), DType.FP64, ReduceOp.MAX);
            }
            return bad;
        }

        private String sweep(boolean check, DType type, ReduceOp op, MemorySegment b, MemorySegment p, MemorySegment e,
                             int iters, int warm) {
            String bad = null;
            long bytes = b.byteSize();
            for (int it = -warm; it < iters; it++) {
                sweepStep(type, op, b, p, Math.max(it, 0));
                if (check && bad == null && b.mismatch(e) >= 0) bad = wrong(type, op, b, e, it);
            }
            return bad;
        }

        /** One barrier-separated call, its time stored at {@code slot} (see {@link #decodeStep} for why a method). */
        private void sweepStep(DType type, ReduceOp op, MemorySegment b, MemorySegment p, int slot) {
            refill(b, p);
            comm.barrier();
            long t0 = System.nanoTime();
            call(type, op, b);
            long t1 = System.nanoTime();
            OwnCode.record(times, slot, t0, t1);
        }

        /**
         * Calls back to back as in LLM decode: the "compute" between two calls writes the
         * activations (the refill from the pristine copy, and the check if asked) and then works
         * until {@code --compute-us} have passed since the previous call returned. No barrier: a
         * rank that computes longer makes its peers wait inside the next call, as in a real model.
         */
        private String decode(boolean check, DType type, ReduceOp op, MemorySegment b, MemorySegment p, MemorySegment e,
                              int iters, int warm) {
            String bad = null;
            long bytes = b.byteSize();
            long computeNanos = o.computeMicros() * 1000L;
            Stalls stalls = o.stallMicros() > 0 ? new Stalls(o.stallMicros() * 1000L) : null;
            comm.barrier();
            for (int it = -warm; it < iters; it++) {
                decodeStep(type, op, b, p, computeNanos, stalls, it);
                if (check && bad == null && b.mismatch(e) >= 0) bad = wrong(type, op, b, e, it);
            }
            if (stalls != null) stalls.print(comm.rank(), type, bytes);
            return bad;
        }

        /**
         * One decode iteration: compute, then the timed call, its time stored at slot {@code it}
         * (the untimed calls, {@code it < 0}, store theirs at slot 0, which the first timed call
         * overwrites).
         *
         * <p>Why a method, and why no "is this call timed" branch: the loop above runs once per
         * point, so C2 compiled it only by on-stack replacement, while that point ran; and a
         * branch that only the timed calls take made the compiled loop trap back to the
         * interpreter at the first timed call. -Xlog:jit+compilation showed both inside the
         * timed calls of a 2-rank 16 KiB decode (the OSR compile of this loop, its uncommon trap,
         * its recompilation, {@code OwnCode.record}'s first compiles), each taking one of the 2
         * vCPUs from the ranks for milliseconds: the bench's own start-up, charged to ds-comm's
         * tail. This method is called by every warm-up and settling round too, so C2 has
         * compiled it, the collective inlined, before anything is timed; the branches left see
         * the same values in both phases.
         */
        private void decodeStep(DType type, ReduceOp op, MemorySegment b, MemorySegment p, long computeNanos,
                                Stalls stalls, int it) {
            long computeStart = System.nanoTime();
            if (stalls != null) stalls.iterationStarts();
            refill(b, p);
            Compute.until(computeStart + computeNanos);
            long t0 = System.nanoTime();
            call(type, op, b);
            long t1 = System.nanoTime();
            OwnCode.record(times, Math.max(it, 0), t0, t1);
            if (stalls != null) stalls.iterationEnds(it, computeStart, t0, t1);
        }

        private String wrong(DType type, ReduceOp op, MemorySegment b, MemorySegment e, int it) {
            long i = b.mismatch(e) / type.byteSize();
            return "iteration " + it + ": " + Pattern.describe(b, type, op, comm.size(), 0, i);
        }

        void report(PrintStream out, DType type, ReduceOp op, long bytes, int iters) {
            int samples = o.decode() ? iters * comm.size() : iters;
            MemorySegment source = o.decode() ? allTimes : times;
            double[] t = new double[samples];
            double sum = 0;
            for (int i = 0; i < samples; i++) {
                t[i] = source.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
                sum += t[i];
            }
            Arrays.sort(t);
            double mean = samples == 0 ? 0 : sum / samples;
            double p50 = percentile(t, 50);
            double p99 = percentile(t, 99);
            double p999 = percentile(t, 99.9);
            double tmax = samples == 0 ? 0 : t[samples - 1];
            // Private to private in both --buffers modes: the reference is the same whatever is measured.
            double memcpy = medianCopyMicros(pristine, expected, bytes, iters);
            int n = comm.size();
            // Bus bandwidth as in nccl-tests: an all-reduce moves 2(n-1)/n of the buffer per rank,
            // an all-to-all, gather or scatter n-1 blocks, a reduce the buffer once.
            double busbw = p50 > 0 && n > 1 ? bytes * o.collective().busFactor(n) / (p50 * 1e3) : 0;
            String t1 = type.name().toLowerCase(Locale.ROOT);
            String o1 = op.name().toLowerCase(Locale.ROOT);
            if (o.csv()) {
                out.printf(Locale.ROOT, "%s,%s,%s,%d,%d,%d,%d,%.2f,%.2f,%.3f,%.2f,%.2f,%.2f,%.2f,%s%n",
                        comm.backend().backend().label(), t1, o1, n, comm.nodes(), bytes, iters, p50, p99, busbw, memcpy,
                        mean, p999, tmax, o.collective().label);
            } else if (o.json()) {
                // The csv's columns, names and rounding, so that either form reads the same.
                json.beginObject().field("backend", comm.backend().backend().label()).field("dtype", t1).field("op", o1)
                        .field("ranks", n).field("nodes", comm.nodes()).field("bytes", bytes).field("iters", iters)
                        .name("p50_us").value(p50, 2).name("p99_us").value(p99, 2).name("busbw_gbps").value(busbw, 3)
                        .name("memcpy_us").value(memcpy, 2).name("mean_us").value(mean, 2).name("p999_us").value(p999, 2)
                        .name("max_us").value(tmax, 2).field("collective", o.collective().label).endObject();
                return;
            } else {
                out.printf(Locale.ROOT, "%10s %8d %10.2f %10.2f %10.2f %10.2f %10.2f %11.3f %10.2f %9.1f%n",
                        Args.humanSize(bytes), iters, mean, p50, p99, p999, tmax, busbw, memcpy, memcpy > 0 ? p50 / memcpy : 0);
            }
            out.flush();
        }
    }

    /** Opens rank 0's JSON object: the run's settings, then the "rows" array the points fill. */
    private static void startJson(JsonWriter json, Options o, Communicator comm) {
        json.beginObject().field("tool", "ds-comm bench").field("backend", comm.backend().backend().label())
                .field("reason", comm.backend().reason()).field("ranks", comm.size()).field("nodes", comm.nodes())
                .field("pattern", o.decode() ? "decode" : "sweep");
        if (o.decode()) json.field("compute_us", o.computeMicros());
        json.name("cold").value(o.cold()).name("rows").beginArray();
    }

    /** Nearest-rank percentile of sorted values. */
    /**
     * The memcpy_us column: the median of {@code iters} copies of {@code bytes} bytes from
     * {@code src} to {@code dst} (both at offset 0), timed one by one in this process.
     */
    static double medianCopyMicros(MemorySegment src, MemorySegment dst, long bytes, int iters) {
        double[] copy = new double[iters];
        for (int i = 0; i < iters; i++) {
            long t0 = System.nanoTime();
            MemorySegment.copy(src, 0, dst, 0, bytes);
            copy[i] = (System.nanoTime() - t0) / 1e3;
        }
        Arrays.sort(copy);
        return percentile(copy, 50);
    }

    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) return 0;
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }

    /**
     * {@code --stalls}: the slow calls of one rank, with what the scheduler did meanwhile. The
     * run-queue delay of this thread (second field of {@code /proc/thread-self/schedstat}: time
     * spent runnable but not running) is read before and after every iteration; a stall during
     * which it grew by about the stall's length was the scheduler's (this rank had no core),
     * one during which it did not was a wait for a peer (look at the peer's line at that time)
     * or the JVM (match the uptime against {@code -Xlog:safepoint,gc} with the uptime decorator), or
     * another thread of the machine (the monotonic time is {@code CLOCK_MONOTONIC}, the clock of
     * {@code perf sched record -k CLOCK_MONOTONIC}).
     */
    static final class Stalls {
        private final long thresholdNanos;
        private final long uptimeOffsetNanos;
        /** Opened once by the measuring thread (so it stays that thread's file); re-read with pread. */
        private final java.nio.channels.FileChannel schedstat;
        private final java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(128);
        private final StringBuilder lines = new StringBuilder();
        private long delayBefore;
        private int count;

        Stalls(long thresholdNanos) {
            this.thresholdNanos = thresholdNanos;
            // JVM uptime (what -Xlog's "uptime" decorator prints) = nanoTime - offset, to the millisecond.
            this.uptimeOffsetNanos = System.nanoTime()
                    - java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000L;
            java.nio.channels.FileChannel ch;
            try {
                ch = java.nio.channels.FileChannel.open(java.nio.file.Path.of("/proc/thread-self/schedstat"));
            } catch (java.io.IOException e) {
                ch = null;   // not Linux: no scheduler figures, the stall times still print
            }
            this.schedstat = ch;
        }

        /** Second number of schedstat, parsed without allocating (the hot loop must not make garbage). */
        private long runQueueDelayNanos() {
            if (schedstat == null) return 0;
            try {
                buffer.clear();
                int n = schedstat.read(buffer, 0);
                long value = 0;
                int field = 0;
                for (int i = 0; i < n; i++) {
                    byte c = buffer.get(i);
                    if (c == ' ') {
                        if (++field > 1) break;
                    } else if (field == 1 && c >= '0' && c <= '9') {
                        value = value * 10 + (c - '0');
                    }
                }
                return value;
            } catch (java.io.IOException e) {
                return 0;
            }
        }

        void iterationStarts() {
            delayBefore = runQueueDelayNanos();
        }

        void iterationEnds(int it, long computeStart, long callStart, long callEnd) {
            long call = callEnd - callStart;
            long compute = callStart - computeStart;
            if (call < thresholdNanos && compute < thresholdNanos) return;
            long delay = runQueueDelayNanos() - delayBefore;
            count++;
            lines.append(String.format(Locale.ROOT, "# stall rank %d call %d at uptime %.3f s (monotonic %.6f s): call %d us, compute %d us, "
                            + "runnable-not-running %d us%n", 0, it, (callStart - uptimeOffsetNanos) / 1e9, callStart / 1e9,
                    call / 1000, compute / 1000, delay / 1000));
        }

        void print(int rank, DType type, long bytes) {
            System.err.printf(Locale.ROOT, "# stalls rank %d, %s %d bytes: %d iteration(s) over %d us%n", rank,
                    type.name().toLowerCase(Locale.ROOT), bytes, count, thresholdNanos / 1000);
            System.err.print(lines.toString().replace("# stall rank 0 ", "# stall rank " + rank + " "));
            System.err.flush();
        }
    }

    /**
     * The bench's own per-call code in a decode loop (refilling the activations, the compute,
     * storing the time), and its warm-up before {@code init()} for {@code --cold}.
     *
     * <p>Why: {@code --cold} measures what ds-comm's first calls cost, against a C loop on Open
     * MPI whose compute and bookkeeping are compiled before it starts. Run cold, the bench's own
     * Java code (this class, {@link Pattern#fill}, the JDK's segment copy and stores it inlines)
     * was interpreted at first and then compiled by C1 and C2 during the timed calls: -Xlog:jit
     * showed about ten C2 compilations of it per rank inside the first 2 000 calls, each taking
     * one of the 2 vCPUs from a spinning rank, and a rank whose compute ran slow made its peer
     * wait inside the timed call. That is the bench's start-up, not ds-comm's; so, with
     * {@code --cold}, the same methods run here first, on private memory, without any
     * collective: ds-comm itself is as cold as {@code init()} leaves it.
     *
     * <p>The JDK's mapped and heap segment classes are loaded first ({@link #loadSegmentClasses}):
     * C2 compiles segment access under the assumption that the segment classes loaded so far are
     * the only ones, and {@code init()} loads both (it maps the SHM segment; the Vector API's
     * fallbacks make heap segments). Without that, -Xlog:jit showed this warm-up's compiled
     * {@code refill}, {@code record} and {@link Pattern}{@code ::put} "made not entrant: marked
     * for deoptimization" inside {@code init()} and compiled again during the timed calls.
     */
    static final class OwnCode {
        /** Iterations of the loop below: above C2's thresholds for each method it calls. */
        static final int WARM_ITERATIONS = 20_000;
        /** Fills of the pattern per type, for the same reason (each is one call per element). */
        static final int WARM_FILLS = 8;

        private OwnCode() {
        }

        /** Copies the pristine activations (and the exchanges' wide send side, {@code span} bytes) back. */
        static void refill(MemorySegment b, MemorySegment p, MemorySegment widePristine, MemorySegment wideIn, long span) {
            MemorySegment.copy(p, 0, b, 0, b.byteSize());
            if (span > 0) MemorySegment.copy(widePristine, 0, wideIn, 0, span);
        }

        /** Stores one call's time, in microseconds, at index {@code it}. */
        static void record(MemorySegment times, int it, long t0, long t1) {
            times.setAtIndex(ValueLayout.JAVA_DOUBLE, it, (t1 - t0) / 1e3);
        }

        /**
         * Loads every segment class a run meets: heap segments of each array type, and a mapped
         * one (a 64-byte file in the temporary directory, deleted at once).
         */
        static void loadSegmentClasses() {
            KernelWarmUp.loadHeapSegmentClasses();
            try {
                Path file = Files.createTempFile("dscomm-bench-warm", ".bin");
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
                     Arena arena = Arena.ofConfined()) {
                    ch.map(FileChannel.MapMode.READ_WRITE, 0, 64, arena).set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
                } finally {
                    Files.deleteIfExists(file);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("bench warm-up: cannot map a temporary file", e);
            }
        }

        /** Runs the decode loop's own code without a collective. */
        static void warm(Options o) {
            loadSegmentClasses();
            long bytes = Math.max(8, o.sizes().stream().mapToLong(Long::longValue).max().orElse(8));
            long computeNanos = o.computeMicros() * 1000L;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment b = arena.allocate(bytes, 64);
                MemorySegment p = arena.allocate(bytes, 64);
                MemorySegment times = arena.allocate(ValueLayout.JAVA_DOUBLE, 1024);
                for (DType type : o.dtypes()) {
                    for (int i = 0; i < WARM_FILLS; i++) Pattern.fill(p, type, o.ops().get(0), i, 0);
                }
                for (int it = 0; it < WARM_ITERATIONS; it++) {
                    long computeStart = System.nanoTime();
                    refill(b, p, MemorySegment.NULL, MemorySegment.NULL, 0);
                    Compute.until(computeStart + computeNanos);
                    long t0 = System.nanoTime();
                    record(times, it & 1023, t0, System.nanoTime());
                }
            }
        }
    }

    /** Stand-in for a model's compute between two all-reduces: busy arithmetic, no allocation. */
    static final class Compute {
        /** Sink that keeps the arithmetic alive. */
        static volatile long sink;

        private Compute() {
        }

        static void until(long deadlineNanos) {
            long x = sink;
            while (System.nanoTime() - deadlineNanos < 0) {
                for (int i = 0; i < 16; i++) x = x * 6364136223846793005L + 1442695040888963407L;
            }
            sink = x;
        }
    }
}
