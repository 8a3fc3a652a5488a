package ds.comm.tool;

import ds.comm.CommException;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code bin/dscomm soak}: random collectives, element types, ops, sizes and sub-groups for a
 * while, every result verified exactly; prints the counts and exits 1 on any wrong result.
 *
 * <p>Every rank draws the same sequence of calls from the same seed (rank 0's, broadcast once at
 * the start: under an external launcher each rank parsed its own arguments), so all ranks agree
 * on what comes next without talking. Each rank belongs to one group of each kind (the world, the pair
 * {@code rank / 2}, the parity class {@code rank % 2}), so every rank calls every drawn
 * collective on its own group of the drawn kind, and the sub-groups run concurrently with each
 * other. Inputs are small integers (products: powers of two), so every reduction is exact in
 * every element type and in any association order: the expected result is computed here in
 * {@code long} arithmetic and compared bit for bit. Rank 0 decides when the time is up and
 * tells the others with a world broadcast before each call.
 */
final class Soak {

    private static final String USAGE = """
            usage: bin/dscomm soak [-n N] [--nodes M] [--duration D] [--max-bytes B] [--seed S]
              -n N           ranks (default 3; ignored under an external launcher)
              --nodes M      simulate M nodes (default 1)
              --duration D   how long to run: 500ms, 60s, 10m (default 60s)
              --max-bytes B  largest message, e.g. 64K, 4M (default 1M)
              --seed S       the sequence of calls (default: random, printed)
            """;

    private static final DType[] DTYPES = DType.values();
    private static final ReduceOp[] OPS = ReduceOp.values();
    private static final String[] KINDS = {"allReduce", "allGather", "reduceScatter", "broadcast", "barrier", "sendRecv",
        "allReduceAsync", "allToAll", "allToAllV", "gather", "scatter", "reduce"};
    private static final String[] GROUPS = {"world", "pairs", "parity"};

    private Soak() {
    }

    record Options(Duration duration, long maxBytes, long seed) {
    }

    static int run(String[] argv) {
        int ranks = 3, nodes = 1;
        Duration duration = Duration.ofSeconds(60);
        long maxBytes = 1 << 20;
        long seed = new SplittableRandom().nextLong() & Long.MAX_VALUE;
        Args a = new Args(argv);
        for (String t = a.next(); t != null; t = a.next()) {
            String name = Args.name(t);
            switch (name) {
                case "-h", "--help" -> {
                    System.out.print(USAGE);
                    return 0;
                }
                case "-n" -> ranks = Args.positiveInt("-n", a.value(t, name));
                case "--nodes" -> nodes = Args.positiveInt("--nodes", a.value(t, name));
                case "--duration" -> duration = Args.duration("--duration", a.value(t, name));
                case "--max-bytes" -> maxBytes = Args.size("--max-bytes", a.value(t, name));
                case "--seed" -> seed = Long.parseLong(a.value(t, name).trim());
                default -> throw new Main.UsageException("unknown option '" + t + "'; see bin/dscomm soak --help");
            }
        }
        if (maxBytes < 8) throw new Main.UsageException("--max-bytes must be at least 8");
        if (!RankEnvironment.present()) {
            String[] args = {"soak", "--duration", duration.toMillis() + "ms", "--max-bytes", Long.toString(maxBytes),
                    "--seed", Long.toString(seed)};
            int timeout = (int) Math.min(Integer.MAX_VALUE, duration.toSeconds() + 180);
            return SelfLaunch.launch(ranks, nodes, timeout, List.of(), "ds.comm.tool.Main", args);
        }
        return runAsRank(new Options(duration, maxBytes, seed));
    }

    /** Counts of one rank, summed over the world at the end. */
    private static final int CALLS = 0, BYTES = 1, WRONG = 2;

    static int runAsRank(Options o) {
        try (Communicator world = Communicator.init();
             Communicator pairs = world.split(world.rank() / 2, world.rank());
             Communicator parity = world.split(world.rank() % 2, world.rank());
             Arena arena = Arena.ofConfined()) {
            Communicator[] groups = {world, pairs, parity};
            if (world.rank() == 0) {
                System.out.println("soak: " + world.size() + " ranks on " + world.nodes() + " node(s), "
                        + o.duration().toMillis() + " ms, messages up to " + o.maxBytes() + " bytes, seed " + o.seed());
                for (Communicator c : groups) System.out.println("  group " + c.name() + ": " + c.backend());
            }
            long maxElements = o.maxBytes() / 8; // of any type: 8 bytes is the widest element
            int sizeBits = 64 - Long.numberOfLeadingZeros(maxElements);
            MemorySegment in = arena.allocate(maxElements * 8 * world.size(), 64);
            MemorySegment out = arena.allocate(maxElements * 8 * world.size(), 64);
            MemorySegment go = arena.allocate(4);
            long[][] counts = new long[KINDS.length + 1][3];
            long[][] perGroup = new long[GROUPS.length][1];
            // Rank 0's seed for everyone: under an external launcher (mpirun, srun, torchrun)
            // every rank parsed its own arguments, and without --seed drew its own seed, so the
            // ranks called different collectives (a mismatch the MPI backend can only time out).
            MemorySegment seed = arena.allocate(ValueLayout.JAVA_LONG);
            seed.set(ValueLayout.JAVA_LONG, 0, o.seed());
            world.broadcast(seed, 0);
            long deadline = System.nanoTime() + o.duration().toNanos();
            SplittableRandom draw = new SplittableRandom(seed.get(ValueLayout.JAVA_LONG, 0));
            long iteration = 0;
            String firstWrong = null;
            while (true) {
                go.set(ValueLayout.JAVA_INT, 0, world.rank() == 0 && System.nanoTime() < deadline ? 1 : 0);
                world.broadcast(go, 0);
                if (go.get(ValueLayout.JAVA_INT, 0) == 0) break;
                int g = draw.nextInt(GROUPS.length);
                int kind = draw.nextInt(KINDS.length);
                DType type = DTYPES[draw.nextInt(DTYPES.length)];
                ReduceOp op = OPS[draw.nextInt(OPS.length)];
                // Log-uniform sizes, zero included: as many tiny messages as large ones, odd sizes too.
                int b = draw.nextInt(sizeBits + 1);
                long count = b == 0 ? 0 : Math.min(maxElements, (1L << (b - 1)) + draw.nextLong(1L << (b - 1)));
                int rootDraw = draw.nextInt(1 << 16);
                Communicator c = groups[g];
                String wrong = call(c, KINDS[kind], type, op, count, rootDraw, iteration, in, out);
                counts[kind][CALLS]++;
                if (!KINDS[kind].equals("barrier")) counts[kind][BYTES] += count * type.byteSize();
                perGroup[g][0]++;
                if (wrong != null) {
                    counts[kind][WRONG]++;
                    if (firstWrong == null) firstWrong = "iteration " + iteration + ": " + wrong;
                }
                iteration++;
            }
            return report(world, counts, perGroup, iteration, firstWrong, arena);
        } catch (CommException e) {
            System.out.println("soak: FAILED: " + e.getMessage());
            return 1;
        }
    }

    /** Runs one call on {@code c} and checks it; returns what was wrong, or null. */
    private static String call(Communicator c, String kind, DType type, ReduceOp op, long count, int rootDraw,
                               long iteration, MemorySegment in, MemorySegment out) {
        int n = c.size();
        int me = c.rank();
        long es = type.byteSize();
        switch (kind) {
            case "allReduce" -> {
                MemorySegment buf = out.asSlice(0, count * es);
                fill(buf, type, op, iteration, me, 0, count);
                c.allReduce(buf, type, op);
                return check(buf, type, op, iteration, n, 0, count, "allReduce on " + c.name());
            }
            case "allGather" -> {
                MemorySegment mine = in.asSlice(0, count * es);
                fill(mine, type, ReduceOp.MAX, iteration, me, 0, count);
                MemorySegment all = out.asSlice(0, count * es * n);
                c.allGather(mine, all, type);
                for (int r = 0; r < n; r++) {
                    String w = checkOne(all.asSlice(r * count * es, count * es), type, iteration, r, 0, count,
                            "allGather block " + r + " on " + c.name());
                    if (w != null) return w;
                }
                return null;
            }
            case "reduceScatter" -> {
                MemorySegment all = in.asSlice(0, count * es * n);
                fill(all, type, op, iteration, me, 0, count * n);
                MemorySegment block = out.asSlice(0, count * es);
                c.reduceScatter(all, block, type, op);
                return check(block, type, op, iteration, n, count * me, count, "reduceScatter on " + c.name());
            }
            case "broadcast" -> {
                int root = rootDraw % n;
                MemorySegment buf = out.asSlice(0, count * es);
                if (me == root) fill(buf, type, ReduceOp.MAX, iteration, root, 0, count);
                else buf.fill((byte) 0x5A);
                c.broadcast(buf, root);
                return checkOne(buf, type, iteration, root, 0, count, "broadcast from " + root + " on " + c.name());
            }
            case "sendRecv" -> {
                // Every rank sends to rank + k and receives from rank - k (k drawn, group order). Sends are
                // synchronous, so in each cycle of that shift its smallest rank sends first, the others
                // receive first: the message runs once around the cycle.
                if (n == 1) return null;
                int k = 1 + rootDraw % (n - 1);
                int cycles = gcd(n, k);
                int to = (me + k) % n;
                int from = (me - k + n) % n;
                MemorySegment mine = in.asSlice(0, count * es);
                fill(mine, type, ReduceOp.MAX, iteration, me, 0, count);
                MemorySegment theirs = out.asSlice(0, count * es);
                theirs.fill((byte) 0x5A);
                if (me < cycles) {
                    c.send(mine, to);
                    c.recv(theirs, from);
                } else {
                    c.recv(theirs, from);
                    c.send(mine, to);
                }
                return checkOne(theirs, type, iteration, from, 0, count, "send/recv " + from + " -> " + me + " on " + c.name());
            }
            case "allReduceAsync" -> {
                // Two non-blocking all-reduces in flight at once, then a check of both (heap memory:
                // the progress thread cannot use the soak's confined arena).
                MemorySegment first = MemorySegment.ofArray(new long[(int) count]).asSlice(0, count * es);
                MemorySegment second = MemorySegment.ofArray(new long[(int) count + 1]).asSlice(0, count * es);
                fill(first, type, op, iteration, me, 0, count);
                fill(second, type, op, iteration + 1, me, 0, count);
                var f1 = c.allReduceAsync(first, type, op);
                var f2 = c.allReduceAsync(second, type, op);
                try {
                    f1.join();
                    f2.join();
                } catch (java.util.concurrent.CompletionException e) {
                    if (e.getCause() instanceof CommException ce) throw ce;
                    throw e;
                }
                String w = check(first, type, op, iteration, n, 0, count, "allReduceAsync on " + c.name());
                return w != null ? w : check(second, type, op, iteration + 1, n, 0, count, "second allReduceAsync on " + c.name());
            }

            case "allToAll" -> {
                long block = count * es;
                MemorySegment send = in.asSlice(0, block * n);
                for (int j = 0; j < n; j++) fill(send.asSlice(j * block, block), type, ReduceOp.MAX, iteration, me * n + j, 0, count);
                MemorySegment recv = out.asSlice(0, block * n);
                c.allToAll(send, recv, type);
                for (int i = 0; i < n; i++) {
                    String w = checkOne(recv.asSlice(i * block, block), type, iteration, i * n + me, 0, count,
                            "allToAll block from " + i + " on " + c.name());
                    if (w != null) return w;
                }
                return null;
            }
            case "allToAllV" -> {
                long[] sendCounts = new long[n];
                long[] recvCounts = new long[n];
                long sendAt = 0;
                for (int j = 0; j < n; j++) {
                    sendCounts[j] = pairCount(count, me, j, iteration);
                    recvCounts[j] = pairCount(count, j, me, iteration);
                    fill(in.asSlice(sendAt * es, sendCounts[j] * es), type, ReduceOp.MAX, iteration, me * n + j, 0, sendCounts[j]);
                    sendAt += sendCounts[j];
                }
                long recvTotal = java.util.Arrays.stream(recvCounts).sum();
                MemorySegment recv = out.asSlice(0, recvTotal * es);
                c.allToAllV(in.asSlice(0, sendAt * es), sendCounts, recv, recvCounts, type);
                long at = 0;
                for (int i = 0; i < n; i++) {
                    String w = checkOne(recv.asSlice(at * es, recvCounts[i] * es), type, iteration, i * n + me, 0, recvCounts[i],
                            "allToAllV block from " + i + " on " + c.name());
                    if (w != null) return w;
                    at += recvCounts[i];
                }
                return null;
            }
            case "gather" -> {
                int root = rootDraw % n;
                MemorySegment mine = in.asSlice(0, count * es);
                fill(mine, type, ReduceOp.MAX, iteration, me, 0, count);
                MemorySegment all = me == root ? out.asSlice(0, count * es * n) : MemorySegment.NULL;
                c.gather(mine, all, root);
                if (me != root) return null;
                for (int r = 0; r < n; r++) {
                    String w = checkOne(all.asSlice(r * count * es, count * es), type, iteration, r, 0, count,
                            "gather slot " + r + " at root " + root + " on " + c.name());
                    if (w != null) return w;
                }
                return null;
            }
            case "scatter" -> {
                int root = rootDraw % n;
                MemorySegment all = me == root ? in.asSlice(0, count * es * n) : MemorySegment.NULL;
                if (me == root) {
                    for (int j = 0; j < n; j++) fill(all.asSlice(j * count * es, count * es), type, ReduceOp.MAX, iteration, j, 0, count);
                }
                MemorySegment mine = out.asSlice(0, count * es);
                mine.fill((byte) 0x5A);
                c.scatter(all, mine, root);
                return checkOne(mine, type, iteration, me, 0, count, "scatter from " + root + " on " + c.name());
            }
            case "reduce" -> {
                int root = rootDraw % n;
                MemorySegment buf = out.asSlice(0, count * es);
                fill(buf, type, op, iteration, me, 0, count);
                c.reduce(buf, type, op, root);
                if (me == root) return check(buf, type, op, iteration, n, 0, count, "reduce to " + root + " on " + c.name());
                for (long i = 0; i < count; i++) {
                    String w = compare(buf, type, i, value(op, iteration, me, i), "reduce input of a non-root on " + c.name());
                    if (w != null) return w;
                }
                return null;
            }
            default -> {
                c.barrier();
                return null;
            }
        }
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** Elements rank {@code from} sends rank {@code to} in an allToAllV: zero for a third of the pairs, at most count. */
    private static long pairCount(long count, int from, int to, long iteration) {
        return (from + 2L * to + iteration) % 3 == 0 ? 0 : count * ((from + to) % 2 + 1) / 2;
    }

    /** Input value of element {@code i} of rank {@code r}: exact in every type under every op. */
    private static long value(ReduceOp op, long iteration, int r, long i) {
        long h = (iteration * 0x9E3779B97F4A7C15L) ^ (r * 0xC2B2AE3D27D4EB4FL) ^ (i * 0x165667B19E3779F9L);
        h ^= h >>> 29;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 32;
        int k = (int) Math.floorMod(h, 17L);
        return switch (op) {
            case PROD -> k < 6 ? -1 : k < 12 ? 1 : 2;   // products are +-2^j: exact everywhere
            case SUM -> k - 8;                             // |sum| <= 8 N: exact in bf16 for N <= 32
            case MIN, MAX -> k * 7 - 56;
        };
    }

    private static void fill(MemorySegment s, DType type, ReduceOp op, long iteration, int r, long from, long count) {
        for (long i = 0; i < count; i++) put(s, type, i, value(op, iteration, r, from + i));
    }

    private static String check(MemorySegment s, DType type, ReduceOp op, long iteration, int n, long from, long count,
                                String what) {
        for (long i = 0; i < count; i++) {
            long acc = value(op, iteration, 0, from + i);
            for (int r = 1; r < n; r++) {
                long v = value(op, iteration, r, from + i);
                acc = switch (op) {
                    case SUM -> acc + v;
                    case PROD -> acc * v;
                    case MIN -> Math.min(acc, v);
                    case MAX -> Math.max(acc, v);
                };
            }
            String w = compare(s, type, i, acc, what);
            if (w != null) return w;
        }
        return null;
    }

    /** Checks values written with op MAX (the plain value range) from rank {@code r}. */
    private static String checkOne(MemorySegment s, DType type, long iteration, int r, long from, long count, String what) {
        for (long i = 0; i < count; i++) {
            String w = compare(s, type, i, value(ReduceOp.MAX, iteration, r, from + i), what);
            if (w != null) return w;
        }
        return null;
    }

    private static String compare(MemorySegment s, DType type, long i, long expected, String what) {
        long got = bits(s, type, i);
        long want = encode(type, expected);
        return got == want ? null : what + " " + type + " element " + i + ": bits 0x" + Long.toHexString(got)
                + ", expected 0x" + Long.toHexString(want) + " (" + expected + ")";
    }

    private static void put(MemorySegment s, DType type, long i, long v) {
        long e = encode(type, v);
        switch (type) {
            case FP32, INT32 -> s.setAtIndex(ValueLayout.JAVA_INT, i, (int) e);
            case FP64, INT64 -> s.setAtIndex(ValueLayout.JAVA_LONG, i, e);
            case BF16, FP16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) e);
        }
    }

    private static long bits(MemorySegment s, DType type, long i) {
        return switch (type) {
            case FP32, INT32 -> s.getAtIndex(ValueLayout.JAVA_INT, i);
            case FP64, INT64 -> s.getAtIndex(ValueLayout.JAVA_LONG, i);
            case BF16, FP16 -> s.getAtIndex(ValueLayout.JAVA_SHORT, i);
        };
    }

    /** The exact bits of integer {@code v} in {@code type} (small integers and powers of two only). */
    private static long encode(DType type, long v) {
        return switch (type) {
            case FP32 -> Float.floatToRawIntBits((float) v);
            case FP64 -> Double.doubleToRawLongBits((double) v);
            case BF16 -> (short) (Float.floatToRawIntBits((float) v) >>> 16);
            case FP16 -> Float.floatToFloat16((float) v);
            case INT32 -> (int) v;
            case INT64 -> v;
        };
    }

    private static int report(Communicator world, long[][] counts, long[][] perGroup, long iterations, String firstWrong,
                              Arena arena) {
        int k = KINDS.length;
        MemorySegment sums = arena.allocate(ValueLayout.JAVA_LONG, 3L * k + GROUPS.length);
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < 3; j++) sums.setAtIndex(ValueLayout.JAVA_LONG, 3L * i + j, counts[i][j]);
        }
        for (int g = 0; g < GROUPS.length; g++) sums.setAtIndex(ValueLayout.JAVA_LONG, 3L * k + g, perGroup[g][0]);
        world.allReduce(sums, DType.INT64, ReduceOp.SUM);
        if (firstWrong != null) System.out.println("soak: rank " + world.rank() + " WRONG RESULT at " + firstWrong);
        long wrong = 0;
        for (int i = 0; i < k; i++) wrong += sums.getAtIndex(ValueLayout.JAVA_LONG, 3L * i + WRONG);
        if (world.rank() == 0) {
            long calls = 0, bytes = 0;
            System.out.println("soak: " + iterations + " calls on every rank (each also one world broadcast of the go flag)");
            System.out.printf("  %-14s %12s %16s %8s%n", "collective", "rank-calls", "rank-bytes", "wrong");
            for (int i = 0; i < k; i++) {
                long c = sums.getAtIndex(ValueLayout.JAVA_LONG, 3L * i + CALLS);
                long b = sums.getAtIndex(ValueLayout.JAVA_LONG, 3L * i + BYTES);
                calls += c;
                bytes += b;
                System.out.printf("  %-14s %12d %16d %8d%n", KINDS[i], c, b,
                        sums.getAtIndex(ValueLayout.JAVA_LONG, 3L * i + WRONG));
            }
            System.out.printf("  %-14s %12d %16d %8d%n", "total", calls, bytes, wrong);
            StringBuilder g = new StringBuilder("  by group kind:");
            for (int i = 0; i < GROUPS.length; i++) {
                g.append(' ').append(GROUPS[i]).append(' ').append(sums.getAtIndex(ValueLayout.JAVA_LONG, 3L * k + i));
            }
            System.out.println(g);
            System.out.println(wrong == 0 ? "soak: PASS" : "soak: FAIL, " + wrong + " wrong results");
        }
        return wrong == 0 ? 0 : 1;
    }
}
