package ds.comm.ring;

import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ring's pairwise all-to-all ({@link AllToAllPass}): groups of 2 to {@link MeshLinks#MAX_RANKS}
 * ranks send every block once, straight to its rank, over the ring link and the direct links;
 * larger groups keep the composed one. What a caller sees is only the result, so the path taken
 * is shown by what a rank that called something else is told (the frame kind it received), and
 * the contract (ExchangeContract) runs on it unchanged.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RingAllToAllTest {

    /** 1 KiB chunks: a block of a few KiB crosses the ring link in several frames. */
    private static final Settings SETTINGS = RingCluster.settings(256, 1024, 20_000);

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 5, 8, 9})
    void everyBlockArrivesWholeFromNativeAndHeapBuffersMixedAcrossRanks(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                cluster.runAllOk(n, rank -> {
                    // Blocks of 0, 1 word, under a chunk, and of several chunks (5 KiB + 4 bytes,
                    // and one that 3 ranks exchange pairwise too); half the ranks pass heap
                    // buffers, the others native ones: the path is the same.
                    long[] blocks = {0, 4, 1000, 5124, 9004};
                    int caseNo = 0;
                    try (Arena arena = Arena.ofConfined()) {
                        for (long block : blocks) {
                            for (int repeat = 0; repeat < 2; repeat++) {
                                caseNo++;
                                boolean heap = (rank + repeat) % 2 == 1;
                                MemorySegment in = heap ? MemorySegment.ofArray(new byte[(int) (n * block)])
                                        : arena.allocate(Math.max(1, n * block)).asSlice(0, n * block);
                                MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) (n * block)])
                                        : arena.allocate(Math.max(1, n * block)).asSlice(0, n * block);
                                for (int j = 0; j < n; j++) in.asSlice(j * block, block).copyFrom(payload(caseNo, rank, j, block));
                                world[rank].allToAll(in, out, ElementType.INT32);
                                for (int i = 0; i < n; i++) {
                                    assertEquals(-1, out.asSlice(i * block, block).mismatch(payload(caseNo, i, rank, block)),
                                            "rank " + rank + ", block from " + i + ", " + block + " bytes, heap " + heap);
                                }
                            }
                        }
                    }
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks, blocks of {1} bytes")
    @CsvSource({"2, 32", "3, 32", "3, 8192", "4, 32", "8, 32", "9, 32", "9, 8192"})
    void groupsOfUpToEightRanksRunItPairwiseAndLargerOnesComposed(int n, int block) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                // Rank 0 calls a barrier, the others an all-to-all: whoever meets a frame of the
                // other call first names both kinds (the composed all-to-all runs all-gathers),
                // and every other rank relays its message.
                List<RingCluster.Outcome<Object>> outcomes = cluster.runAll(n, rank -> {
                    if (rank == 0) {
                        world[rank].barrier();
                    } else {
                        world[rank].allToAll(MemorySegment.ofArray(new byte[n * block]), MemorySegment.ofArray(new byte[n * block]),
                                ElementType.INT32);
                    }
                    return null;
                });
                StringBuilder messages = new StringBuilder();
                for (int rank = 0; rank < n; rank++) {
                    CommFailure f = RingCluster.failureOf(outcomes.get(rank), rank); // every rank fails, none hangs
                    assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                    messages.append(f.getMessage()).append('\n');
                }
                boolean pairwise = messages.indexOf("allToAll(pairwise)") >= 0;
                // Groups of 3 compose blocks under 8 KiB (RingCollective.THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES).
                assertEquals(n <= MeshLinks.MAX_RANKS && !(n == 3 && block < 8192), pairwise, messages.toString());
                if (!pairwise) assertTrue(messages.indexOf("allGather") >= 0, messages.toString());
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 5, 8, 9})
    void allToAllVMovesUnevenAndEmptyBlocksInOneStepAfterItsCountStep(int n) throws Exception {
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                List<Integer> passes = cluster.runAllOk(n, rank -> {
                    int passesBefore = 0;
                    int pairwiseCalls = 0;
                    try (Arena arena = Arena.ofConfined()) {
                        for (int caseNo = 1; caseNo <= 5; caseNo++) {
                            // Pair (i, j) sends big (20 KiB: ring chunks, over the 3-rank limit, and
                            // two composition rounds at 9 ranks), empty, small or one element by
                            // (i + 2j + case) mod 4; fp32 elements. Case 5: rank 1 sends and
                            // receives nothing at all (its buffers are empty) while the others
                            // exchange big blocks.
                            long[][] matrix = new long[n][n];
                            for (int i = 0; i < n; i++) {
                                for (int j = 0; j < n; j++) {
                                    matrix[i][j] = caseNo == 5 ? (i == 1 || j == 1 ? 0 : 5_001)
                                            : new long[] {5_001, 0, 37, 1}[(i + 2 * j + caseNo) % 4];
                                }
                            }
                            long[] send = matrix[rank].clone();
                            long[] recv = new long[n];
                            for (int i = 0; i < n; i++) recv[i] = matrix[i][rank];
                            long sendBytes = java.util.Arrays.stream(send).sum() * 4;
                            long recvBytes = java.util.Arrays.stream(recv).sum() * 4;
                            boolean heap = caseNo == 5 ? rank == 1 : (rank + caseNo) % 2 == 1;
                            MemorySegment in = heap ? MemorySegment.ofArray(new byte[(int) sendBytes]) : arena.allocate(sendBytes + 1)
                                    .asSlice(0, sendBytes);
                            MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) recvBytes + 16])
                                    : arena.allocate(recvBytes + 16);
                            out.fill((byte) 0x5A);
                            long at = 0;
                            for (int j = 0; j < n; j++) {
                                in.asSlice(at, send[j] * 4).copyFrom(payload(20 + caseNo, rank, j, send[j] * 4));
                                at += send[j] * 4;
                            }
                            passesBefore = world[rank].passesRun();
                            world[rank].allToAllV(in, send, out, recv, ElementType.FP32);
                            if (world[rank].passesRun() - passesBefore == 2) pairwiseCalls++;
                            at = 0;
                            for (int i = 0; i < n; i++) {
                                long bytes = recv[i] * 4;
                                assertEquals(-1, out.asSlice(at, bytes).mismatch(payload(20 + caseNo, i, rank, bytes)),
                                        "rank " + rank + ", block from " + i + ", case " + caseNo + ", heap " + heap);
                                at += bytes;
                            }
                            for (long b = recvBytes; b < out.byteSize(); b++) {
                                assertEquals((byte) 0x5A, out.get(java.lang.foreign.ValueLayout.JAVA_BYTE, b), "tail byte " + b);
                            }
                        }
                    }
                    return pairwiseCalls;
                });
                // The count step is one pass (an all-gather), the pairwise payload step one more;
                // the composition runs a round per piece of the largest pair (about 14 KiB at 9 ranks).
                for (int rank = 0; rank < n; rank++) {
                    assertEquals(n <= MeshLinks.MAX_RANKS ? 5 : 0, passes.get(rank), "pairwise calls on rank " + rank);
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void aRankWithAnotherBlockSizeIsAMismatchOnEveryRankOfAGroupWithDirectLinks() throws Exception {
        int n = 5;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                cluster.assertEveryRankFailsNamingAnother(n, CommFailure.Kind.MISMATCH, 20_000, rank -> {
                    int block = rank == 3 ? 12 : 8;
                    world[rank].allToAll(MemorySegment.ofArray(new int[n * block]), MemorySegment.ofArray(new int[n * block]),
                            ElementType.INT32);
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void aRankThatDiesDuringAPairwiseAllToAllIsNamedByEverySurvivor() throws Exception {
        int n = 5;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(RingCluster.settings(256, 1024, 20_000));
            try {
                cluster.assertSurvivorsNameALostRank(world, 2, "world rank 2", 20_000, rank -> {
                    world[rank].allToAll(MemorySegment.ofArray(new byte[n * 4096]), MemorySegment.ofArray(new byte[n * 4096]),
                            ElementType.INT32);
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    private static MemorySegment payload(int caseNo, int from, int to, long bytes) {
        byte[] b = new byte[(int) bytes];
        new SplittableRandom(caseNo * 1_000_003L + from * 1009L + to).nextBytes(b);
        return MemorySegment.ofArray(b);
    }
}
