package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.lanes.Reducers;
import ds.comm.spi.CommFailure;
import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The zero-copy all-reduce of symmetric tensors ({@link ShmCollective#allocateSymmetric}), ranks
 * as threads with their own mappings: bit-identical to the copy path, slices, foreign segments,
 * mismatched offsets, lifetime, files, allocation.
 */
@Timeout(90)
class ShmSymmetricTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    /** The widest vector reducer this JVM runs (what production uses), else the scalar one. */
    private static Reducer productionReducer() {
        return Reducers.maxBits() > 0 ? Reducers.vector(Reducers.maxBits()) : Reducers.scalar();
    }

    /** Element counts across the copy path's algorithms (one step, chunked, beyond an area) and odd tails. */
    private static long[] counts(ElementType type, int n) {
        long area = SegmentDescriptor.areaBytes(ShmRanks.SMALL_SHM_BYTES) / type.byteSize();
        // the last: several of the zero-copy path's reduce-then-copy blocks per rank's slice
        long blocks = 3 * n * ShmCollective.SYMMETRIC_BLOCK / type.byteSize() + 5;
        return new long[] {1, 2, n + 1, 63, ShmRanks.SMALL_MESSAGE_BYTES / type.byteSize() + 1, 1000, area + 3, blocks};
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3})
    void zeroCopyAllReduceIsBitIdenticalToTheCopyPathForEveryTypeAndOp(int n) throws Exception {
        long tensorBytes = 4 * n * ShmCollective.SYMMETRIC_BLOCK;
        ShmRanks.onThreads(n, 80_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer())) {
                MemorySegment t = c.allocateSymmetric(tensorBytes);
                MemorySegment copy = MemorySegment.ofArray(new byte[(int) tensorBytes]);
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : Combiner.values()) {
                        for (long count : counts(type, n)) {
                            caseNo++;
                            long bytes = count * type.byteSize();
                            MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                            MemorySegment viaCopy = copy.asSlice(0, bytes);
                            viaCopy.copyFrom(inputs[rank]);
                            c.allReduce(viaCopy, type, op);
                            MemorySegment sym = t.asSlice(0, bytes);
                            sym.copyFrom(inputs[rank]);
                            long stepsBefore = c.stepsPublished();
                            c.allReduce(sym, type, op);
                            assertEquals(2, c.stepsPublished() - stepsBefore, "the zero-copy path is two steps");
                            long at = sym.mismatch(viaCopy);
                            if (at >= 0) {
                                fail("rank " + rank + " of " + n + ": " + type + " " + op + " x" + count
                                        + ": zero-copy result differs from the copy path at byte " + at);
                            }
                            assertEquals(-1, Payloads.reduced(type, op, inputs, 0, bytes).mismatch(sym),
                                    type + " " + op + " x" + count + " against the rank-order reference");
                        }
                    }
                }
            }
            return null;
        });
    }

    @Test
    void aSliceAtTheSameOffsetOnEveryRankIsReducedInPlaceAndNothingElseIsTouched() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer())) {
                MemorySegment t = c.allocateSymmetric(4096);
                t.fill((byte) (rank + 1));
                long off = 4 * 13; // an odd element offset: not 64-byte aligned
                long bytes = 4 * 301;
                MemorySegment[] inputs = Payloads.inputs(ElementType.FP32, bytes, n, 77);
                MemorySegment slice = t.asSlice(off, bytes);
                slice.copyFrom(inputs[rank]);
                long stepsBefore = c.stepsPublished();
                c.allReduce(slice, ElementType.FP32, Combiner.SUM);
                assertEquals(2, c.stepsPublished() - stepsBefore, "a slice takes the zero-copy path");
                assertEquals(-1, Payloads.reduced(ElementType.FP32, Combiner.SUM, inputs, 0, bytes).mismatch(slice));
                for (long i = 0; i < t.byteSize(); i++) {
                    if (i >= off && i < off + bytes) continue;
                    if (t.get(ValueLayout.JAVA_BYTE, i) != rank + 1) fail("rank " + rank + ": byte " + i + " outside the slice changed");
                }
            }
            return null;
        });
    }

    @Test
    void slicesAtDifferentOffsetsAreAMismatchOnEveryRankBeforeAnyPeerMemoryIsTouched() throws Exception {
        int n = 2;
        List<String> messages = ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer())) {
                MemorySegment t = c.allocateSymmetric(4096);
                t.fill((byte) 7);
                CommFailure f = assertThrows(CommFailure.class,
                        () -> c.allReduce(t.asSlice(64L * rank, 256), ElementType.FP32, Combiner.SUM));
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                for (long i = 0; i < t.byteSize(); i++) {
                    if (t.get(ValueLayout.JAVA_BYTE, i) != 7) fail("rank " + rank + ": byte " + i + " was written");
                }
                return f.getMessage();
            }
        });
        for (String m : messages) {
            assertTrue(m.contains("offset in the symmetric tensor") || m.contains("found its call mismatched"), m);
        }
        assertTrue(messages.stream().anyMatch(m -> m.contains("offset in the symmetric tensor")), messages.toString());
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3})
    void allToAllOfASymmetricInputMovesTheSameBytesAsTheCopyPathInTwoSteps(int n) throws Exception {
        // Blocks within one chunk, over several chunks of the copy path, and odd-sized ones.
        long[] blocks = {4, 12, 4 * 1001, 3 * ShmRanks.SMALL_MESSAGE_BYTES + 8};
        long tensorBytes = n * java.util.Arrays.stream(blocks).max().orElseThrow() + 64;
        ShmRanks.onThreads(n, 60_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer());
                 Arena arena = Arena.ofConfined()) {
                MemorySegment t = c.allocateSymmetric(tensorBytes);
                int caseNo = 0;
                for (long block : blocks) {
                    for (long off : new long[] {0, 28}) {
                        caseNo++;
                        long bytes = n * block;
                        MemorySegment[] inputs = Payloads.inputs(ElementType.FP32, bytes, n, 500 + caseNo);
                        MemorySegment ordinary = arena.allocate(bytes, 64);
                        ordinary.copyFrom(inputs[rank]);
                        MemorySegment viaCopy = arena.allocate(bytes, 64);
                        c.allToAll(ordinary, viaCopy, ElementType.FP32);
                        MemorySegment in = t.asSlice(off, bytes);
                        in.copyFrom(inputs[rank]);
                        MemorySegment out = arena.allocate(bytes, 64);
                        long stepsBefore = c.stepsPublished();
                        c.allToAll(in, out, ElementType.FP32);
                        assertEquals(2, c.stepsPublished() - stepsBefore, "a symmetric input takes two steps");
                        assertEquals(-1, out.mismatch(viaCopy), "rank " + rank + ", block " + block + " at " + off);
                        for (int p = 0; p < n; p++) {
                            // Block p of the output is block `rank` of rank p's input.
                            assertEquals(-1, out.asSlice(p * block, block).mismatch(inputs[p].asSlice(rank * block, block)),
                                    "rank " + rank + ": block from rank " + p + ", block " + block + " at " + off);
                        }
                        assertEquals(-1, in.mismatch(inputs[rank]), "the input is left as it was");
                    }
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3})
    void allToAllVOfASymmetricInputMovesTheSameBytesAsTheCopyPathInTwoSteps(int n) throws Exception {
        ShmRanks.onThreads(n, 60_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer());
                 Arena arena = Arena.ofConfined()) {
                MemorySegment t = c.allocateSymmetric(64 << 10);
                for (int round = 0; round < 6; round++) {
                    // counts[i][j]: what rank i sends rank j; zeros, ones, and pieces over several chunks.
                    long[][] counts = new long[n][n];
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) counts[i][j] = (round * 7 + i * 5 + j * 3) % 4 == 0 ? 0 : 1 + (round * 131 + i * 37 + j * 11) % 1500;
                    }
                    long[] send = counts[rank];
                    long[] recv = new long[n];
                    long sendTotal = 0;
                    long recvTotal = 0;
                    for (int j = 0; j < n; j++) {
                        recv[j] = counts[j][rank];
                        sendTotal += send[j];
                        recvTotal += recv[j];
                    }
                    long inBytes = 4 * sendTotal;
                    long outBytes = 4 * recvTotal;
                    MemorySegment[] inputs = Payloads.inputs(ElementType.FP32, 4 * 3 * 1500L * n, n, 900 + round);
                    MemorySegment ordinary = arena.allocate(Math.max(1, inBytes), 64).asSlice(0, inBytes);
                    ordinary.copyFrom(inputs[rank].asSlice(0, inBytes));
                    MemorySegment viaCopy = arena.allocate(Math.max(1, outBytes), 64).asSlice(0, outBytes);
                    c.allToAllV(ordinary, send, viaCopy, recv, ElementType.FP32);
                    long off = round % 2 == 0 ? 0 : 44;
                    MemorySegment in = t.asSlice(off, inBytes);
                    in.copyFrom(inputs[rank].asSlice(0, inBytes));
                    MemorySegment out = arena.allocate(Math.max(1, outBytes), 64).asSlice(0, outBytes);
                    long stepsBefore = c.stepsPublished();
                    c.allToAllV(in, send, out, recv, ElementType.FP32);
                    assertEquals(2, c.stepsPublished() - stepsBefore, "a symmetric input takes two steps");
                    assertEquals(-1, out.mismatch(viaCopy), "rank " + rank + ", round " + round);
                    // Piece j of the output is what rank j sends this rank: after its pieces for ranks 0..rank-1.
                    long at = 0;
                    for (int j = 0; j < n; j++) {
                        long from = 0;
                        for (int k = 0; k < rank; k++) from += 4 * counts[j][k];
                        assertEquals(-1, out.asSlice(at, 4 * recv[j]).mismatch(inputs[j].asSlice(from, 4 * recv[j])),
                                "rank " + rank + ": piece from rank " + j + ", round " + round);
                        at += 4 * recv[j];
                    }
                }
            }
            return null;
        });
    }

    @Test
    void anAllToAllOfSymmetricSlicesAtDifferentOffsetsIsAMismatchOnEveryRank() throws Exception {
        int n = 2;
        List<String> messages = ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer());
                 Arena arena = Arena.ofConfined()) {
                MemorySegment t = c.allocateSymmetric(4096);
                MemorySegment out = arena.allocate(256, 64);
                CommFailure f = assertThrows(CommFailure.class,
                        () -> c.allToAll(t.asSlice(64L * rank, 256), out, ElementType.FP32));
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                return f.getMessage();
            }
        });
        assertTrue(messages.stream().anyMatch(m -> m.contains("offset in the symmetric tensor")), messages.toString());
    }

    /** An all-reduce, all-to-all and all-to-all-v each read peers' tensors on the symmetric path. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"allReduce", "allToAll", "allToAllV"})
    void aSymmetricTensorOnOneRankAndAnOrdinaryBufferOnAnotherIsAMismatch(String call) throws Exception {
        int n = 2;
        List<String> messages = ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer());
                 Arena arena = Arena.ofConfined()) {
                MemorySegment t = c.allocateSymmetric(4096);
                MemorySegment buf = rank == 0 ? t.asSlice(0, 1024) : arena.allocate(1024, 64);
                MemorySegment out = arena.allocate(1024, 64);
                long[] counts = {128, 128};
                CommFailure f = assertThrows(CommFailure.class, () -> {
                    switch (call) {
                        case "allReduce" -> c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                        case "allToAll" -> c.allToAll(buf, out, ElementType.FP32);
                        default -> c.allToAllV(buf, counts, out, counts, ElementType.FP32);
                    }
                });
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
                return f.getMessage();
            }
        });
        assertTrue(messages.stream().anyMatch(m -> m.contains("a symmetric tensor on one rank")), messages.toString());
    }

    @Test
    void foreignSegmentsTakeTheCopyPathAndLeaveTheSymmetricTensorsAlone() throws Exception {
        int n = 2;
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer());
                 Arena arena = Arena.ofConfined()) {
                // 1000 bytes in a file of whole pages: the mapping goes on past the tensor's end
                MemorySegment t = c.allocateSymmetric(1000);
                long bytes = 128;
                MemorySegment[] inputs = Payloads.inputs(ElementType.INT32, bytes, n, 5);
                // native memory of another arena, a heap array, and memory reaching past the tensor's end
                MemorySegment outside = MemorySegment.ofAddress(t.address() + 1000 - 64).reinterpret(bytes);
                MemorySegment[] foreign = {arena.allocate(bytes, 64), MemorySegment.ofArray(new byte[(int) bytes])};
                for (MemorySegment buf : foreign) {
                    buf.copyFrom(inputs[rank]);
                    long stepsBefore = c.stepsPublished();
                    c.allReduce(buf, ElementType.INT32, Combiner.SUM);
                    assertEquals(1, c.stepsPublished() - stepsBefore, "a foreign segment takes the one-step copy path");
                    assertEquals(-1, Payloads.reduced(ElementType.INT32, Combiner.SUM, inputs, 0, bytes).mismatch(buf));
                }
                long stepsBefore = c.stepsPublished();
                outside.copyFrom(inputs[rank]);
                c.allReduce(outside, ElementType.INT32, Combiner.SUM); // the copy path writes only this rank's memory
                assertEquals(1, c.stepsPublished() - stepsBefore, "a segment reaching outside the tensor is not symmetric");
                assertEquals(-1, Payloads.reduced(ElementType.INT32, Combiner.SUM, inputs, 0, bytes).mismatch(outside));
                assertEquals(-1, t.asSlice(0, 1000 - 64).mismatch(MemorySegment.ofArray(new byte[1000 - 64])),
                        "the copy path never touches a peer's tensor");
            }
            return null;
        });
    }

    @Test
    void theTensorIsAlignedZeroFilledWritableAndFailsCleanlyAfterClose() throws Exception {
        int n = 2;
        ShmRanks.onThreads(n, 30_000, rank -> {
            MemorySegment t;
            MemorySegment slice;
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer())) {
                t = c.allocateSymmetric(10_000);
                MemorySegment second = c.allocateSymmetric(100);
                assertEquals(10_000, t.byteSize());
                assertEquals(0, t.address() % 64, "64-byte aligned");
                assertEquals(0, second.address() % 64, "64-byte aligned");
                assertTrue(t.isNative() && !t.isReadOnly());
                assertEquals(-1, t.mismatch(MemorySegment.ofArray(new byte[10_000])), "zero-filled");
                t.set(ValueLayout.JAVA_INT, 9_996, 42);
                slice = t.asSlice(9_000, 1000);
                // Each rank unlinks its own file before its allocation returns: once every rank is
                // past both, no file may be left.
                c.barrier();
                assertEquals(List.of(), ranks.files(), "every tensor file is unlinked once all ranks mapped it");
            }
            assertThrows(IllegalStateException.class, () -> t.get(ValueLayout.JAVA_INT, 9_996));
            assertThrows(IllegalStateException.class, () -> slice.set(ValueLayout.JAVA_BYTE, 0, (byte) 1));
            return null;
        });
    }

    @Test
    void aDirectoryTooSmallForTheTensorsFailsOnEveryRankAndTheGroupStaysUsable() throws Exception {
        int n = 2;
        long tooBig = Files.getFileStore(ranks.dir).getUsableSpace() + (1L << 30);
        List<String> messages = ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), productionReducer())) {
                CommFailure f = assertThrows(CommFailure.class, () -> c.allocateSymmetric(tooBig));
                assertEquals(CommFailure.Kind.SETUP, f.kind(), f.getMessage());
                MemorySegment buf = MemorySegment.ofArray(new int[] {rank + 1});
                c.allReduce(buf, ElementType.INT32, Combiner.SUM);
                assertEquals(3, buf.get(ValueLayout.JAVA_INT, 0), "the group stays usable");
                MemorySegment t = c.allocateSymmetric(256);
                t.set(ValueLayout.JAVA_INT, 0, rank + 1);
                c.allReduce(t.asSlice(0, 4), ElementType.INT32, Combiner.SUM);
                assertEquals(3, t.get(ValueLayout.JAVA_INT, 0));
                return f.getMessage();
            }
        });
        for (String m : messages) {
            assertTrue(m.contains("group ranks 0 (world 0), 1 (world 1) could not create") && m.contains("not enough space"), m);
        }
    }

    /**
     * The zero-copy path's own work (finding the buffer, the steps, the copies) allocates nothing.
     * With the scalar reducer: whether C2 intrinsifies a vector kernel in a JVM that has run the
     * whole suite is another question, asked in a fresh JVM by VectorReducerAllocationTest.
     */
    @Test
    void theZeroCopyAllReduceAndAllToAllAllocateNothing() throws Exception {
        int n = 2;
        ShmRanks.onThreads(n, 80_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(), Reducers.scalar())) {
                c.allocateSymmetric(256); // another buffer first: the lookup walks more than one
                MemorySegment t = c.allocateSymmetric(64 << 10);
                MemorySegment slice = t.asSlice(1024, 8192);
                MemorySegment exchanged = MemorySegment.ofArray(new byte[8192]);
                MemorySegment anyStillAllocates = MemorySegment.ofArray(new int[1]);
                long last = -1;
                // Every rank runs the same number of rounds: until no rank allocated in the last one.
                for (int round = 0; round < 30; round++) {
                    long before = ThreadAllocation.allocatedBytes();
                    for (int i = 0; i < 2_000; i++) {
                        c.allReduce(t, ElementType.FP32, Combiner.SUM);
                        c.allReduce(slice, ElementType.BF16, Combiner.MAX);
                        c.allToAll(slice, exchanged, ElementType.FP32);
                    }
                    last = ThreadAllocation.allocatedBytes() - before;
                    anyStillAllocates.set(ValueLayout.JAVA_INT, 0, last == 0 ? 0 : 1);
                    c.allReduce(anyStillAllocates, ElementType.INT32, Combiner.MAX);
                    if (anyStillAllocates.get(ValueLayout.JAVA_INT, 0) == 0) break;
                }
                assertEquals(0, last, "bytes allocated by 4 000 zero-copy all-reduces and 2 000 all-to-alls once compiled");
            }
            return null;
        });
    }
}
