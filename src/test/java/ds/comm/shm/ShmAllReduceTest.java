package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

@Timeout(60)
class ShmAllReduceTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    /**
     * Element counts that hit every path of a type: empty, one, odd, both sides of the one-step
     * threshold, both sides of the chunk size, several chunks with a tail, more than an area.
     */
    static long[] counts(ElementType type) {
        int es = type.byteSize();
        long small = ShmRanks.SMALL_MESSAGE_BYTES / es;
        long chunk = ShmRanks.CHUNK_BYTES / es;
        long area = SegmentDescriptor.areaBytes(ShmRanks.SMALL_SHM_BYTES) / es;
        TreeSet<Long> c = new TreeSet<>(List.of(0L, 1L, 7L, small - 1, small, small + 1, chunk - 1, chunk, chunk + 1,
                3 * chunk + 5, area + 3));
        return c.stream().mapToLong(Long::longValue).toArray();
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 8})
    void allReduceOfEveryTypeSumAndMaxEqualsTheRankOrderedReferenceOnAllRanks(int n) throws Exception {
        ShmRanks.onThreads(n, 50_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(),
                    Reducers.scalar()); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : List.of(Combiner.SUM, Combiner.MAX)) {
                        for (long count : counts(type)) {
                            caseNo++;
                            long bytes = count * type.byteSize();
                            MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                            MemorySegment buf = Payloads.allocate(arena, bytes, Payloads.placement(caseNo + rank));
                            buf.copyFrom(inputs[rank]);
                            c.allReduce(buf, type, op);
                            MemorySegment expected = Payloads.reduced(type, op, inputs, 0, bytes);
                            long at = Payloads.mismatch(expected, buf);
                            if (at >= 0) {
                                fail("rank " + rank + " of " + n + ": allReduce(" + type + ", " + op + ", " + count
                                        + " elements) differs from the reference at byte " + at);
                            }
                        }
                    }
                }
            }
            return null;
        });
    }

    /**
     * With a chunk setting larger than the area, the area bounds the chunk, and each chunk must
     * still leave room for this rank's slice of it: sizes around the area, 1, 2 and 3 chunks.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 8})
    void chunksBoundedByTheAreaStillReduceCorrectly(int n) throws Exception {
        ds.comm.spi.Settings t = ranks.settings();
        ds.comm.spi.Settings bigChunks = new ds.comm.spi.Settings(t.timeoutNanos(), t.idle(), t.shmDir(),
                t.shmBytes(), t.smallMessageBytes(), 1L << 20, t.peerLostNanos());
        long area = SegmentDescriptor.areaBytes(t.shmBytes());
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), bigChunks,
                    Reducers.scalar())) {
                int caseNo = 500;
                for (ElementType type : List.of(ElementType.FP16, ElementType.FP64, ElementType.INT32)) {
                    for (long bytes : new long[] {area - 64, area, area + 8, 2 * area + 24, 3 * area - 8}) {
                        caseNo++;
                        long b = bytes / type.byteSize() * type.byteSize();
                        MemorySegment[] inputs = Payloads.inputs(type, b, n, caseNo);
                        MemorySegment buf = MemorySegment.ofArray(new byte[(int) b]);
                        buf.copyFrom(inputs[rank]);
                        c.allReduce(buf, type, Combiner.SUM);
                        assertEquals(-1, Payloads.reduced(type, Combiner.SUM, inputs, 0, b).mismatch(buf),
                                type + " " + b + " bytes");
                    }
                }
            }
            return null;
        });
    }

    /** The scalar reducer and every vector width this JVM runs, by name. */
    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> reducersAndSizes() {
        List<org.junit.jupiter.params.provider.Arguments> out = new ArrayList<>();
        List<Integer> widths = new ArrayList<>(List.of(0));
        for (int bits : new int[]{64, 128, 256, 512}) {
            if (bits <= Reducers.maxBits()) widths.add(bits);
        }
        ds.comm.testkit.RequiredEnvironment.requireWhereRequired(widths.size() > 1,
                "this JVM offers no vector width; only the scalar reducer is tested");
        for (int n : new int[]{3, 5}) {
            for (int bits : widths) out.add(org.junit.jupiter.params.provider.Arguments.of(bits, n));
        }
        return out.stream();
    }

    /**
     * Every element count one below, at and one above each threshold of the SHM all-reduce
     * (one-step limit, chunk, pipelined chunk, area) for group size {@code n}.
     */
    static long[] thresholdCounts(ElementType type, int n) {
        int es = type.byteSize();
        long area = SegmentDescriptor.areaBytes(ShmRanks.SMALL_SHM_BYTES);
        long pipe = Math.min((area - 64) / (n + 1) * n, ShmRanks.CHUNK_BYTES) & -64L;
        TreeSet<Long> c = new TreeSet<>();
        for (long bytes : new long[]{ShmRanks.SMALL_MESSAGE_BYTES, ShmRanks.CHUNK_BYTES, pipe, area, 2 * pipe}) {
            long at = bytes / es;
            c.addAll(List.of(at - 1, at, at + 1));
        }
        c.add(1L);
        return c.stream().mapToLong(Long::longValue).toArray();
    }

    @ParameterizedTest(name = "vector bits {0} (0 = scalar), {1} ranks")
    @org.junit.jupiter.params.provider.MethodSource("reducersAndSizes")
    void orderSensitiveSumsAtEveryThresholdEqualAnIndependentRankOrderReference(int bits, int n) throws Exception {
        ds.comm.lanes.Reducer reducer = bits == 0 ? Reducers.scalar() : Reducers.vector(bits);
        ShmRanks.onThreads(n, 50_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), reducer)) {
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    for (long count : thresholdCounts(type, n)) {
                        caseNo++;
                        MemorySegment[] inputs = RankOrderReference.orderSensitiveInputs(type, count, n, 31L * caseNo + bits);
                        MemorySegment buf = MemorySegment.ofArray(new byte[Math.toIntExact(count * type.byteSize())]);
                        buf.copyFrom(inputs[rank]);
                        c.allReduce(buf, type, Combiner.SUM);
                        long at = RankOrderReference.reduce(type, Combiner.SUM, inputs).mismatch(buf);
                        if (at >= 0) {
                            fail("rank " + rank + " of " + n + ", " + reducer.vectorBits() + "-bit reducer: allReduce("
                                    + type + ", sum, " + count + " elements) differs from the rank-order reference"
                                    + " at byte " + at);
                        }
                    }
                }
            }
            return null;
        });
    }

    @Test
    void theReferenceItselfDependsOnTheOrder() {
        // Guards the guard: if these inputs summed alike in any order, the test above could not
        // tell rank order from any other. (BF16 and FP16 are not in the list: accumulated in
        // fp32 and rounded once to 8 or 11 significant bits, their sums almost never depend on
        // the order; their rounding is pinned by the ring's sixteenBitSumsAreRoundedOnce test.)
        for (ElementType type : List.of(ElementType.FP32, ElementType.FP64)) {
            MemorySegment[] in = RankOrderReference.orderSensitiveInputs(type, 256, 3, 5);
            MemorySegment[] rotated = {in[1], in[2], in[0]};
            assertTrue(RankOrderReference.reduce(type, Combiner.SUM, in).mismatch(
                    RankOrderReference.reduce(type, Combiner.SUM, rotated)) >= 0, type + ": order does not matter");
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3})
    void aOneStepThresholdAboveTheAreaStillChunksMessagesThatDoNotFitTheArea(int n) throws Exception {
        ds.comm.spi.Settings t = ranks.settings();
        ds.comm.spi.Settings hugeSmall = new ds.comm.spi.Settings(t.timeoutNanos(), t.idle(), t.shmDir(),
                t.shmBytes(), Long.MAX_VALUE, t.chunkBytes(), t.peerLostNanos());
        long area = SegmentDescriptor.areaBytes(t.shmBytes());
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), hugeSmall, Reducers.scalar())) {
                int caseNo = 900;
                for (long bytes : new long[]{area - 4, area, area + 4, 2 * area + 12}) {
                    caseNo++;
                    MemorySegment[] inputs = RankOrderReference.orderSensitiveInputs(ElementType.FP32, bytes / 4, n, caseNo);
                    MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                    buf.copyFrom(inputs[rank]);
                    long before = c.stepsPublished();
                    c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                    long steps = c.stepsPublished() - before;
                    assertEquals(-1, RankOrderReference.reduce(ElementType.FP32, Combiner.SUM, inputs).mismatch(buf),
                            bytes + " bytes");
                    assertTrue(bytes <= area ? steps == 1 : steps > 1,
                            bytes + " bytes took " + steps + " steps; the area holds " + area);
                }
            }
            return null;
        });
    }

    @Test
    void minAndProdAreReducedLikeTheReference() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(),
                    Reducers.scalar())) {
                int caseNo = 100;
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : List.of(Combiner.MIN, Combiner.PROD)) {
                        for (long count : new long[] {5, 3 * ShmRanks.CHUNK_BYTES / type.byteSize() + 1}) {
                            caseNo++;
                            long bytes = count * type.byteSize();
                            MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                            MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                            buf.copyFrom(inputs[rank]);
                            c.allReduce(buf, type, op);
                            assertEquals(-1, Payloads.mismatch(Payloads.reduced(type, op, inputs, 0, bytes), buf),
                                    type + " " + op + " " + count);
                        }
                    }
                }
            }
            return null;
        });
    }

    @Test
    void largeAndSmallAlgorithmsGiveBitIdenticalFp16AndBf16Sums() throws Exception {
        // The same inputs reduced once below and once above the one-step threshold (by making
        // the threshold huge for one communicator) must give the same bits.
        int n = 4;
        List<List<MemorySegment>> results = ShmRanks.onThreads(n, 20_000, rank -> {
            List<MemorySegment> out = new ArrayList<>();
            var settings = ranks.settings();
            var oneStep = new ds.comm.spi.Settings(settings.timeoutNanos(), settings.idle(), settings.shmDir(),
                    settings.shmBytes(), Long.MAX_VALUE, settings.chunkBytes(), settings.peerLostNanos());
            try (ShmCollective chunked = ShmCollective.open(ranks.world("c", n, rank), settings,
                    Reducers.scalar());
                 ShmCollective single = ShmCollective.open(ranks.world("s", n, rank), oneStep,
                         Reducers.scalar())) {
                for (ElementType type : List.of(ElementType.FP16, ElementType.BF16, ElementType.FP32)) {
                    long bytes = 4000; // more than one chunk, still within one area
                    MemorySegment[] inputs = Payloads.inputs(type, bytes, n, 7 + type.ordinal());
                    MemorySegment a = MemorySegment.ofArray(new byte[(int) bytes]);
                    MemorySegment b = MemorySegment.ofArray(new byte[(int) bytes]);
                    a.copyFrom(inputs[rank]);
                    b.copyFrom(inputs[rank]);
                    chunked.allReduce(a, type, Combiner.SUM);
                    single.allReduce(b, type, Combiner.SUM);
                    assertTrue(chunked.stepsPublished() > single.stepsPublished(), "took the chunked path");
                    assertEquals(-1, a.mismatch(b), type + ": chunked and one-step results differ");
                    out.add(a);
                }
            }
            return out;
        });
        for (int r = 1; r < n; r++) {
            for (int i = 0; i < results.get(0).size(); i++) {
                assertEquals(-1, results.get(0).get(i).mismatch(results.get(r).get(i)), "rank " + r + " case " + i);
            }
        }
    }

    /**
     * Many pipelined chunks (each rank's own slice is reduced straight from its buffer, the
     * others' from the staging areas) with odd element counts, so that slices differ in length
     * and shift across chunk boundaries: the all-reduce equals the rank-order reference on every
     * rank, in every placement, and a reduce to a root gives the root the same bits and leaves
     * the other ranks' buffers as they were.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {3, 5})
    void manyChunksOfOddCountsAreReducedInRankOrderAndReduceLeavesNonRootsUntouched(int n) throws Exception {
        // The scalar reducer: the kernels' own order at every width is the threshold test's
        // question; a vector reducer fed every placement here leaves kernel profiles that later
        // allocation tests in the same JVM (ShmSleepTest) would inherit.
        ds.comm.lanes.Reducer reducer = Reducers.scalar();
        long area = SegmentDescriptor.areaBytes(ShmRanks.SMALL_SHM_BYTES);
        long pipe = Math.min((area - 64) / (n + 1) * n, ShmRanks.CHUNK_BYTES) & -64L;
        ShmRanks.onThreads(n, 50_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("m", n, rank), ranks.settings(), reducer);
                 Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    int es = type.byteSize();
                    for (long count : new long[] {17 * pipe / es + 3, 23 * pipe / es - 1, 20 * pipe / es + 2 * n + 1}) {
                        caseNo++;
                        long bytes = count * es;
                        MemorySegment[] inputs = RankOrderReference.orderSensitiveInputs(type, count, n, 977L * caseNo + n);
                        MemorySegment expected = RankOrderReference.reduce(type, Combiner.SUM, inputs);
                        MemorySegment buf = Payloads.allocate(arena, bytes, Payloads.placement(caseNo + rank));
                        buf.copyFrom(inputs[rank]);
                        long before = c.stepsPublished();
                        c.allReduce(buf, type, Combiner.SUM);
                        assertTrue(c.stepsPublished() - before > bytes / pipe, "took the chunked path");
                        long at = expected.mismatch(buf);
                        if (at >= 0) {
                            fail("rank " + rank + " of " + n + ": allReduce(" + type + ", sum, " + count
                                    + " elements) differs from the rank-order reference at byte " + at);
                        }
                        int root = caseNo % n;
                        buf.copyFrom(inputs[rank]);
                        c.reduce(buf, type, Combiner.SUM, root);
                        assertEquals(-1, buf.mismatch(rank == root ? expected : inputs[rank]),
                                "rank " + rank + ": reduce(" + type + ", " + count + " elements) to root " + root);
                    }
                }
            }
            return null;
        });
    }

    /**
     * The chunked all-reduce and the reduce that shares its steps allocate nothing once compiled
     * (the reducer's sources are kept per communicator, this rank's buffer in its slot). With the
     * scalar reducer: the vector kernels' own allocation is VectorReducerAllocationTest's question.
     */
    @Test
    void theChunkedAllReduceAndReduceAllocateNothing() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 80_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("a", n, rank), ranks.settings(), Reducers.scalar());
                 Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(8 * ShmRanks.CHUNK_BYTES + 12, 64);
                MemorySegment anyStillAllocates = arena.allocate(4);
                long before = c.stepsPublished();
                c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                assertTrue(c.stepsPublished() - before > 8, "took the chunked path");
                long last = -1;
                // Every rank runs the same number of rounds: until no rank allocated in the last one.
                for (int round = 0; round < 30; round++) {
                    long start = ds.comm.testkit.ThreadAllocation.allocatedBytes();
                    for (int i = 0; i < 300; i++) {
                        c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                        c.reduce(buf, ElementType.BF16, Combiner.MAX, i % n);
                    }
                    last = ds.comm.testkit.ThreadAllocation.allocatedBytes() - start;
                    anyStillAllocates.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, last == 0 ? 0 : 1);
                    c.allReduce(anyStillAllocates, ElementType.INT32, Combiner.MAX);
                    if (anyStillAllocates.get(java.lang.foreign.ValueLayout.JAVA_INT, 0) == 0) break;
                }
                assertEquals(0, last, "bytes allocated by 600 chunked all-reduces and reduces once compiled");
            }
            return null;
        });
    }
}
