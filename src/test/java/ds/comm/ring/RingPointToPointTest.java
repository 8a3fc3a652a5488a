package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RingPointToPointTest {

    private static final Settings SETTINGS = RingCluster.settings(256, 4096, 10_000);
    private static final Settings SHORT = RingCluster.settings(256, 4096, 500);
    private static final long[] SIZES = {0, 1, 3, 7, 4095, 4096, 4097, 100_003, 1_000_001};

    private static byte pattern(int from, int to, int message, long i) {
        return (byte) (from * 31 + to * 17 + message * 7 + i * 13 + (i >>> 8));
    }

    @Test
    void everyPairIncludingNonNeighboursMovesOddAndZeroSizesHeapAndNative() throws Exception {
        int n = 4;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                cluster.runAllOk(n, rank -> {
                    RingCollective c = world[rank];
                    try (Arena arena = Arena.ofConfined()) {
                        int message = 0;
                        for (long bytes : SIZES) {
                            message++;
                            for (int s = 0; s < n; s++) {
                                for (int r = 0; r < n; r++) {
                                    if (s == r) continue;
                                    boolean heap = (message + s + r) % 2 == 0;
                                    if (rank == s) {
                                        MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(bytes + 1).asSlice(1, bytes);
                                        for (long i = 0; i < bytes; i++) out.set(ValueLayout.JAVA_BYTE, i, pattern(s, r, message, i));
                                        c.send(out, r);
                                    } else if (rank == r) {
                                        MemorySegment in = !heap ? MemorySegment.ofArray(new byte[(int) bytes])
                                                : arena.allocate(Math.max(1, bytes)).asSlice(0, bytes);
                                        c.recv(in, s);
                                        for (long i = 0; i < bytes; i++) {
                                            if (in.get(ValueLayout.JAVA_BYTE, i) != pattern(s, r, message, i)) {
                                                throw new AssertionError(bytes + " bytes " + s + "->" + r + ": byte " + i + " differs");
                                            }
                                        }
                                    }
                                }
                            }
                            c.barrier();
                        }
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void fp32AndBf16ArriveBitIdenticalBetweenCollectives() throws Exception {
        try (RingCluster cluster = new RingCluster(3)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                cluster.runAllOk(3, rank -> {
                    RingCollective c = world[rank];
                    for (int round = 0; round < 5; round++) {
                        float[] f = new float[1001 + round];
                        short[] h = new short[777 + round];
                        if (rank == 0) {
                            for (int i = 0; i < f.length; i++) f[i] = i * 0.25f + round;
                            for (int i = 0; i < h.length; i++) h[i] = HalfFloats.floatToBf16(i * 0.5f - round);
                            c.send(MemorySegment.ofArray(f), 2);
                            c.send(MemorySegment.ofArray(h), 2);
                        } else if (rank == 2) {
                            c.recv(MemorySegment.ofArray(f), 0);
                            c.recv(MemorySegment.ofArray(h), 0);
                            for (int i = 0; i < f.length; i++) assertEquals(i * 0.25f + round, f[i]);
                            for (int i = 0; i < h.length; i++) assertEquals(HalfFloats.floatToBf16(i * 0.5f - round), h[i]);
                        }
                        float[] one = {1f};
                        c.allReduce(MemorySegment.ofArray(one), ElementType.FP32, Combiner.SUM);
                        assertEquals(3f, one[0]);
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void smallMessagesOfTheWrongSizeFailOnBothSidesWhicheverIsLarger() throws Exception {
        // Both sizes small enough to travel with the header: the receiver reads at most what it
        // expects, whether the message is shorter or longer, and both name both sizes.
        long[][] sentAndPosted = {{100, 300}, {300, 100}, {16_000, 8}};
        for (long[] pair : sentAndPosted) {
            try (RingCluster cluster = new RingCluster(2)) {
                RingCollective[] world = cluster.openWorld(SETTINGS);
                try {
                    List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(2, rank -> {
                        if (rank == 0) world[0].send(Arena.ofAuto().allocate(pair[0]), 1);
                        else world[1].recv(Arena.ofAuto().allocate(pair[1]), 0);
                        return null;
                    });
                    for (int rank = 0; rank < 2; rank++) {
                        CommFailure f = RingCluster.failureOf(outcomes.get(rank), rank);
                        assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                        assertEquals(1 - rank, f.peerRank());
                        assertTrue(f.getMessage().contains(pair[0] + " bytes") && f.getMessage().contains(pair[1] + " bytes"),
                                f.getMessage());
                    }
                } finally {
                    RingCluster.closeAll(world);
                }
            }
        }
    }

    @Test
    void aReceiveBufferOfTheWrongSizeFailsOnBothSidesEvenWhileTheSenderIsStillWriting() throws Exception {
        try (RingCluster cluster = new RingCluster(2)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                // 8 MiB cannot fit the socket buffers: the sender is blocked writing when the refusal comes.
                List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(2, rank -> {
                    if (rank == 0) world[0].send(MemorySegment.ofArray(new byte[8 << 20]), 1);
                    else world[1].recv(MemorySegment.ofArray(new byte[1000]), 0);
                    return null;
                });
                for (int rank = 0; rank < 2; rank++) {
                    CommFailure f = RingCluster.failureOf(outcomes.get(rank), rank);
                    assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                    assertEquals(1 - rank, f.peerRank());
                    assertTrue(f.getMessage().contains("group rank 0") && f.getMessage().contains("group rank 1")
                            && f.getMessage().contains("8388608") && f.getMessage().contains("1000"), f.getMessage());
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void aSendNobodyReceivesAndARecvNobodySendsTimeOutNamingBothRanks() throws Exception {
        try (RingCluster cluster = new RingCluster(3)) {
            RingCollective[] world = cluster.openWorld(SHORT);
            try {
                CountDownLatch done = new CountDownLatch(2);
                List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(3, rank -> {
                    try {
                        if (rank == 0) world[0].send(MemorySegment.ofArray(new byte[64]), 2);
                        else if (rank == 1) world[1].recv(MemorySegment.ofArray(new byte[64]), 2);
                        else assertTrue(done.await(20, TimeUnit.SECONDS)); // alive, never takes part
                    } finally {
                        if (rank != 2) done.countDown();
                    }
                    return null;
                });
                CommFailure send = RingCluster.failureOf(outcomes.get(0), 0);
                assertEquals(CommFailure.Kind.TIMEOUT, send.kind(), send.getMessage());
                assertTrue(send.getMessage().contains("group rank 0") && send.getMessage().contains("group rank 2")
                        && send.getMessage().contains("to receive"), send.getMessage());
                CommFailure recv = RingCluster.failureOf(outcomes.get(1), 1);
                assertEquals(CommFailure.Kind.TIMEOUT, recv.kind(), recv.getMessage());
                assertTrue(recv.getMessage().contains("group rank 1") && recv.getMessage().contains("group rank 2")
                        && recv.getMessage().contains("to send"), recv.getMessage());
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void aSenderThatClosesAfterConnectingIsReportedLostWellBeforeTheTimeout() throws Exception {
        try (RingCluster cluster = new RingCluster(4)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                List<RingCluster.Outcome<Long>> outcomes = cluster.runAll(4, rank -> {
                    if (rank == 0) {
                        world[0].send(MemorySegment.ofArray(new byte[16]), 2);
                        Thread.sleep(100);
                        world[0].close();
                    } else if (rank == 2) {
                        world[2].recv(MemorySegment.ofArray(new byte[16]), 0);
                        long start = System.nanoTime();
                        CommFailure f = assertThrows(CommFailure.class, () -> world[2].recv(MemorySegment.ofArray(new byte[16]), 0));
                        assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                        assertEquals(0, f.peerRank());
                        return (System.nanoTime() - start) / 1_000_000;
                    }
                    return 0L;
                });
                assertNull(outcomes.get(2).failure(), () -> String.valueOf(outcomes.get(2).failure()));
                assertTrue(outcomes.get(2).value() < 5_000, outcomes.get(2).value() + " ms");
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }
}
