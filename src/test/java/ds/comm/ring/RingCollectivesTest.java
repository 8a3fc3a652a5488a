package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingCollectivesTest {

    static final Settings TINY = RingCluster.settings(256, 1024, 20_000);

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 6})
    void allGatherPlacesEveryRanksBlockInRankOrder(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                for (long count : new long[]{0, 1, 255, 1024 + 3}) {
                    List<MemorySegment> outs = cluster.runAllOk(n, rank -> {
                        MemorySegment in = Elements.exactInput(ElementType.INT64, count, rank, 5);
                        MemorySegment out = Elements.allocate(ElementType.INT64, count * n);
                        world[rank].allGather(in, out, ElementType.INT64);
                        return out;
                    });
                    for (int rank = 0; rank < n; rank++) {
                        for (int block = 0; block < n; block++) {
                            for (long i = 0; i < count; i++) {
                                assertEquals(Elements.exactValue(block, i, 5),
                                        Elements.get(ElementType.INT64, outs.get(rank), block * count + i),
                                        "count " + count + " rank " + rank + " block " + block + " element " + i);
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
    void reduceScatterGivesEachRankTheReductionOfItsBlock(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                for (ElementType type : ElementType.values()) {
                    for (long block : new long[]{0, 1, 7, 700}) {
                        List<MemorySegment> outs = cluster.runAllOk(n, rank -> {
                            MemorySegment in = Elements.exactInput(type, block * n, rank, 3);
                            MemorySegment out = Elements.allocate(type, block);
                            world[rank].reduceScatter(in, out, type, Combiner.SUM);
                            return out;
                        });
                        for (int rank = 0; rank < n; rank++) {
                            for (long i = 0; i < block; i++) {
                                assertEquals(Elements.exactReduction(Combiner.SUM, n, rank * block + i, 3),
                                        Elements.get(type, outs.get(rank), i),
                                        type + " block " + block + " rank " + rank + " element " + i);
                            }
                        }
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void reduceScatterOfRandomBf16FollowsTheDocumentedOrder() throws Exception {
        int n = 3;
        long block = 2000;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                MemorySegment[] inputs = new MemorySegment[n];
                for (int r = 0; r < n; r++) {
                    inputs[r] = Elements.randomInput(ElementType.BF16, block * n, 500 + r);
                }
                List<MemorySegment> outs = cluster.runAllOk(n, rank -> {
                    MemorySegment out = Elements.allocate(ElementType.BF16, block);
                    world[rank].reduceScatter(inputs[rank], out, ElementType.BF16, Combiner.SUM);
                    return out;
                });
                for (int rank = 0; rank < n; rank++) {
                    // Block b is reduced in ring order starting at rank b+1.
                    MemorySegment want = Elements.allocate(ElementType.BF16, block);
                    for (long i = 0; i < block; i++) {
                        Elements.reduceInOrder(ElementType.BF16, Combiner.SUM, inputs, rank * block + i,
                                (rank + 1) % n, want, i);
                    }
                    assertEquals(-1, want.mismatch(outs.get(rank)), "rank " + rank);
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 6})
    void broadcastFromEveryRootReachesEveryRank(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                for (int root = 0; root < n; root++) {
                    for (long bytes : new long[]{0, 1, 1023, 1024 * 5 + 17}) {
                        int r0 = root;
                        List<MemorySegment> bufs = cluster.runAllOk(n, rank -> {
                            MemorySegment buf = java.lang.foreign.Arena.ofAuto().allocate(Math.max(1, bytes))
                                    .asSlice(0, bytes);
                            for (long i = 0; i < bytes; i++) {
                                buf.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (rank == r0 ? i * 7 + r0 : -1));
                            }
                            world[rank].broadcast(buf, r0);
                            return buf;
                        });
                        for (int rank = 0; rank < n; rank++) {
                            for (long i = 0; i < bytes; i++) {
                                assertEquals((byte) (i * 7 + root),
                                        bufs.get(rank).get(java.lang.foreign.ValueLayout.JAVA_BYTE, i),
                                        "root " + root + " bytes " + bytes + " rank " + rank + " byte " + i);
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
    @ValueSource(ints = {2, 3, 4, 6, 8})
    void barrierReturnsOnlyAfterTheLastRankEntered(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                // Every rank late in turn up to 4 ranks, else the first and the last: the
                // dissemination barrier's rounds reach a late rank's word by different paths.
                for (int late = 0; late < n; late += n <= 4 ? 1 : n - 1) {
                    int lateRank = late;
                    long[] entered = new long[1];
                    List<Long> left = cluster.runAllOk(n, rank -> {
                        if (rank == lateRank) {
                            Thread.sleep(150);
                            entered[0] = System.nanoTime();
                        }
                        world[rank].barrier();
                        return System.nanoTime();
                    });
                    for (int rank = 0; rank < n; rank++) {
                        assertTrue(left.get(rank) >= entered[0], "rank " + rank + " left the barrier before rank "
                                + lateRank + " entered");
                    }
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    /**
     * The barrier uses some direct links and leaves the others idle, the small all-reduce uses
     * all of them: alternating the two (and two barriers in a row, whose idle links keep nothing
     * from the previous one) keeps every link in step and every result exact.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {4, 5, 8})
    void barriersBetweenDirectAllReducesKeepEveryLinkInStep(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(TINY);
            try {
                cluster.runAllOk(n, rank -> {
                    for (int call = 0; call < 20; call++) {
                        MemorySegment buf = Elements.allocate(ElementType.INT32, 17);
                        for (int i = 0; i < 17; i++) Elements.setInt(ElementType.INT32, buf, i, rank + i + call);
                        world[rank].allReduce(buf, ElementType.INT32, Combiner.SUM);
                        for (int i = 0; i < 17; i++) {
                            double expected = (double) n * (i + call) + n * (n - 1) / 2.0;
                            assertEquals(expected, Elements.get(ElementType.INT32, buf, i), "call " + call + " element " + i);
                        }
                        world[rank].barrier();
                        if (call % 3 == 0) world[rank].barrier();
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void aGroupOfOneIsRefusedWithoutConnecting() {
        try (RingEndpoint endpoint = RingEndpoint.bind()) {
            GroupSpec solo = new GroupSpec("solo", RingCluster.JOB, new int[]{0}, 0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RingCollective.open(solo, TINY, RingCluster.REDUCER, endpoint,
                            List.of(new InetSocketAddress("127.0.0.1", endpoint.port()))));
            assertTrue(e.getMessage().contains("solo"), e.getMessage());
        }
    }
}
