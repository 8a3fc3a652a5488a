package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exchange all-reduce of groups of 3 to 8 ranks ({@link ExchangePass}, {@link MeshLinks}):
 * a direct reduce-scatter and a direct all-gather of segments, between the small algorithm's
 * limit and {@link RingCollective#exchangeMaxBytes}. A peer lost, a count that differs and a rank
 * that never calls are tested for it and the direct small all-reduce alike, in
 * {@link RingDirectAllReduceTest}.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingExchangeAllReduceTest {

    static final long TIMEOUT_MS = 10_000;
    /** Small all-reduces up to 256 B, chunks of 1 KiB: exchanges up to (1024 - 8) x N bytes. */
    static final Settings EXCHANGE = RingCluster.settings(256, 1024, TIMEOUT_MS);
    /** Small all-reduces up to 4 B only, so that exchanges of fewer elements than ranks (empty segments) occur. */
    static final Settings TINY_SMALL = RingCluster.settings(4, 1024, TIMEOUT_MS);

    @Test
    void theExchangeCoversSizesUpToTwoMebibytesAndEverySegmentFitsAChunk() {
        assertEquals(2L << 20, RingCollective.exchangeMaxBytes(1L << 20, 4));
        assertEquals(2L << 20, RingCollective.exchangeMaxBytes(1L << 20, 8));
        // Chunks of 1 KiB: a segment of at most ceil(count / N) elements of up to 8 bytes fits one.
        assertEquals((1024 - 8) * 3, RingCollective.exchangeMaxBytes(1024, 3));
        long perSegment = RingCollective.exchangeMaxBytes(1024, 3) / 3 + 8;
        assertTrue(perSegment <= 1024, "segment of " + perSegment + " bytes");
    }

    /**
     * Every dtype the kernels widen or not, native, heap and unaligned-slice buffers, counts
     * from fewer elements than ranks (empty segments) up to the bound: every rank gets exactly
     * the bits one process computes reducing the N inputs in rank order with the same reducer.
     */
    @Test
    void exchangeAllReduceIsBitIdenticalOnEveryRankToTheRankOrderReductionOfTheSameReducer() throws Exception {
        for (int n : new int[] {3, 5, MeshLinks.MAX_RANKS}) {
            try (RingCluster cluster = new RingCluster(n)) {
                RingCollective[] world = cluster.openWorld(TINY_SMALL);
                try {
                    for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.FP64, ElementType.BF16,
                            ElementType.FP16}) {
                        long bound = RingCollective.exchangeMaxBytes(1024, n) / type.byteSize();
                        for (long count : new long[] {n - 1, n + 1, 301, bound}) {
                            if (count * type.byteSize() <= 4) continue;
                            for (int kind = 0; kind < 3; kind++) {
                                long salt = count * 10 + kind;
                                int bufferKind = kind;
                                List<byte[]> results = cluster.runAllOk(n, rank -> {
                                    MemorySegment input = RingDirectAllReduceTest.randomInput(type, count, rank, salt);
                                    byte[] bytes = input.toArray(ValueLayout.JAVA_BYTE);
                                    MemorySegment buf = switch (bufferKind) {
                                        case 0 -> input;
                                        case 1 -> MemorySegment.ofArray(bytes);
                                        default -> {
                                            // A slice 8 bytes into a native block: not 64-byte aligned.
                                            MemorySegment s = Arena.ofAuto().allocate(bytes.length + 8L, 64).asSlice(8, bytes.length);
                                            MemorySegment.copy(input, 0, s, 0, bytes.length);
                                            yield s;
                                        }
                                    };
                                    world[rank].allReduce(buf, type, Combiner.SUM);
                                    return buf.toArray(ValueLayout.JAVA_BYTE);
                                });
                                byte[] expected = RingDirectAllReduceTest.rankOrderReduction(n, type, count, salt);
                                for (int rank = 0; rank < n; rank++) {
                                    assertArrayEquals(expected, results.get(rank), n + " ranks, " + type + " x " + count
                                            + ", buffer kind " + bufferKind + ", rank " + rank);
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

    /**
     * Rank 2 passes a tensor above the exchange's bound (so it runs the ring algorithm) while the
     * others exchange: its neighbours see the kind differ, and the others learn it from the
     * abort frames, well before the timeout; nobody waits for a frame that will never come.
     */
    @Test
    void aRankThatRunsTheRingAlgorithmWhileOthersExchangeIsAMismatchOnEveryRank() throws Exception {
        int n = 4;
        long bound = RingCollective.exchangeMaxBytes(1024, n) / 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(EXCHANGE);
            try {
                cluster.assertEveryRankFailsNamingAnother(n, CommFailure.Kind.MISMATCH, TIMEOUT_MS, rank -> {
                    long count = rank == 2 ? bound + 1 : bound;
                    world[rank].allReduce(Elements.exactInput(ElementType.FP32, count, rank, 0), ElementType.FP32,
                            Combiner.SUM);
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    /** A group keeps working after many exchanges of changing sizes and types: the links stay in frame step. */
    @Test
    void exchangesOfChangingSizesBetweenOtherCollectivesKeepEveryLinkInStep() throws Exception {
        int n = 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(EXCHANGE);
            try {
                cluster.runAllOk(n, rank -> {
                    for (int call = 0; call < 40; call++) {
                        long count = 70 + 37L * call % 900;
                        MemorySegment buf = Elements.exactInput(ElementType.FP32, count, rank, call);
                        world[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                        for (long i = 0; i < count; i++) {
                            double want = Elements.exactReduction(Combiner.SUM, n, i, call);
                            assertEquals(want, Elements.get(ElementType.FP32, buf, i), "call " + call + " element " + i);
                        }
                        if (call % 3 == 0) world[rank].barrier();
                        if (call % 5 == 0) {
                            world[rank].allReduce(Elements.exactInput(ElementType.FP32, 8, rank, 0), ElementType.FP32,
                                    Combiner.SUM);
                        }
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }
}
