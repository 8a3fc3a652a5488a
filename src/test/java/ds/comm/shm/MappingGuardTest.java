package ds.comm.shm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A close never unmaps memory that a memmove is copying; it unmaps once, at once or after the copy. */
class MappingGuardTest {

    @Test
    void closeWithNoCopyRunningUnmapsAtOnceAndOnlyOnce() {
        AtomicInteger unmaps = new AtomicInteger();
        MappingGuard guard = new MappingGuard(unmaps::incrementAndGet);
        guard.close();
        assertEquals(1, unmaps.get());
        assertTrue(guard.isUnmapped());
        guard.close();
        assertEquals(1, unmaps.get());
    }

    @Test
    void aLargeCopyAfterCloseFailsLikeAClosedArenaAndUnmapsNothingTwice() {
        AtomicInteger unmaps = new AtomicInteger();
        MappingGuard guard = new MappingGuard(unmaps::incrementAndGet);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(BulkCopy.MIN_BYTES);
            MemorySegment b = arena.allocate(BulkCopy.MIN_BYTES);
            guard.copy(a, 0, b, 0, BulkCopy.MIN_BYTES); // open: copies
            guard.close();
            assertThrows(IllegalStateException.class, () -> guard.copy(a, 0, b, 0, BulkCopy.MIN_BYTES));
            assertEquals(1, unmaps.get());
        }
    }

    @Test
    @Timeout(120)
    void closingWhileAnotherThreadCopiesLeavesTheUnmapToThatCopy() throws Exception {
        // Without the guard the mapping would go (munmap) between two pieces of a running copy,
        // or under one, and the JVM running this test would die of SIGSEGV: the copying thread
        // is inside a copy almost all the time.
        long size = 4L << 20;
        Path file = Files.createTempFile("dscomm-mapping-guard", ".bin");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            for (int round = 0; round < 30; round++) {
                closeUnderACopy(channel, size, round);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void closeUnderACopy(FileChannel channel, long size, int round) throws Exception {
        // A file mapping, as the segments are: unmapped, its pages fault (a heap block freed
        // under the copy could stay readable and hide the bug).
        Arena arena = Arena.ofShared();
        MemorySegment mapped = channel.map(FileChannel.MapMode.READ_WRITE, 0, 2 * size, arena);
        MemorySegment from = mapped.asSlice(0, size);
        MemorySegment to = mapped.asSlice(size, size);
        MappingGuard guard = new MappingGuard(arena::close);
        CompletableFuture<Throwable> copier = CompletableFuture.supplyAsync(() -> {
            try {
                for (int i = 0; i < 1_000_000; i++) guard.copy(from, 0, to, 0, size);
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        Thread.sleep(2 + round % 5);
        guard.close();
        Throwable end = copier.get(60, TimeUnit.SECONDS);
        assertInstanceOf(IllegalStateException.class, end, "round " + round);
        assertTrue(guard.isUnmapped(), "round " + round);
        assertFalse(arena.scope().isAlive(), "round " + round);
    }
}
