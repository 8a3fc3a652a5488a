package ds.comm.tool.scenario;

import ds.comm.Backend;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.tool.Pattern;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Rank program for the multi-process collective tests: runs a matrix of collectives through the
 * public API only, checks every result against the exact reference ({@link Pattern}) and checks
 * that all ranks hold the same bits, then prints {@code PASS <checks>} or {@code FAIL ...} lines
 * and exits non-zero on any failure.
 *
 * <pre>
 * usage: CollectiveScenario [--counts 0,1,7,...] [--dtypes fp32,...] [--ops sum,...] [--big BYTES]
 *                           [--expect BACKEND] [--split-expect BACKEND] [--no-split] [--repeat K] [--threads]
 *   --counts        element counts of every all-reduce / reduce-scatter block (default 0,1,7,1000,4099)
 *   --big BYTES     one more fp32 SUM all-reduce of this many bytes (e.g. 67108864)
 *   --expect B      fail unless the world communicator chose backend B
 *   --split-expect  fail unless the TP=2 split (color = rank / 2) chose backend B
 *   --threads       also all-reduce from other threads than main: non-blocking (run by the
 *                   group's progress thread) and blocking from a second thread, one at a time
 * </pre>
 */
public final class CollectiveScenario {

    private final Communicator comm;
    private final Arena arena;
    private final List<String> failures = new ArrayList<>();
    private int checks;
    private int iteration;

    private CollectiveScenario(Communicator comm, Arena arena) {
        this.comm = comm;
        this.arena = arena;
    }

    /**
     * @param args see the class description
     */
    public static void main(String[] args) {
        List<Long> counts = List.of(0L, 1L, 7L, 1000L, 4099L);
        List<DType> dtypes = List.of(DType.values());
        List<ReduceOp> ops = List.of(ReduceOp.values());
        long big = 0;
        String expect = null;
        String splitExpect = null;
        boolean split = true;
        int repeat = 1;
        boolean threads = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--counts" -> counts = parse(args[++i], Long::parseLong);
                case "--dtypes" -> dtypes = parse(args[++i], s -> DType.valueOf(s.toUpperCase(Locale.ROOT)));
                case "--ops" -> ops = parse(args[++i], s -> ReduceOp.valueOf(s.toUpperCase(Locale.ROOT)));
                case "--big" -> big = Long.parseLong(args[++i]);
                case "--expect" -> expect = args[++i];
                case "--split-expect" -> splitExpect = args[++i];
                case "--no-split" -> split = false;
                case "--repeat" -> repeat = Integer.parseInt(args[++i]);
                case "--threads" -> threads = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        int code;
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofShared()) {
            CollectiveScenario s = new CollectiveScenario(comm, arena);
            s.expectBackend(comm, expect);
            for (int k = 0; k < repeat; k++) s.matrix(comm, counts, dtypes, ops);
            if (big > 0) s.allReduce(comm, DType.FP32, ReduceOp.SUM, big / 4, false, 0);
            if (threads) s.fromOtherThreads(comm);
            if (split && comm.size() >= 2) {
                // Two (or more) TP=2 groups running concurrently, interleaved with world calls.
                try (Communicator tp = comm.split(comm.rank() / 2, comm.rank())) {
                    s.expectBackend(tp, splitExpect);
                    for (DType t : dtypes) {
                        s.allReduce(tp, t, ReduceOp.SUM, 1000, false, 0);
                        s.allReduce(comm, t, ReduceOp.MAX, 333, true, 1);
                        s.allReduce(tp, t, ReduceOp.MAX, 5000, true, 0);
                    }
                    s.gatherAndScatter(tp, DType.FP32, 100);
                    s.broadcasts(tp, 99);
                }
            }
            comm.barrier();
            code = s.report();
        }
        System.exit(code);
    }

    private static <T> List<T> parse(String csv, java.util.function.Function<String, T> f) {
        List<T> out = new ArrayList<>();
        for (String s : csv.split(",")) if (!s.isBlank()) out.add(f.apply(s.trim()));
        return out;
    }

    private void expectBackend(Communicator c, String expected) {
        if (expected == null) return;
        checks++;
        if (c.backend().backend() != Backend.parse(expected)) {
            fail(c, "expected backend " + expected + " but got " + c.backend());
        }
    }

    private void matrix(Communicator c, List<Long> counts, List<DType> dtypes, List<ReduceOp> ops) {
        for (DType t : dtypes) {
            for (ReduceOp op : ops) {
                for (long n : counts) {
                    allReduce(c, t, op, n, (n & 1) == 1, (int) (n % 3));
                }
            }
            for (long n : counts) gatherAndScatter(c, t, n);
            for (long n : counts) exchanges(c, t, Math.min(n, 5000));
        }
        broadcasts(c, 1001);
        c.barrier();
    }

    /**
     * One verified all-reduce of {@code count} elements, on a heap segment (at an odd byte offset
     * when {@code heap}) or a native one (at {@code offsetElements} elements into a larger one).
     */
    private void allReduce(Communicator c, DType t, ReduceOp op, long count, boolean heap, int offsetElements) {
        allReduce(c, t, op, count, heap, offsetElements, "", buf -> c.allReduce(buf, t, op));
    }

    /** How a check makes its all-reduce call. */
    private interface Call {
        void on(MemorySegment buf) throws Exception;
    }

    /** {@link #allReduce(Communicator, DType, ReduceOp, long, boolean, int)} with the call made by {@code call}. */
    private void allReduce(Communicator c, DType t, ReduceOp op, long count, boolean heap, int offsetElements, String how,
                           Call call) {
        int it = ++iteration;
        long bytes = count * t.byteSize();
        MemorySegment buf;
        if (heap) {
            // An odd byte offset into a byte[]: every access is unaligned.
            buf = MemorySegment.ofArray(new byte[(int) bytes + 3]).asSlice(3, bytes);
        } else {
            long off = (long) offsetElements * t.byteSize();
            buf = arena.allocate(bytes + off + 8, 64).asSlice(off, bytes);
        }
        Pattern.fill(buf, t, op, c.rank(), it);
        checks++;
        try {
            call.on(buf);
        } catch (RuntimeException e) {
            throw e; // as a plain call always did: a failed collective ends the scenario
        } catch (Exception e) {
            // A non-blocking call's get(): ExecutionException or TimeoutException.
            fail(c, "allReduce " + t + " " + op + " n=" + count + how + ": " + e);
            return;
        }
        long wrong = Pattern.firstWrong(buf, t, op, c.size(), it);
        if (wrong >= 0) {
            fail(c, "allReduce " + t + " " + op + " n=" + count + (heap ? " heap" : " native+" + offsetElements) + how + ": "
                    + Pattern.describe(buf, t, op, c.size(), it, wrong));
        }
        sameOnAllRanks(c, buf, t, "allReduce " + t + " " + op + " n=" + count + how);
    }

    /**
     * All-reduces made by other threads than main, one at a time: non-blocking ones only waited
     * for with a bound (so the group's progress thread runs them, not the waiting thread) and
     * blocking ones from a second thread that main joins. Must hold at every MPI thread level
     * ds-comm offers, which below MPI_THREAD_MULTIPLE serialises the calls itself.
     */
    private void fromOtherThreads(Communicator c) {
        for (DType t : new DType[] {DType.FP32, DType.BF16}) {
            allReduce(c, t, ReduceOp.SUM, 1000, false, 0, " (non-blocking, progress thread)",
                    buf -> c.allReduceAsync(buf, t, ReduceOp.SUM).get(60, java.util.concurrent.TimeUnit.SECONDS));
            allReduce(c, t, ReduceOp.MAX, 4099, false, 1, " (from a second thread)", buf -> {
                Exception[] thrown = new Exception[1];
                Thread other = Thread.ofPlatform().name("scenario-second-thread").start(() -> {
                    try {
                        c.allReduce(buf, t, ReduceOp.MAX);
                    } catch (RuntimeException e) {
                        thrown[0] = e;
                    }
                });
                if (!other.join(java.time.Duration.ofSeconds(60))) throw new IllegalStateException("second thread still running after 60 s");
                if (thrown[0] != null) throw thrown[0];
            });
        }
    }

    private void gatherAndScatter(Communicator c, DType t, long count) {
        int it = ++iteration;
        int n = c.size();
        long bytes = count * t.byteSize();
        MemorySegment in = arena.allocate(Math.max(bytes, 1)).asSlice(0, bytes);
        MemorySegment out = arena.allocate(Math.max(bytes * n, 1)).asSlice(0, bytes * n);
        Pattern.fill(in, t, ReduceOp.MAX, c.rank(), it);
        c.allGather(in, out, t);
        checks++;
        for (int r = 0; r < n; r++) {
            MemorySegment block = out.asSlice(r * bytes, bytes);
            MemorySegment want = arena.allocate(Math.max(bytes, 1)).asSlice(0, bytes);
            Pattern.fill(want, t, ReduceOp.MAX, r, it);
            if (block.mismatch(want) >= 0) {
                fail(c, "allGather " + t + " n=" + count + ": block of rank " + r + " differs at byte " + block.mismatch(want));
                break;
            }
        }
        // reduceScatter: rank r's block r of the reduction; the pattern is indexed over the whole input.
        int it2 = ++iteration;
        MemorySegment all = arena.allocate(Math.max(bytes * n, 1)).asSlice(0, bytes * n);
        Pattern.fill(all, t, ReduceOp.SUM, c.rank(), it2);
        MemorySegment mine = arena.allocate(Math.max(bytes, 1)).asSlice(0, bytes);
        c.reduceScatter(all, mine, t, ReduceOp.SUM);
        checks++;
        for (long i = 0; i < count; i++) {
            long global = c.rank() * count + i;
            if (Pattern.bits(mine, t, i) != Pattern.encode(t, Pattern.expected(ReduceOp.SUM, n, it2, global))) {
                fail(c, "reduceScatter " + t + " n=" + count + ": element " + i + " is 0x" + Long.toHexString(Pattern.bits(mine, t, i))
                        + ", expected " + Pattern.expected(ReduceOp.SUM, n, it2, global));
                break;
            }
        }
    }

    /**
     * allToAll, allToAllV (uneven blocks, zeros included), gather and scatter at a root that
     * varies, and reduce there: byte-exact (a distinct pattern per sender and receiver) and, for
     * reduce, exact against the reference on the root with every other rank's input unchanged.
     */
    private void exchanges(Communicator c, DType t, long count) {
        int it = ++iteration;
        int n = c.size();
        int me = c.rank();
        int es = t.byteSize();
        long block = count * es;
        MemorySegment in = arena.allocate(Math.max(block * n, 1)).asSlice(0, block * n);
        MemorySegment out = arena.allocate(Math.max(block * n, 1)).asSlice(0, block * n);
        for (int j = 0; j < n; j++) Pattern.fill(in.asSlice(j * block, block), t, ReduceOp.MAX, me * n + j, it);
        c.allToAll(in, out, t);
        checks++;
        for (int i = 0; i < n; i++) {
            if (!holds(out.asSlice(i * block, block), t, i * n + me, it)) {
                fail(c, "allToAll " + t + " n=" + count + ": block from rank " + i + " is wrong");
                break;
            }
        }
        // allToAllV: rank i sends rank j (count * (i + 2 * j + 1)) % 7 / 3 ... elements; zero for some pairs.
        long[] send = new long[n];
        long[] recv = new long[n];
        for (int j = 0; j < n; j++) {
            send[j] = vCount(count, me, j);
            recv[j] = vCount(count, j, me);
        }
        long sendTotal = java.util.Arrays.stream(send).sum() * es;
        long recvTotal = java.util.Arrays.stream(recv).sum() * es;
        MemorySegment vin = arena.allocate(Math.max(sendTotal, 1)).asSlice(0, sendTotal);
        MemorySegment vout = arena.allocate(Math.max(recvTotal, 1)).asSlice(0, recvTotal);
        long at = 0;
        for (int j = 0; j < n; j++) {
            Pattern.fill(vin.asSlice(at, send[j] * es), t, ReduceOp.MAX, me * n + j, it + 1);
            at += send[j] * es;
        }
        c.allToAllV(vin, send, vout, recv, t);
        checks++;
        at = 0;
        for (int i = 0; i < n; i++) {
            if (!holds(vout.asSlice(at, recv[i] * es), t, i * n + me, it + 1)) {
                fail(c, "allToAllV " + t + " n=" + count + ": block from rank " + i + " is wrong");
                break;
            }
            at += recv[i] * es;
        }
        int root = (int) (count % n);
        MemorySegment mine = arena.allocate(Math.max(block, 1)).asSlice(0, block);
        Pattern.fill(mine, t, ReduceOp.MAX, me, it + 2);
        MemorySegment gathered = arena.allocate(Math.max(block * n, 1)).asSlice(0, block * n);
        c.gather(mine, me == root ? gathered : MemorySegment.NULL, root);
        checks++;
        if (me == root) {
            for (int i = 0; i < n; i++) {
                if (!holds(gathered.asSlice(i * block, block), t, i, it + 2)) {
                    fail(c, "gather " + t + " n=" + count + " root " + root + ": slot " + i + " is wrong");
                    break;
                }
            }
        }
        MemorySegment part = arena.allocate(Math.max(block, 1)).asSlice(0, block);
        c.scatter(me == root ? in : MemorySegment.NULL, part, root);
        checks++;
        if (!holds(part, t, root * n + me, it)) fail(c, "scatter " + t + " n=" + count + " root " + root + ": block is wrong");
        MemorySegment buf = arena.allocate(Math.max(block, 1)).asSlice(0, block);
        Pattern.fill(buf, t, ReduceOp.SUM, me, it + 3);
        c.reduce(buf, t, ReduceOp.SUM, root);
        checks++;
        boolean ok = me == root ? Pattern.firstWrong(buf, t, ReduceOp.SUM, n, it + 3) < 0 : holds(buf, t, me, it + 3, ReduceOp.SUM);
        if (!ok) fail(c, "reduce " + t + " n=" + count + " root " + root + (me == root ? ": result" : ": input changed"));
    }

    private static long vCount(long count, int from, int to) {
        return (from + 2 * to) % 3 == 0 ? 0 : count * (from + 2 * to + 1) % 7 + count / 2;
    }

    private boolean holds(MemorySegment seg, DType t, int seed, int it) {
        return holds(seg, t, seed, it, ReduceOp.MAX);
    }

    private boolean holds(MemorySegment seg, DType t, int seed, int it, ReduceOp op) {
        MemorySegment want = arena.allocate(Math.max(seg.byteSize(), 1)).asSlice(0, seg.byteSize());
        Pattern.fill(want, t, op, seed, it);
        return seg.mismatch(want) < 0;
    }

    private void broadcasts(Communicator c, long bytes) {
        for (int root = 0; root < c.size(); root++) {
            int it = ++iteration;
            MemorySegment buf = arena.allocate(bytes);
            if (c.rank() == root) Pattern.fill(buf, DType.INT32, ReduceOp.SUM, root, it);
            // bytes need not be a multiple of 4: fill the tail bytes too
            if (c.rank() == root) for (long i = bytes / 4 * 4; i < bytes; i++) buf.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + it));
            c.broadcast(buf, root);
            checks++;
            MemorySegment want = arena.allocate(bytes);
            Pattern.fill(want, DType.INT32, ReduceOp.SUM, root, it);
            for (long i = bytes / 4 * 4; i < bytes; i++) want.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + it));
            if (buf.mismatch(want) >= 0) fail(c, "broadcast from root " + root + ": differs at byte " + buf.mismatch(want));
        }
    }

    private void sameOnAllRanks(Communicator c, MemorySegment buf, DType t, String what) {
        MemorySegment mine = arena.allocate(ValueLayout.JAVA_LONG);
        MemorySegment all = arena.allocate(ValueLayout.JAVA_LONG, c.size());
        mine.set(ValueLayout.JAVA_LONG, 0, Pattern.checksum(buf, t));
        c.allGather(mine, all, DType.INT64);
        checks++;
        for (int r = 1; r < c.size(); r++) {
            if (all.getAtIndex(ValueLayout.JAVA_LONG, r) != all.getAtIndex(ValueLayout.JAVA_LONG, 0)) {
                fail(c, what + ": rank " + r + " holds different bits than rank 0");
                return;
            }
        }
    }

    private void fail(Communicator c, String what) {
        failures.add("group " + c.name() + " rank " + c.rank() + ": " + what);
    }

    private int report() {
        for (String f : failures) System.out.println("FAIL " + f);
        if (failures.isEmpty()) {
            System.out.println("PASS " + checks + " checks on " + comm.size() + " ranks, backend " + comm.backend());
            return 0;
        }
        return 1;
    }
}
