package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
import ds.comm.lanes.Reducers;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class ShmPointToPointTest {

    /** 1 MiB segments: 2 ranks get mailbox slots of 16064 bytes, so large sizes take several chunks. */
    private static final long SEGMENT_BYTES = 1L << 20;
    private static final long[] SIZES = {0, 1, 3, 7, 64, 1000, 4096, 16063, 16064, 16065, 3 * 16064 + 5, 100_003};

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    private Settings settings(long timeoutMillis) {
        Settings s = ranks.settings(timeoutMillis);
        return new Settings(s.timeoutNanos(), s.idle(), s.shmDir(), SEGMENT_BYTES, s.smallMessageBytes(), s.chunkBytes(),
                s.peerLostNanos());
    }

    private ShmCollective open(String name, int n, int rank, long timeoutMillis) {
        return ShmCollective.open(ranks.world(name, n, rank), settings(timeoutMillis), Reducers.scalar());
    }

    private static byte pattern(int from, int to, int message, long i) {
        return (byte) (from * 31 + to * 17 + message * 7 + i * 13 + (i >>> 8));
    }

    @Test
    void everyPairMovesEveryByteOfOddAndZeroSizesHeapAndNative() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 50_000, rank -> {
            try (ShmCollective c = open("p", n, rank, 20_000); Arena arena = Arena.ofConfined()) {
                int message = 0;
                for (long bytes : SIZES) {
                    message++;
                    // Every ordered pair (s, r), one after the other, so no rank waits on two at once.
                    for (int s = 0; s < n; s++) {
                        for (int r = 0; r < n; r++) {
                            if (s == r) continue;
                            boolean heap = (message + s) % 2 == 0;
                            if (rank == s) {
                                MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(Math.max(1, bytes)).asSlice(0, bytes);
                                for (long i = 0; i < bytes; i++) out.set(ValueLayout.JAVA_BYTE, i, pattern(s, r, message, i));
                                c.send(out, r);
                            } else if (rank == r) {
                                MemorySegment in = !heap ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(bytes + 3).asSlice(3, bytes);
                                c.recv(in, s);
                                for (long i = 0; i < bytes; i++) {
                                    if (in.get(ValueLayout.JAVA_BYTE, i) != pattern(s, r, message, i)) {
                                        throw new AssertionError(bytes + " bytes from " + s + " to " + r + ": byte " + i + " differs");
                                    }
                                }
                            }
                            c.barrier();
                        }
                    }
                }
            }
            return null;
        });
    }

    @Test
    void fp32AndBf16TensorsArriveBitIdentical() throws Exception {
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("t", 2, rank, 20_000)) {
                float[] f = new float[4099];
                short[] h = new short[5001];
                if (rank == 0) {
                    for (int i = 0; i < f.length; i++) f[i] = i * 0.37f - 11f;
                    for (int i = 0; i < h.length; i++) h[i] = HalfFloats.floatToBf16(i * -0.011f);
                    c.send(MemorySegment.ofArray(f), 1);
                    c.send(MemorySegment.ofArray(h), 1);
                } else {
                    c.recv(MemorySegment.ofArray(f), 0);
                    c.recv(MemorySegment.ofArray(h), 0);
                    for (int i = 0; i < f.length; i++) assertEquals(Float.floatToRawIntBits(i * 0.37f - 11f), Float.floatToRawIntBits(f[i]));
                    for (int i = 0; i < h.length; i++) assertEquals(HalfFloats.floatToBf16(i * -0.011f), h[i]);
                }
            }
            return null;
        });
    }

    @Test
    void messagesOfOnePairAreMatchedInTheOrderTheyWereSent() throws Exception {
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("o", 2, rank, 20_000)) {
                // The receiver starts late: the sender's first message waits in the mailbox.
                if (rank == 0) {
                    for (int m = 0; m < 6; m++) {
                        MemorySegment out = MemorySegment.ofArray(new long[m * 1000 + 1]);
                        out.setAtIndex(ValueLayout.JAVA_LONG, 0, m);
                        c.send(out, 1);
                    }
                } else {
                    Thread.sleep(50);
                    for (int m = 0; m < 6; m++) {
                        MemorySegment in = MemorySegment.ofArray(new long[m * 1000 + 1]);
                        c.recv(in, 0);
                        assertEquals(m, in.getAtIndex(ValueLayout.JAVA_LONG, 0));
                    }
                }
            }
            return null;
        });
    }

    @Test
    void sendsAndCollectivesInterleaveWithoutDisturbingEachOther() throws Exception {
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("i", 2, rank, 20_000)) {
                for (int round = 0; round < 50; round++) {
                    float[] sum = {rank + 1f, round};
                    c.allReduce(MemorySegment.ofArray(sum), ElementType.FP32, Combiner.SUM);
                    assertEquals(3f, sum[0]);
                    int[] token = {round * 10 + rank};
                    if ((round + rank) % 2 == 0) {
                        c.send(MemorySegment.ofArray(token), 1 - rank);
                    } else {
                        c.recv(MemorySegment.ofArray(token), 1 - rank);
                        assertEquals(round * 10 + (1 - rank), token[0]);
                    }
                }
            }
            return null;
        });
    }

    @Test
    void aReceiveBufferOfTheWrongSizeFailsOnBothSidesNamingBothRanks() throws Exception {
        CommFailure[] seen = new CommFailure[2];
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("m", 2, rank, 20_000)) {
                MemorySegment buf = MemorySegment.ofArray(new byte[rank == 0 ? 4096 : 4000]);
                CommFailure f = assertThrows(CommFailure.class, () -> {
                    if (rank == 0) c.send(buf, 1);
                    else c.recv(buf, 0);
                });
                seen[rank] = f;
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                assertEquals(1 - rank, f.peerRank(), f.getMessage());
                assertTrue(f.getMessage().contains("group rank 0") && f.getMessage().contains("group rank 1")
                        && f.getMessage().contains("4096") && f.getMessage().contains("4000"), f.getMessage());
                // The group is aborted: later calls are refused at once.
                assertEquals(CommFailure.Kind.ABORTED, assertThrows(CommFailure.class, c::barrier).kind());
            }
            return null;
        });
    }

    @Test
    void aSendNobodyReceivesTimesOutNamingBothRanks() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("s", 2, rank, 400)) {
                if (rank == 0) {
                    long start = System.nanoTime();
                    CommFailure f = assertThrows(CommFailure.class, () -> c.send(MemorySegment.ofArray(new byte[100]), 1));
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    done.countDown();
                    assertEquals(CommFailure.Kind.TIMEOUT, f.kind(), f.getMessage());
                    assertTrue(ms >= 350 && ms < 5_000, ms + " ms");
                    assertTrue(f.getMessage().contains("group rank 0") && f.getMessage().contains("group rank 1")
                            && f.getMessage().contains("to receive"), f.getMessage());
                } else {
                    assertTrue(done.await(20, TimeUnit.SECONDS)); // alive, but never receives
                }
            }
            return null;
        });
    }

    @Test
    void aRecvFromARankThatNeverSendsTimesOutNamingBothRanks() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = open("r", 2, rank, 400)) {
                if (rank == 1) {
                    CommFailure f = assertThrows(CommFailure.class, () -> c.recv(MemorySegment.ofArray(new byte[8]), 0));
                    done.countDown();
                    assertEquals(CommFailure.Kind.TIMEOUT, f.kind(), f.getMessage());
                    assertTrue(f.getMessage().contains("group rank 1") && f.getMessage().contains("group rank 0")
                            && f.getMessage().contains("to send"), f.getMessage());
                } else {
                    assertTrue(done.await(20, TimeUnit.SECONDS));
                }
            }
            return null;
        });
    }

    @Test
    void aRecvFromAPeerThatClosesFailsAsPeerLost() throws Exception {
        ShmRanks.onThreads(2, 30_000, rank -> {
            ShmCollective c = open("l", 2, rank, 20_000);
            try {
                if (rank == 0) {
                    Thread.sleep(100);
                } else {
                    long start = System.nanoTime();
                    CommFailure f = assertThrows(CommFailure.class, () -> c.recv(MemorySegment.ofArray(new byte[8]), 0));
                    assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                    assertEquals(0, f.peerRank());
                    assertTrue(System.nanoTime() - start < 10_000_000_000L, "detected long before the timeout");
                }
            } finally {
                c.close();
            }
            return null;
        });
    }

    @Test
    void sendAndRecvAllocateNothingInSteadyState() throws Exception {
        ShmRanks.onThreads(2, 50_000, rank -> {
            try (ShmCollective c = open("a", 2, rank, 20_000); Arena arena = Arena.ofConfined()) {
                MemorySegment small = arena.allocate(4096);
                MemorySegment large = arena.allocate(100_003);
                float[] heap = new float[1000];
                MemorySegment heapSeg = MemorySegment.ofArray(heap);
                Runnable pingPong = () -> {
                    if (rank == 0) {
                        c.send(small, 1);
                        c.recv(small, 1);
                        c.send(large, 1);
                        c.recv(heapSeg, 1);
                    } else {
                        c.recv(small, 0);
                        c.send(small, 0);
                        c.recv(large, 0);
                        c.send(heapSeg, 0);
                    }
                };
                for (int i = 0; i < 20_000; i++) pingPong.run(); // warm-up: let the JIT compile it all
                long before = ThreadAllocation.allocatedBytes();
                for (int i = 0; i < 2_000; i++) pingPong.run();
                long allocated = ThreadAllocation.allocatedBytes() - before;
                assertTrue(allocated < 1024, "rank " + rank + " allocated " + allocated + " bytes in 8000 transfers");
            }
            return null;
        });
    }

    @Test
    void segmentsTooSmallForMailboxesRefusePointToPointWithoutFailingTheGroup() throws Exception {
        ShmRanks.onThreads(2, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("z", 2, rank), ranks.settings(), Reducers.scalar())) {
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> c.send(MemorySegment.ofArray(new byte[8]), 1 - rank));
                assertTrue(e.getMessage().contains("DSCOMM_SHM_BYTES"), e.getMessage());
                c.barrier(); // still usable
            }
            return null;
        });
    }
}
