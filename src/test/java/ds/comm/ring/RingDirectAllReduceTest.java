package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The direct small all-reduce of groups of 3 to 8 ranks ({@link MeshLinks}): every rank's block
 * straight to every other rank, the ring link carrying the neighbour's share. Its failure cases
 * run for the exchange above it too ({@link RingExchangeAllReduceTest}), the other algorithm
 * over the same links.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingDirectAllReduceTest {

    static final long TIMEOUT_MS = 10_000;
    /** Small all-reduces up to 4 KiB, chunks of 1 KiB (a 4 KiB block takes 4 ring frames). */
    static final Settings SMALL = RingCluster.settings(4096, 1024, TIMEOUT_MS);

    /**
     * The two algorithms over the direct links, as (name, small-message limit, floats per call):
     * 64 floats at or below a 4 KiB limit go directly; 600 floats above a 256-byte limit (and
     * below the exchange's bound, (1024 - 8) x N bytes with 1 KiB chunks) are exchanged.
     */
    static Stream<Arguments> directAndExchange() {
        return Stream.of(Arguments.of("direct", 4096L, 64L), Arguments.of("exchange", 256L, 600L));
    }

    /** Random values with all their bits: sums depend on the order they are taken in. */
    static MemorySegment randomInput(ElementType type, long count, int rank, long salt) {
        SplittableRandom random = new SplittableRandom(salt * 1_000 + rank);
        MemorySegment seg = Elements.allocate(type, count);
        for (long i = 0; i < seg.byteSize(); i += 2) {
            // Half-floats: a random sign and mantissa with a moderate exponent, never NaN or Inf.
            short bits = (short) ((random.nextInt(0x3000) + 0x2000) | (random.nextBoolean() ? 0x8000 : 0));
            seg.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i, bits);
        }
        return seg;
    }

    @Test
    void groupsOfThreeToEightUseTheDirectAlgorithmAndOthersTheRing() {
        assertFalse(RingCollective.usesDirectAllReduce(SMALL, 2));
        for (int n = 3; n <= MeshLinks.MAX_RANKS; n++) assertTrue(RingCollective.usesDirectAllReduce(SMALL, n));
        assertFalse(RingCollective.usesDirectAllReduce(SMALL, MeshLinks.MAX_RANKS + 1));
        assertFalse(RingCollective.usesDirectAllReduce(RingCluster.settings(0, 1024, TIMEOUT_MS), 4));
    }

    @Test
    void directAllReduceIsBitIdenticalOnEveryRankToTheRankOrderReductionOfTheSameReducer() throws Exception {
        for (int n : new int[] {3, 4, 5}) {
            try (RingCluster cluster = new RingCluster(n)) {
                RingCollective[] world = cluster.openWorld(SMALL);
                try {
                    for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16, ElementType.FP16}) {
                        for (long count : new long[] {1, 7, 1000, 4096 / type.byteSize()}) {
                            for (int call = 0; call < 3; call++) {
                                long salt = count * 10 + call;
                                List<byte[]> results = cluster.runAllOk(n, rank -> {
                                    MemorySegment buf = randomInput(type, count, rank, salt);
                                    world[rank].allReduce(buf, type, Combiner.SUM);
                                    return buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                                });
                                byte[] expected = rankOrderReduction(n, type, count, salt);
                                for (int rank = 0; rank < n; rank++) {
                                    assertArrayEquals(expected, results.get(rank),
                                            n + " ranks, " + type + " x " + count + ", call " + call + ", rank " + rank);
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

    /** What one process computes: the same reducer over the N inputs in rank order. */
    static byte[] rankOrderReduction(int n, ElementType type, long count, long salt) {
        MemorySegment[] sources = new MemorySegment[n];
        long[] offsets = new long[n];
        for (int q = 0; q < n; q++) sources[q] = randomInput(type, count, q, salt);
        MemorySegment out = Elements.allocate(type, count);
        RingCluster.REDUCER.reduce(type, Combiner.SUM, out, 0, sources, offsets, n, count);
        return out.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("directAndExchange")
    void aNonNeighbourThatClosesDuringTheCallIsNamedByEverySurvivorWellBeforeTheTimeout(String algorithm, long small, long count)
            throws Exception {
        int n = 4;
        int victim = 2;  // not a ring neighbour of rank 0
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(RingCluster.settings(small, 1024, TIMEOUT_MS));
            try {
                cluster.assertSurvivorsNameALostRank(world, victim, "group w", TIMEOUT_MS, rank -> {
                    MemorySegment buf = Elements.exactInput(ElementType.FP32, count, rank, 0);
                    world[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                    return buf;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    /**
     * Rank 2 enters a barrier while the others all-reduce: only its ring neighbours exchange
     * frames with it and see the mismatch; ranks 0 and 1 wait for its direct frame, which never
     * comes, and learn of the failure from the abort it sends over every direct link.
     */
    @Test
    void aMismatchOnlyNeighboursCanSeeReachesEveryRankThroughTheDirectLinks() throws Exception {
        int n = 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SMALL);
            try {
                cluster.assertEveryRankFailsNamingAnother(n, CommFailure.Kind.MISMATCH, TIMEOUT_MS, rank -> {
                    if (rank == 2) {
                        world[rank].barrier();
                    } else {
                        world[rank].allReduce(Elements.exactInput(ElementType.FP32, 64, rank, 0), ElementType.FP32,
                                Combiner.SUM);
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("directAndExchange")
    void aDirectFrameWithAnotherCountIsAMismatchNamingItsSender(String algorithm, long small, long count) throws Exception {
        int n = 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(RingCluster.settings(small, 1024, TIMEOUT_MS));
            try {
                List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(n, rank -> {
                    // One element more: the same algorithm on every rank, a different count in the headers.
                    long mine = rank == 2 ? count + 1 : count;
                    world[rank].allReduce(Elements.exactInput(ElementType.FP32, mine, rank, 0), ElementType.FP32,
                            Combiner.SUM);
                    return null;
                });
                // Rank 0 receives rank 2's block only over their direct link and names rank 2 when
                // it reads it first. Every rank but 2 that sees the mismatch itself names rank 2;
                // only rank 2 names another (the sender of the first block it compared), and once
                // its abort travels, rank 0 may hear that verdict relayed first and name its relay.
                CommFailure f = RingCluster.failureOf(outcomes.get(0), 0);
                CommFailure f2 = RingCluster.failureOf(outcomes.get(2), 2);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                assertTrue(f.peerRank() == 2 || !f2.getMessage().contains("aborted with"), f.getMessage() + " / " + f2.getMessage());
                assertTrue(f.getMessage().contains("count"), f.getMessage());
                for (int rank = 1; rank < n; rank++) {
                    assertEquals(CommFailure.Kind.MISMATCH, RingCluster.failureOf(outcomes.get(rank), rank).kind());
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("directAndExchange")
    void aRankThatNeverCallsMakesTheCallTimeOutNamingIt(String algorithm, long small, long count) throws Exception {
        int n = 3;
        // Short enough to wait for, long enough for opening the group on a loaded machine (the
        // same timeout bounds the handshakes: 300 ms failed there once in four runs).
        Settings quick = RingCluster.settings(small, 1024, 2_000);
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(quick);
            try {
                List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(n - 1, rank -> {
                    world[rank].allReduce(Elements.exactInput(ElementType.FP32, count, rank, 0), ElementType.FP32,
                            Combiner.SUM);
                    return null;
                });
                for (int rank = 0; rank < n - 1; rank++) {
                    CommFailure f = RingCluster.failureOf(outcomes.get(rank), rank);
                    assertEquals(CommFailure.Kind.TIMEOUT, f.kind(), f.getMessage());
                    assertEquals(2, f.peerRank(), "rank " + rank + ": " + f.getMessage());
                }
                // Rank 1 got its ring share from rank 0 and waited only for rank 2's direct frame
                // (the exchange's report says which frame: phase 1's), unless rank 0's abort came
                // first: then rank 0's report says it never heard from rank 2, its left neighbour.
                String report = outcomes.get(1).failure().getMessage();
                boolean own = report.contains("direct frames not yet received from world ranks [2]")
                        || report.contains("frame 0 from world ranks [2]");
                boolean relayed = report.contains("received 0/") && report.contains("frames from world rank 2");
                assertTrue(own || relayed, report);
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }
}
