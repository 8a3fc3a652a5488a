package ds.comm.shm;

import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BulkCopy gives the bytes, the checks and the exceptions of MemorySegment.copy, without allocating. */
class BulkCopyTest {

    private static final long[] SIZES = {1, 4096, BulkCopy.MIN_BYTES - 1, BulkCopy.MIN_BYTES, BulkCopy.MIN_BYTES + 1,
        100_003, BulkCopy.PIECE_BYTES, BulkCopy.PIECE_BYTES + 1, 3 * BulkCopy.PIECE_BYTES + 4093};

    @Test
    void memmoveIsFoundOnLinux() {
        // Otherwise every other test here would only exercise MemorySegment.copy.
        assertTrue(BulkCopy.usesMemmove(), "libc memmove not found");
    }

    @Test
    void copiesTheBytesOfMemorySegmentCopyAndNothingAround() {
        Random random = new Random(11);
        try (Arena arena = Arena.ofConfined()) {
            for (long size : SIZES) {
                for (long srcOffset : new long[] {0, 3, 64}) {
                    long dstOffset = 67 - srcOffset;
                    assertCopiesLikeTheJdk(arena, randomBytes(arena, size + 128, random), srcOffset,
                            randomBytes(arena, size + 128, random), dstOffset, size);
                }
            }
        }
    }

    @Test
    void overlappingRangesCopyAsMemorySegmentCopyDoes() {
        Random random = new Random(12);
        try (Arena arena = Arena.ofConfined()) {
            for (long size : SIZES) {
                for (long shift : new long[] {-4099, -1, 1, 4099, size / 2 + 1}) {
                    MemorySegment buf = randomBytes(arena, size + 9000, random);
                    long from = 4500;
                    long to = Math.max(0, Math.min(buf.byteSize() - size, from + shift));
                    assertCopiesLikeTheJdk(arena, buf, from, buf, to, size);
                }
            }
        }
    }

    @Test
    void heapSegmentsOnEitherSideAreCopied() {
        Random random = new Random(13);
        int size = (int) (2 * BulkCopy.PIECE_BYTES + 5);
        try (Arena arena = Arena.ofConfined()) {
            byte[] heapSource = new byte[size];
            random.nextBytes(heapSource);
            MemorySegment nativeCopy = arena.allocate(size);
            BulkCopy.copy(MemorySegment.ofArray(heapSource), 0, nativeCopy, 0, size);
            byte[] back = new byte[size];
            BulkCopy.copy(nativeCopy, 0, MemorySegment.ofArray(back), 0, size);
            assertEquals(-1, MemorySegment.ofArray(back).mismatch(MemorySegment.ofArray(heapSource)));
        }
    }

    @Test
    void failuresAreThoseOfMemorySegmentCopyAndCopyNothing() throws Exception {
        long size = BulkCopy.MIN_BYTES * 4;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(size);
            src.fill((byte) 7);
            MemorySegment dst = arena.allocate(size);
            // Out of bounds, on either side: nothing is written.
            assertSameFailure(src, 1, dst, 0, size);
            assertSameFailure(src, 0, dst, 1, size);
            assertSameFailure(src, -1, dst, 0, BulkCopy.MIN_BYTES);
            assertEquals(0, dst.get(ValueLayout.JAVA_BYTE, 0));
            // A read-only destination.
            assertSameFailure(src, 0, dst.asReadOnly(), 0, size);
            // A segment of a closed arena.
            Arena closed = Arena.ofConfined();
            MemorySegment gone = closed.allocate(size);
            closed.close();
            assertSameFailure(gone, 0, dst, 0, size);
            assertSameFailure(src, 0, gone, 0, size);
            // A confined segment used from another thread.
            CompletableFuture<Void> other = CompletableFuture.runAsync(() -> assertSameFailure(src, 0, dst, 0, size));
            try {
                other.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError(e.getCause());
            }
            assertEquals(0, dst.get(ValueLayout.JAVA_BYTE, size - 1));
        }
    }

    @Test
    void largeCopiesAllocateNothingPerCall() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(64 * 1024 + 100);
            MemorySegment dst = arena.allocate(64 * 1024 + 100);
            for (int i = 0; i < 20_000; i++) copyBothWays(src, dst, i & 63);
            long before = ThreadAllocation.allocatedBytes();
            for (int i = 0; i < 10_000; i++) copyBothWays(src, dst, i & 63);
            long allocated = ThreadAllocation.allocatedBytes() - before;
            // 20 000 copies: even one 16-byte slice per copy would be 320 000 bytes.
            assertTrue(allocated < 8_000, "allocated " + allocated + " bytes in 20 000 copies");
        }
    }

    private static void copyBothWays(MemorySegment a, MemorySegment b, long offset) {
        BulkCopy.copy(a, offset, b, 0, 64 * 1024);
        BulkCopy.copy(b, 0, a, offset, 16 * 1024 + offset);
    }

    /**
     * BulkCopy leaves {@code dst} as MemorySegment.copy would have, applied to a snapshot of it
     * (and, when {@code src} is {@code dst}, reading the snapshot: memmove's overlap rule).
     */
    private static void assertCopiesLikeTheJdk(Arena arena, MemorySegment src, long srcOffset, MemorySegment dst,
                                               long dstOffset, long size) {
        MemorySegment expected = arena.allocate(dst.byteSize());
        MemorySegment.copy(dst, 0, expected, 0, dst.byteSize());
        MemorySegment.copy(src == dst ? expected : src, srcOffset, expected, dstOffset, size);
        BulkCopy.copy(src, srcOffset, dst, dstOffset, size);
        assertEquals(-1, dst.mismatch(expected), "size " + size + ", " + srcOffset + " -> " + dstOffset);
    }

    private static void assertSameFailure(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        RuntimeException jdk = assertThrows(RuntimeException.class,
                () -> MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes));
        RuntimeException ours = assertThrows(RuntimeException.class,
                () -> BulkCopy.copy(src, srcOffset, dst, dstOffset, bytes));
        assertInstanceOf(jdk.getClass(), ours, "MemorySegment.copy threw " + jdk + ", BulkCopy " + ours);
    }

    private static MemorySegment randomBytes(Arena arena, long size, Random random) {
        byte[] bytes = new byte[(int) size];
        random.nextBytes(bytes);
        MemorySegment s = arena.allocate(size);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, s, 0, size);
        return s;
    }
}
