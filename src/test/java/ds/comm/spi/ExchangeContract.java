package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What every backend's all-to-all(v), gather, scatter and reduce must do, as one set of tests a
 * backend's test class inherits by saying how to open a group of N ranks in one JVM. Sizes are
 * odd on purpose (block sizes that are no multiple of a chunk, of 8 bytes or of the rank count)
 * and include zero; payload bytes are random, so a misplaced block cannot go unnoticed.
 */
@Timeout(120)
public abstract class ExchangeContract {

    /**
     * Opens a group of {@code n} ranks named {@code name} (one collective per rank, index = group
     * rank), with calls bounded by {@code timeoutMillis}. Opening may need every rank at once:
     * implementations use {@link #runAll}.
     */
    protected abstract Collective[] openGroup(String name, int n, long timeoutMillis) throws Exception;

    /** Element types the byte-moving tests cover; every backend moves bytes, so all of them. */
    private static final ElementType[] TYPES = {ElementType.FP32, ElementType.BF16, ElementType.INT64, ElementType.FP16};
    /** Elements per block: zero, one, odd, more than one chunk of the tests' small settings. */
    private static final long[] COUNTS = {0, 1, 3, 257, 1500};

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void allToAllSendsBlockJOfEveryRankToRankJInRankOrder(int n) throws Exception {
        Collective[] group = openGroup("a2a", n, 20_000);
        try {
            runAllOk(n, rank -> {
                int caseNo = 0;
                for (ElementType type : TYPES) {
                    for (long count : COUNTS) {
                        caseNo++;
                        long block = count * type.byteSize();
                        MemorySegment in = MemorySegment.ofArray(new byte[(int) (n * block)]);
                        MemorySegment out = MemorySegment.ofArray(new byte[(int) (n * block)]);
                        for (int j = 0; j < n; j++) in.asSlice(j * block, block).copyFrom(payload(caseNo, rank, j, block));
                        group[rank].allToAll(in, out, type);
                        for (int i = 0; i < n; i++) {
                            assertEquals(-1, out.asSlice(i * block, block).mismatch(payload(caseNo, i, rank, block)),
                                    "rank " + rank + " block from " + i + ", " + type + " x " + count);
                        }
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void allToAllVPacksUnevenAndZeroBlocksAtPrefixSumOffsetsAndLeavesTheTailAlone(int n) throws Exception {
        Collective[] group = openGroup("a2av", n, 20_000);
        try {
            runAllOk(n, rank -> {
                for (int caseNo = 1; caseNo <= 6; caseNo++) {
                    ElementType type = TYPES[caseNo % TYPES.length];
                    int es = type.byteSize();
                    long[][] matrix = countMatrix(n, caseNo);
                    long[] send = matrix[rank].clone();
                    long[] recv = new long[n];
                    for (int i = 0; i < n; i++) recv[i] = matrix[i][rank];
                    long sendTotal = Arrays.stream(send).sum() * es;
                    long recvTotal = Arrays.stream(recv).sum() * es;
                    MemorySegment in = MemorySegment.ofArray(new byte[(int) sendTotal + 24]);
                    MemorySegment out = MemorySegment.ofArray(new byte[(int) recvTotal + 24]);
                    out.fill((byte) 0x5A);
                    long at = 0;
                    for (int j = 0; j < n; j++) {
                        in.asSlice(at, send[j] * es).copyFrom(payload(100 + caseNo, rank, j, send[j] * es));
                        at += send[j] * es;
                    }
                    group[rank].allToAllV(in, send, out, recv, type);
                    at = 0;
                    for (int i = 0; i < n; i++) {
                        long bytes = recv[i] * es;
                        assertEquals(-1, out.asSlice(at, bytes).mismatch(payload(100 + caseNo, i, rank, bytes)),
                                "rank " + rank + " block from " + i + " case " + caseNo);
                        at += bytes;
                    }
                    for (long b = recvTotal; b < out.byteSize(); b++) {
                        assertEquals((byte) 0x5A, out.get(ValueLayout.JAVA_BYTE, b), "tail byte " + b + " written");
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    /**
     * Blocks larger than a composed backend's piece per round ({@code Compositions.piece()}: about
     * 512 KiB at 2 ranks, 170 KiB at 3), so that the ring and HIER exchange them over several
     * rounds, with pieces cut at odd offsets; allToAllV with one pair above the piece, one
     * empty and the others small.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3})
    void allToAllOfBlocksSpanningSeveralCompositionRoundsArrivesWhole(int n) throws Exception {
        Collective[] group = openGroup("a2abig", n, 60_000);
        try {
            runAllOk(n, rank -> {
                ElementType type = ElementType.BF16;
                long block = 2 * 550_001L;
                MemorySegment in = MemorySegment.ofArray(new byte[(int) (n * block)]);
                MemorySegment out = MemorySegment.ofArray(new byte[(int) (n * block)]);
                for (int j = 0; j < n; j++) in.asSlice(j * block, block).copyFrom(payload(7, rank, j, block));
                group[rank].allToAll(in, out, type);
                for (int i = 0; i < n; i++) {
                    assertEquals(-1, out.asSlice(i * block, block).mismatch(payload(7, i, rank, block)),
                            "rank " + rank + " block from " + i);
                }
                // Counts in fp32 elements: pair (i, j) sends big, empty or small by (i + 2 j) mod 3.
                long[][] matrix = new long[n][n];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) matrix[i][j] = new long[] {300_007, 0, 1_001}[(i + 2 * j) % 3];
                }
                long[] send = matrix[rank].clone();
                long[] recv = new long[n];
                for (int i = 0; i < n; i++) recv[i] = matrix[i][rank];
                MemorySegment vin = MemorySegment.ofArray(new byte[(int) (Arrays.stream(send).sum() * 4)]);
                MemorySegment vout = MemorySegment.ofArray(new byte[(int) (Arrays.stream(recv).sum() * 4)]);
                long at = 0;
                for (int j = 0; j < n; j++) {
                    vin.asSlice(at, send[j] * 4).copyFrom(payload(8, rank, j, send[j] * 4));
                    at += send[j] * 4;
                }
                group[rank].allToAllV(vin, send, vout, recv, ElementType.FP32);
                at = 0;
                for (int i = 0; i < n; i++) {
                    assertEquals(-1, vout.asSlice(at, recv[i] * 4).mismatch(payload(8, i, rank, recv[i] * 4)),
                            "rank " + rank + " allToAllV block from " + i);
                    at += recv[i] * 4;
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void gatherCollectsEveryRanksInputOnTheRootOnly(int n) throws Exception {
        Collective[] group = openGroup("gather", n, 20_000);
        try {
            runAllOk(n, rank -> {
                int caseNo = 0;
                for (int root = 0; root < n; root++) {
                    for (long bytes : new long[] {0, 1, 13, 3001, 9000}) {
                        caseNo++;
                        MemorySegment in = payload(200 + caseNo, rank, 0, bytes);
                        MemorySegment out = MemorySegment.ofArray(new byte[(int) (n * bytes)]);
                        out.fill((byte) 0x5A);
                        group[rank].gather(in, out, root);
                        for (int i = 0; i < n; i++) {
                            MemorySegment expected = rank == root ? payload(200 + caseNo, i, 0, bytes) : sentinel(bytes);
                            assertEquals(-1, out.asSlice(i * bytes, bytes).mismatch(expected),
                                    "rank " + rank + " root " + root + " slot " + i + ", " + bytes + " bytes");
                        }
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void scatterGivesRankRBlockROfTheRootsInputAndNeverReadsOtherRanksInput(int n) throws Exception {
        Collective[] group = openGroup("scatter", n, 20_000);
        try {
            runAllOk(n, rank -> {
                int caseNo = 0;
                for (int root = 0; root < n; root++) {
                    for (long bytes : new long[] {0, 1, 13, 3001, 9000}) {
                        caseNo++;
                        MemorySegment in = MemorySegment.ofArray(new byte[(int) (n * bytes)]);
                        for (int j = 0; j < n; j++) in.asSlice(j * bytes, bytes).copyFrom(payload(300 + caseNo, rank, j, bytes));
                        MemorySegment out = MemorySegment.ofArray(new byte[(int) bytes]);
                        group[rank].scatter(rank == root ? in : in.asReadOnly(), out, root);
                        assertEquals(-1, out.mismatch(payload(300 + caseNo, root, rank, bytes)),
                                "rank " + rank + " root " + root + ", " + bytes + " bytes");
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    /**
     * The root's result is the bits allReduce gives on the same backend for the same inputs
     * (for buffers within one composition piece on composed backends; any size on SHM), and
     * the other ranks' buffers keep their input.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void reduceLeavesAllReducesBitsOnTheRootAndOtherBuffersUnchanged(int n) throws Exception {
        Collective[] group = openGroup("reduce", n, 20_000);
        try {
            runAllOk(n, rank -> {
                int caseNo = 0;
                for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16}) {
                    for (long count : new long[] {0, 1, 7, 301, 5003}) {
                        for (Combiner op : new Combiner[] {Combiner.SUM, Combiner.MAX}) {
                            caseNo++;
                            MemorySegment input = floats(type, count, rank, caseNo);
                            MemorySegment viaAllReduce = copy(input);
                            group[rank].allReduce(viaAllReduce, type, op);
                            int root = caseNo % n;
                            MemorySegment buf = copy(input);
                            group[rank].reduce(buf, type, op, root);
                            MemorySegment expected = rank == root ? viaAllReduce : input;
                            assertEquals(-1, buf.mismatch(expected), "rank " + rank + " root " + root + " " + type + " "
                                    + op + " x " + count);
                        }
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @Test
    void allToAllVWithCountsThatDisagreeFailsWithMismatchOnBothRanksOfThePair() throws Exception {
        int n = 3;
        Collective[] group = openGroup("a2avbad", n, 10_000);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                long[] send = {2, 2, 2};
                long[] recv = {2, 2, 2};
                if (rank == 0) send[1] = 3;  // rank 1 expects 2 from rank 0
                MemorySegment in = MemorySegment.ofArray(new float[7]);
                MemorySegment out = MemorySegment.ofArray(new float[7]);
                group[rank].allToAllV(in, send, out, recv, ElementType.FP32);
                return null;
            });
            for (int rank : new int[] {0, 1}) {
                CommFailure f = failure(outcomes, rank);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                assertTrue(f.getMessage().contains("0 -> 1"), f.getMessage());
                assertRefusesTheNextCall(group[rank]);
            }
            // Whatever rank 2 saw, it did not hang: it failed or completed.
            assertNotNull(outcomes.get(2));
        } finally {
            closeAll(group);
        }
    }

    @Test
    void ranksCallingAllToAllAndGatherFailWithMismatch() throws Exception {
        int n = 2;
        Collective[] group = openGroup("a2avsgather", n, 10_000);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                MemorySegment in = MemorySegment.ofArray(new byte[64]);
                MemorySegment out = MemorySegment.ofArray(new byte[128]);
                if (rank == 0) group[rank].allToAll(in, MemorySegment.ofArray(new byte[64]), ElementType.FP32);
                else group[rank].gather(in, out, 0);
                return null;
            });
            for (int rank = 0; rank < n; rank++) {
                CommFailure f = failure(outcomes, rank);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), "rank " + rank + ": " + f.getMessage());
                assertRefusesTheNextCall(group[rank]);
            }
        } finally {
            closeAll(group);
        }
    }

    @Test
    void allToAllWithDifferentBlockSizesFailsWithMismatch() throws Exception {
        int n = 2;
        Collective[] group = openGroup("a2asizes", n, 10_000);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                int bytes = rank == 0 ? 64 : 72;
                group[rank].allToAll(MemorySegment.ofArray(new byte[bytes]), MemorySegment.ofArray(new byte[bytes]),
                        ElementType.FP32);
                return null;
            });
            for (int rank = 0; rank < n; rank++) {
                CommFailure f = failure(outcomes, rank);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), "rank " + rank + ": " + f.getMessage());
            }
        } finally {
            closeAll(group);
        }
    }

    @Test
    void gathersToDifferentRootsFailWithMismatch() throws Exception {
        int n = 2;
        Collective[] group = openGroup("gatherroots", n, 10_000);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                group[rank].gather(MemorySegment.ofArray(new byte[40]), MemorySegment.ofArray(new byte[80]), rank);
                return null;
            });
            for (int rank = 0; rank < n; rank++) {
                CommFailure f = failure(outcomes, rank);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), "rank " + rank + ": " + f.getMessage());
            }
        } finally {
            closeAll(group);
        }
    }

    @Test
    void allToAllOfAPeerThatNeverCallsTimesOut() throws Exception {
        int n = 2;
        Collective[] group = openGroup("a2atimeout", n, 400);
        try {
            long start = System.nanoTime();
            List<Outcome> outcomes = runAll(1, rank -> {
                group[0].allToAll(MemorySegment.ofArray(new byte[64]), MemorySegment.ofArray(new byte[64]), ElementType.FP32);
                return null;
            });
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            CommFailure f = failure(outcomes, 0);
            assertEquals(CommFailure.Kind.TIMEOUT, f.kind(), f.getMessage());
            assertTrue(ms >= 390 && ms < 10_000, "timed out after " + ms + " ms");
        } finally {
            closeAll(group);
        }
    }

    @Test
    void allToAllWithAPeerThatClosesIsReportedLostWellBeforeTheTimeout() throws Exception {
        int n = 3;
        int victim = 2;
        long timeout = 20_000;
        Collective[] group = openGroup("a2alost", n, timeout);
        try {
            long start = System.nanoTime();
            List<Outcome> outcomes = runAll(n, rank -> {
                if (rank == victim) {
                    Thread.sleep(200);
                    group[rank].close();
                    return null;
                }
                long block = 4096;
                group[rank].allToAll(MemorySegment.ofArray(new byte[(int) (n * block)]),
                        MemorySegment.ofArray(new byte[(int) (n * block)]), ElementType.FP32);
                return null;
            });
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            for (int rank = 0; rank < n; rank++) {
                if (rank == victim) continue;
                CommFailure f = failure(outcomes, rank);
                assertTrue(f.kind() == CommFailure.Kind.PEER_LOST || f.kind() == CommFailure.Kind.ABORTED,
                        "rank " + rank + ": " + f.kind() + " " + f.getMessage());
                assertEquals(victim, f.peerRank(), "rank " + rank + " must name the lost rank: " + f.getMessage());
            }
            assertTrue(ms < timeout / 2, "survivors took " + ms + " ms");
        } finally {
            closeAll(group);
        }
    }

    // ---- helpers

    /** Deterministic random bytes of the block rank {@code from} sends rank {@code to} in a case. */
    protected static MemorySegment payload(int caseNo, int from, int to, long bytes) {
        byte[] b = new byte[(int) bytes];
        new SplittableRandom(caseNo * 1_000_003L + from * 1009L + to).nextBytes(b);
        return MemorySegment.ofArray(b);
    }

    private static MemorySegment sentinel(long bytes) {
        MemorySegment s = MemorySegment.ofArray(new byte[(int) bytes]);
        s.fill((byte) 0x5A);
        return s;
    }

    private static MemorySegment copy(MemorySegment s) {
        MemorySegment c = MemorySegment.ofArray(new byte[(int) s.byteSize()]);
        c.copyFrom(s);
        return c;
    }

    /** Random finite values of {@code type} (fp32 or bf16) in [-4, 4): sums that round. */
    private static MemorySegment floats(ElementType type, long count, int rank, int caseNo) {
        SplittableRandom rnd = new SplittableRandom(caseNo * 31L + rank);
        MemorySegment s = MemorySegment.ofArray(new byte[(int) (count * type.byteSize())]);
        for (long i = 0; i < count; i++) {
            float v = (float) (rnd.nextDouble() * 8 - 4);
            if (type == ElementType.FP32) {
                s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
            } else {
                s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
        }
        return s;
    }

    /** counts[i][j]: elements rank i sends rank j; zeros, ones and uneven sizes, varied per case. */
    private static long[][] countMatrix(int n, int caseNo) {
        long[][] m = new long[n][n];
        SplittableRandom rnd = new SplittableRandom(caseNo);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                m[i][j] = switch (rnd.nextInt(4)) {
                    case 0 -> 0;
                    case 1 -> 1 + rnd.nextInt(5);
                    case 2 -> 100 + rnd.nextInt(300);
                    default -> 1000 + rnd.nextInt(2000);
                };
            }
        }
        return m;
    }

    /** A mismatch fails the group: the rank's next call is refused at once, naming the closed or failed group. */
    private static void assertRefusesTheNextCall(Collective c) {
        CommFailure refused = assertThrows(CommFailure.class, c::barrier);
        assertEquals(CommFailure.Kind.ABORTED, refused.kind(), refused.getMessage());
    }

    private static CommFailure failure(List<Outcome> outcomes, int rank) {
        Throwable t = outcomes.get(rank).failure();
        if (t == null) fail("rank " + rank + " should have failed");
        return assertInstanceOf(CommFailure.class, t, "rank " + rank);
    }

    protected static void closeAll(Collective[] group) {
        if (group == null) return;
        for (Collective c : group) {
            if (c != null) c.close();
        }
    }

    /** What one rank's task did. */
    protected record Outcome(Object value, Throwable failure) {
    }

    /** One rank's work. */
    @FunctionalInterface
    protected interface RankTask {
        Object run(int rank) throws Exception;
    }

    /** Runs {@code task} for ranks 0..n-1 on daemon threads; waits at most 60 s in all. */
    protected static List<Outcome> runAll(int n, RankTask task) throws InterruptedException {
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "contract-rank");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<Object>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int rank = i;
                futures.add(pool.submit(() -> task.run(rank)));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            List<Outcome> outcomes = new ArrayList<>();
            for (Future<Object> f : futures) {
                try {
                    outcomes.add(new Outcome(f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS), null));
                } catch (ExecutionException e) {
                    outcomes.add(new Outcome(null, e.getCause()));
                } catch (TimeoutException e) {
                    f.cancel(true);
                    outcomes.add(new Outcome(null, e));
                }
            }
            return outcomes;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Like {@link #runAll} but fails the test with every rank's failure if any rank failed. */
    protected static List<Object> runAllOk(int n, RankTask task) throws InterruptedException {
        List<Outcome> outcomes = runAll(n, task);
        AssertionError error = null;
        List<Object> values = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Throwable t = outcomes.get(i).failure();
            if (t != null) {
                if (error == null) error = new AssertionError("rank " + i + " failed: " + t, t);
                else error.addSuppressed(t);
            }
            values.add(outcomes.get(i).value());
        }
        if (error != null) throw error;
        return values;
    }
}
