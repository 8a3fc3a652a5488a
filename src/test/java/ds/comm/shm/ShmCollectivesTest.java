package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class ShmCollectivesTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    private static final long[] BYTE_SIZES = {0, 8, 56, 1016, 1024, 1032, 4096, 3 * 1024 + 40, 9000};

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 8})
    void allGatherPlacesEveryRanksInputInRankOrder(int n) throws Exception {
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (long bytes : BYTE_SIZES) {
                    caseNo++;
                    MemorySegment[] inputs = Payloads.inputs(ElementType.INT64, bytes, n, caseNo);
                    MemorySegment in = Payloads.allocate(arena, bytes, Payloads.placement(caseNo));
                    MemorySegment out = Payloads.allocate(arena, n * bytes, Payloads.placement(caseNo + rank + 1));
                    in.copyFrom(inputs[rank]);
                    c.allGather(in, out, ElementType.INT64);
                    for (int p = 0; p < n; p++) {
                        assertEquals(-1, out.asSlice(p * bytes, bytes).mismatch(inputs[p]),
                                "rank " + rank + " block " + p + " of " + bytes + " bytes");
                    }
                }
            }
            return null;
        });
    }

    /**
     * In place: each rank's input is its own block of its output (native and heap memory, one
     * chunk and several). A rank copies its own block from its input, not from its staged copy,
     * and must do so before any peer's block lands in the output.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void allGatherInPlaceFromThisRanksBlockOfTheOutputPlacesEveryRanksInput(int n) throws Exception {
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (long bytes : new long[] {8, 1016, 4096, 9000}) {
                    for (boolean heap : new boolean[] {false, true}) {
                        caseNo++;
                        MemorySegment[] inputs = Payloads.inputs(ElementType.INT64, bytes, n, caseNo);
                        MemorySegment out = heap ? MemorySegment.ofArray(new long[(int) (n * bytes / 8)])
                                : arena.allocate(n * bytes, 64);
                        MemorySegment in = out.asSlice(rank * bytes, bytes);
                        in.copyFrom(inputs[rank]);
                        c.allGather(in, out, ElementType.INT64);
                        for (int p = 0; p < n; p++) {
                            assertEquals(-1, out.asSlice(p * bytes, bytes).mismatch(inputs[p]),
                                    "rank " + rank + " block " + p + " of " + bytes + " bytes" + (heap ? " (heap)" : ""));
                        }
                    }
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 8})
    void reduceScatterGivesRankRTheReductionOfEveryRanksBlockR(int n) throws Exception {
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    for (long bytes : BYTE_SIZES) {
                        caseNo++;
                        long block = bytes / type.byteSize() * type.byteSize();
                        Combiner op = caseNo % 2 == 0 ? Combiner.SUM : Combiner.MAX;
                        MemorySegment[] inputs = Payloads.inputs(type, n * block, n, caseNo);
                        MemorySegment in = Payloads.allocate(arena, n * block, Payloads.placement(caseNo + rank));
                        MemorySegment out = Payloads.allocate(arena, block, Payloads.placement(caseNo + 1));
                        in.copyFrom(inputs[rank]);
                        c.reduceScatter(in, out, type, op);
                        MemorySegment expected = Payloads.reduced(type, op, inputs, rank * block, block);
                        assertEquals(-1, expected.mismatch(out), "rank " + rank + " " + type + " " + op + " " + block);
                    }
                }
            }
            return null;
        });
    }

    @Test
    void reduceScatterMayWriteIntoItsOwnBlockOfTheInput() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank)) {
                for (long block : new long[] {8, 1000, 3000}) {
                    MemorySegment[] inputs = Payloads.inputs(ElementType.FP32, n * block, n, block);
                    MemorySegment in = MemorySegment.ofArray(new byte[(int) (n * block)]);
                    in.copyFrom(inputs[rank]);
                    MemorySegment out = in.asSlice(rank * block, block);
                    c.reduceScatter(in, out, ElementType.FP32, Combiner.SUM);
                    assertEquals(-1, Payloads.reduced(ElementType.FP32, Combiner.SUM, inputs, rank * block, block)
                            .mismatch(out), "rank " + rank + " block " + block);
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 8})
    void broadcastCopiesTheRootsBufferToEveryRankForEveryRoot(int n) throws Exception {
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (int root = 0; root < n; root++) {
                    for (long bytes : new long[] {0, 1, 1023, 1024, 5000}) {
                        caseNo++;
                        MemorySegment expected = Payloads.inputs(ElementType.INT64, bytes + 7 & -8, 1, caseNo)[0]
                                .asSlice(0, bytes);
                        MemorySegment buf = Payloads.allocate(arena, bytes, Payloads.placement(caseNo + rank));
                        if (rank == root) buf.copyFrom(expected);
                        else buf.fill((byte) 0x5A);
                        c.broadcast(buf, root);
                        assertEquals(-1, expected.mismatch(buf), "rank " + rank + " root " + root + " " + bytes);
                    }
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 8})
    void barrierReturnsOnlyAfterEveryRankHasEntered(int n) throws Exception {
        int rounds = 50;
        AtomicIntegerArray arrived = new AtomicIntegerArray(rounds);
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank)) {
                SplittableRandom rnd = new SplittableRandom(rank);
                for (int round = 0; round < rounds; round++) {
                    if (rnd.nextInt(4) == 0) Thread.sleep(1); // make some ranks late
                    arrived.incrementAndGet(round);
                    c.barrier();
                    assertEquals(n, arrived.get(round), "rank " + rank + " left barrier " + round + " early");
                }
            }
            return null;
        });
    }

    /**
     * All ranks draw the same random sequence of collectives with random sizes; each result is
     * checked, so a step of one collective bleeding into the next would show.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void mixedCollectivesInRandomOrderDoNotInterfere(int n) throws Exception {
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = open("w", n, rank)) {
                SplittableRandom plan = new SplittableRandom(42);
                for (int i = 0; i < 200; i++) {
                    runRandomCollective(c, plan, n, rank, i);
                }
            }
            return null;
        });
    }

    /**
     * Two communicators over the same ranks, and sub-groups of half the ranks, used
     * alternately in random order: each has its own segments and step sequence.
     */
    @Test
    void twoGroupsAndSubGroupsUsedAlternatelyNeverMix() throws Exception {
        int n = 4;
        ShmRanks.onThreads(n, 30_000, rank -> {
            int half = rank / 2;
            int[] subMembers = half == 0 ? new int[] {0, 1} : new int[] {2, 3};
            try (ShmCollective x = open("x", n, rank); ShmCollective y = open("y", n, rank);
                 ShmCollective sub = ShmCollective.open(ranks.group("x.s" + half, subMembers, rank % 2),
                         ranks.settings(), Reducers.scalar())) {
                SplittableRandom planX = new SplittableRandom(1);
                SplittableRandom planY = new SplittableRandom(2);
                SplittableRandom planSub = new SplittableRandom(3 + half);
                SplittableRandom order = new SplittableRandom(99);
                for (int i = 0; i < 150; i++) {
                    switch (order.nextInt(3)) {
                        case 0 -> runRandomCollective(x, planX, n, rank, 1000 + i);
                        case 1 -> runRandomCollective(y, planY, n, rank, 2000 + i);
                        default -> runRandomCollective(sub, planSub, 2, rank % 2, 3000 + 10 * half + i);
                    }
                }
            }
            return null;
        });
    }

    /** The largest supported node: 64 ranks, reduce-scatter blocks of one 64-byte line per rank. */
    @Test
    void sixtyFourRanksReduceCorrectlyWithTheSmallestSegments() throws Exception {
        int n = 64;
        ShmRanks.onThreads(n, 50_000, rank -> {
            // 64 threads on 2 cores: short park timeouts would have them wake each other out of the
            // CPU; park longer so that the rank that has not arrived yet gets to run.
            Settings s = ranks.settings();
            Settings patient = new Settings(s.timeoutNanos(), () -> new BackoffIdleStrategy(10, 2, 50_000, 5_000_000),
                    s.shmDir(), s.shmBytes(), s.smallMessageBytes(), s.chunkBytes(), s.peerLostNanos());
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), patient, Reducers.scalar())) {
                for (long count : new long[] {5, 1100}) { // one step, and chunked (4400 bytes > area)
                    MemorySegment[] inputs = Payloads.inputs(ElementType.FP32, count * 4, n, count);
                    MemorySegment buf = MemorySegment.ofArray(new byte[(int) (count * 4)]);
                    buf.copyFrom(inputs[rank]);
                    c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                    assertEquals(-1, Payloads.reduced(ElementType.FP32, Combiner.SUM, inputs, 0, count * 4).mismatch(buf));
                }
                long block = 16 * 8; // two chunks of one line each
                MemorySegment[] inputs = Payloads.inputs(ElementType.INT64, n * block, n, 77);
                MemorySegment out = MemorySegment.ofArray(new byte[(int) block]);
                c.reduceScatter(inputs[rank], out, ElementType.INT64, Combiner.SUM);
                assertEquals(-1, Payloads.reduced(ElementType.INT64, Combiner.SUM, inputs, rank * block, block)
                        .mismatch(out), "rank " + rank);
                c.barrier();
            }
            return null;
        });
    }

    @Test
    void aGroupOfOneIsRefusedWithoutCreatingAnyFile() throws Exception {
        GroupSpec solo = ranks.group("solo", new int[] {7}, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ShmCollective.open(solo, ranks.settings(), Reducers.scalar()));
        assertTrue(e.getMessage().contains("solo"), e.getMessage());
        assertTrue(ranks.files().isEmpty());
    }

    private ShmCollective open(String name, int n, int rank) {
        return ShmCollective.open(ranks.world(name, n, rank), ranks.settings(), Reducers.scalar());
    }

    /** One collective drawn from {@code plan} (the same on every rank), checked against its reference. */
    static void runRandomCollective(ShmCollective c, SplittableRandom plan, int n, int rank, int caseNo) {
        ElementType type = ElementType.values()[plan.nextInt(ElementType.values().length)];
        Combiner op = plan.nextBoolean() ? Combiner.SUM : Combiner.MAX;
        long count = switch (plan.nextInt(3)) {
            case 0 -> plan.nextInt(8);
            case 1 -> plan.nextInt(200);
            default -> plan.nextInt(3000);
        };
        long bytes = count * type.byteSize();
        int kind = plan.nextInt(5);
        int root = plan.nextInt(n);
        String what = "case " + caseNo + " kind " + kind + " " + type + " " + op + " " + count + " on rank " + rank;
        switch (kind) {
            case 0 -> {
                MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                buf.copyFrom(inputs[rank]);
                c.allReduce(buf, type, op);
                assertEquals(-1, Payloads.reduced(type, op, inputs, 0, bytes).mismatch(buf), what);
            }
            case 1 -> {
                MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                MemorySegment out = MemorySegment.ofArray(new byte[(int) (n * bytes)]);
                c.allGather(inputs[rank], out, type);
                for (int p = 0; p < n; p++) assertEquals(-1, out.asSlice(p * bytes, bytes).mismatch(inputs[p]), what);
            }
            case 2 -> {
                MemorySegment[] inputs = Payloads.inputs(type, n * bytes, n, caseNo);
                MemorySegment out = MemorySegment.ofArray(new byte[(int) bytes]);
                c.reduceScatter(inputs[rank], out, type, op);
                assertEquals(-1, Payloads.reduced(type, op, inputs, rank * bytes, bytes).mismatch(out), what);
            }
            case 3 -> {
                MemorySegment expected = Payloads.inputs(type, bytes, 1, caseNo)[0];
                MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                if (rank == root) buf.copyFrom(expected);
                c.broadcast(buf, root);
                assertEquals(-1, expected.mismatch(buf), what + " root " + root);
            }
            default -> c.barrier();
        }
    }
}
