package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingAllReduceTest {

    /** Small threshold and chunk far below the defaults so that few elements cross both. */
    static final long SMALL = 256;
    static final long CHUNK = 1024;
    static final Settings TINY = RingCluster.settings(SMALL, CHUNK, 20_000);

    /**
     * Whether an all-reduce of {@code bytes} by {@code n} ranks under {@link #TINY} is reduced in
     * rank order 0..N-1: the small algorithm, and the exchange of 3 to 8 ranks up to its bound.
     * Larger ones (and every one of 2 or more than 8 ranks above the small limit) go around the ring.
     */
    static boolean inRankOrder(long bytes, int n) {
        return bytes <= SMALL || RingCollective.usesDirectAllReduce(TINY, n) && bytes <= RingCollective.exchangeMaxBytes(CHUNK, n);
    }

    static long[] sizesAroundThresholds(ElementType type, int n) {
        long s = SMALL / type.byteSize();
        long wire = (type == ElementType.BF16 || type == ElementType.FP16) ? 4 : type.byteSize();
        long perFrame = CHUNK / wire;
        long e = RingCollective.exchangeMaxBytes(CHUNK, n) / type.byteSize();
        return new long[]{0, 1, 3, 257, s - 1, s, s + 1, e, e + 1, n * perFrame - 1, n * perFrame + 1, 5 * n * perFrame + 3};
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 6})
    void allReduceOfEveryTypeSumAndMaxEqualsExactReductionOnEveryRank(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : new Combiner[]{Combiner.SUM, Combiner.MAX}) {
                        long[] sizes = sizesAroundThresholds(type, n);
                        List<List<MemorySegment>> results = cluster.runAllOk(n, rank -> {
                            List<MemorySegment> out = new ArrayList<>();
                            for (long count : sizes) {
                                MemorySegment buf = Elements.exactInput(type, count, rank, count);
                                world[rank].allReduce(buf, type, op);
                                out.add(buf);
                            }
                            return out;
                        });
                        for (int s = 0; s < sizes.length; s++) {
                            long count = sizes[s];
                            for (int rank = 0; rank < n; rank++) {
                                MemorySegment got = results.get(rank).get(s);
                                for (long i = 0; i < count; i++) {
                                    double want = Elements.exactReduction(op, n, i, count);
                                    double have = Elements.get(type, got, i);
                                    if (want != have) {
                                        throw new AssertionError(type + " " + op + " count " + count + " rank " + rank
                                                + " element " + i + ": want " + want + " got " + have);
                                    }
                                }
                            }
                        }
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 6})
    void allReduceOfRandomFloatsIsBitIdenticalOnAllRanksAndFollowsTheDocumentedOrder(int n) throws Exception {
        ElementType[] types = {ElementType.FP32, ElementType.FP64, ElementType.BF16, ElementType.FP16};
        long[] sizes = {37, 3001, 10_007};
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                for (ElementType type : types) {
                    for (long count : sizes) {
                        MemorySegment[] inputs = new MemorySegment[n];
                        for (int r = 0; r < n; r++) {
                            inputs[r] = Elements.randomInput(type, count, 1000L * r + count);
                        }
                        List<MemorySegment> results = cluster.runAllOk(n, rank -> {
                            MemorySegment buf = Elements.copy(inputs[rank]);
                            world[rank].allReduce(buf, type, Combiner.SUM);
                            return buf;
                        });
                        // Documented order: small messages, and exchanges of 3 to 8 ranks, in rank
                        // order 0..N-1; larger ones by ring segment s, starting at rank s and going right.
                        boolean small = inRankOrder(count * type.byteSize(), n);
                        MemorySegment want = Elements.allocate(type, count);
                        for (long i = 0; i < count; i++) {
                            int first = small ? 0 : Elements.segmentOf(i, count, n);
                            Elements.reduceInOrder(type, Combiner.SUM, inputs, i, first, want, i);
                        }
                        for (int rank = 0; rank < n; rank++) {
                            assertEquals(-1, results.get(0).mismatch(results.get(rank)),
                                    type + " count " + count + ": rank " + rank + " differs from rank 0");
                        }
                        long at = want.mismatch(results.get(0));
                        assertEquals(-1, at, type + " count " + count + (small ? " (rank order)" : " (ring)")
                                + ": first difference from the reference at byte " + at);
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    /** The scalar reducer and every vector width this JVM runs, for 3 and 4 ranks. */
    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> reducersAndSizes() {
        ds.comm.testkit.RequiredEnvironment.requireWhereRequired(ds.comm.lanes.Reducers.maxBits() > 0,
                "this JVM offers no vector width; only the scalar reducer is tested");
        List<org.junit.jupiter.params.provider.Arguments> out = new ArrayList<>();
        for (int n : new int[]{3, 4}) {
            out.add(org.junit.jupiter.params.provider.Arguments.of(0, n));
            for (int bits : new int[]{64, 128, 256, 512}) {
                if (bits <= ds.comm.lanes.Reducers.maxBits()) out.add(org.junit.jupiter.params.provider.Arguments.of(bits, n));
            }
        }
        return out.stream();
    }

    /**
     * Random floats of many magnitudes (so the order of addition changes the bits) one element
     * below, at and above every threshold of the ring all-reduce: the small-message limit, the
     * exchange's bound (rank order at and below it, ring order above: a {@code >=} for {@code >}
     * moves the limit itself to the ring order) and the frame boundaries. Reference:
     * {@link Elements#reduceInOrder}, plain Java, no kernel code. With 2 ranks every order is the
     * same sum, so 3 and 4.
     */
    @ParameterizedTest(name = "vector bits {0} (0 = scalar), {1} ranks")
    @org.junit.jupiter.params.provider.MethodSource("reducersAndSizes")
    void orderSensitiveSumsAtEveryThresholdFollowTheDocumentedOrder(int bits, int n) throws Exception {
        ds.comm.lanes.Reducer reducer = bits == 0 ? ds.comm.lanes.Reducers.scalar() : ds.comm.lanes.Reducers.vector(bits);
        try (RingCluster cluster = new RingCluster(n)) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            RingCollective[] world = cluster.open("w", all, TINY, reducer);
            try {
                for (ElementType type : new ElementType[]{ElementType.FP32, ElementType.FP64, ElementType.BF16, ElementType.FP16}) {
                    long s = SMALL / type.byteSize();
                    long wire = (type == ElementType.BF16 || type == ElementType.FP16) ? 4 : type.byteSize();
                    long perFrame = CHUNK / wire;
                    java.util.TreeSet<Long> counts = new java.util.TreeSet<>();
                    long e = RingCollective.exchangeMaxBytes(CHUNK, n) / type.byteSize();
                    for (long at : new long[]{s, e, perFrame, n * perFrame, 2 * n * perFrame}) {
                        counts.addAll(List.of(at - 1, at, at + 1));
                    }
                    for (long count : counts) {
                        MemorySegment[] inputs = new MemorySegment[n];
                        for (int r = 0; r < n; r++) {
                            inputs[r] = Elements.randomInput(type, count, 7919L * r + count + bits);
                        }
                        List<MemorySegment> results = cluster.runAllOk(n, rank -> {
                            MemorySegment buf = Elements.copy(inputs[rank]);
                            world[rank].allReduce(buf, type, Combiner.SUM);
                            return buf;
                        });
                        boolean small = inRankOrder(count * type.byteSize(), n);
                        MemorySegment want = Elements.allocate(type, count);
                        for (long i = 0; i < count; i++) {
                            Elements.reduceInOrder(type, Combiner.SUM, inputs, i,
                                    small ? 0 : Elements.segmentOf(i, count, n), want, i);
                        }
                        for (int rank = 0; rank < n; rank++) {
                            long at = want.mismatch(results.get(rank));
                            assertEquals(-1, at, type + " count " + count + (small ? " (rank order)" : " (ring order)")
                                    + ", " + bits + "-bit reducer: rank " + rank + " differs from the reference at byte " + at);
                        }
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void atTheSmallMessageLimitRankOrderAndRingOrderGiveDifferentFp32Sums() {
        // Guards the test above: at exactly SMALL bytes of fp32 its inputs must sum differently in
        // the two orders, or a threshold off by one (>= for >) would pass unnoticed.
        int n = 3;
        long count = SMALL / 4;
        MemorySegment[] inputs = new MemorySegment[n];
        for (int r = 0; r < n; r++) inputs[r] = Elements.randomInput(ElementType.FP32, count, 7919L * r + count);
        MemorySegment rankOrder = Elements.allocate(ElementType.FP32, count);
        MemorySegment ringOrder = Elements.allocate(ElementType.FP32, count);
        for (long i = 0; i < count; i++) {
            Elements.reduceInOrder(ElementType.FP32, Combiner.SUM, inputs, i, 0, rankOrder, i);
            Elements.reduceInOrder(ElementType.FP32, Combiner.SUM, inputs, i, Elements.segmentOf(i, count, n), ringOrder, i);
        }
        assertTrue(rankOrder.mismatch(ringOrder) >= 0, "the inputs do not tell the orders apart");
    }

    @Test
    void allReduceOfSeveralMebibytesIsExactAndBitIdentical() throws Exception {
        int n = 4;
        Settings big = RingCluster.settings(64 << 10, 64 << 10, 30_000);
        long fp32Count = (2L << 20) / 4 + 5;
        long bf16Count = (1L << 20) / 2 + 3;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(big);
            try {
                List<MemorySegment> sums = cluster.runAllOk(n, rank -> {
                    MemorySegment buf = Elements.exactInput(ElementType.FP32, fp32Count, rank, 9);
                    world[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                    return buf;
                });
                for (int rank = 0; rank < n; rank++) {
                    for (long i = 0; i < fp32Count; i++) {
                        if (Elements.get(ElementType.FP32, sums.get(rank), i) != Elements.exactReduction(Combiner.SUM, n, i, 9)) {
                            throw new AssertionError("rank " + rank + " element " + i);
                        }
                    }
                }
                MemorySegment[] inputs = new MemorySegment[n];
                for (int r = 0; r < n; r++) {
                    inputs[r] = Elements.randomInput(ElementType.BF16, bf16Count, 77 + r);
                }
                List<MemorySegment> halves = cluster.runAllOk(n, rank -> {
                    MemorySegment buf = Elements.copy(inputs[rank]);
                    world[rank].allReduce(buf, ElementType.BF16, Combiner.SUM);
                    return buf;
                });
                for (int rank = 1; rank < n; rank++) {
                    assertEquals(-1, halves.get(0).mismatch(halves.get(rank)), "rank " + rank + " differs from rank 0");
                }
                MemorySegment want = Elements.allocate(ElementType.BF16, bf16Count);
                for (long i = 0; i < bf16Count; i++) {
                    Elements.reduceInOrder(ElementType.BF16, Combiner.SUM, inputs, i,
                            Elements.segmentOf(i, bf16Count, n), want, i);
                }
                assertEquals(-1, want.mismatch(halves.get(0)), "bf16 result differs from fp32-accumulated reference");
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void sixteenBitSumsAreRoundedOnceNotAtEveryHop() throws Exception {
        // 1 + 3 * 2^-9 in BF16: every partial rounding of 1 + 2^-9 drops to 1 (ties to even),
        // so per-hop rounding gives 1.0 while fp32 accumulation gives 1 + 3*2^-9 -> 1.0078125.
        int n = 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                long count = 1000; // 2000 bytes: ring algorithm
                List<MemorySegment> results = cluster.runAllOk(n, rank -> {
                    MemorySegment buf = Elements.allocate(ElementType.BF16, count);
                    float v = rank == 0 ? 1.0f : 0x1p-9f;
                    for (long i = 0; i < count; i++) {
                        buf.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i * 2,
                                (short) (Float.floatToRawIntBits(v) >>> 16));
                    }
                    world[rank].allReduce(buf, ElementType.BF16, Combiner.SUM);
                    return buf;
                });
                float once = HalfFloats.toFloat(ElementType.BF16,
                        HalfFloats.fromFloat(ElementType.BF16, 1.0f + 3 * 0x1p-9f));
                assertTrue(once > 1.0f);
                for (int rank = 0; rank < n; rank++) {
                    for (long i = 0; i < count; i++) {
                        assertEquals(once, Elements.get(ElementType.BF16, results.get(rank), i),
                                "rank " + rank + " element " + i);
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void ringAlgorithmHandlesFewerElementsThanRanksAndEmptySegments() throws Exception {
        int n = 6;
        Settings ringOnly = RingCluster.settings(0, 64, 20_000);
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(ringOnly);
            try {
                for (ElementType type : new ElementType[]{ElementType.BF16, ElementType.INT64}) {
                    long[] counts = {1, 2, 5, 7, 97};
                    List<List<MemorySegment>> results = cluster.runAllOk(n, rank -> {
                        List<MemorySegment> out = new ArrayList<>();
                        for (long count : counts) {
                            MemorySegment buf = Elements.exactInput(type, count, rank, 2);
                            world[rank].allReduce(buf, type, Combiner.SUM);
                            out.add(buf);
                        }
                        return out;
                    });
                    for (int c = 0; c < counts.length; c++) {
                        for (int rank = 0; rank < n; rank++) {
                            for (long i = 0; i < counts[c]; i++) {
                                assertEquals(Elements.exactReduction(Combiner.SUM, n, i, 2),
                                        Elements.get(type, results.get(rank).get(c), i),
                                        type + " count " + counts[c] + " rank " + rank + " element " + i);
                            }
                        }
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }
}
