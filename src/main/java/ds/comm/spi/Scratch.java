package ds.comm.spi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Native scratch memory of a composed or multi-level collective: grown on demand (never shrunk)
 * and handed out as slices that stay the same segment instances while a program repeats its
 * sizes, so that its calls allocate nothing (a new slice per call is a small object, and the
 * socket ring caches its views per segment instance, so it cost a view per call too).
 *
 * <p>Not thread-safe: one call of its collective at a time, like every {@link Collective}.
 */
public final class Scratch implements AutoCloseable {

    /** Slices remembered: each call uses a few ranges; a program alternating several calls about ten. */
    private static final int SLICES = 16;

    private Arena arena;
    private MemorySegment memory = MemorySegment.NULL;
    private final MemorySegment[] slices = new MemorySegment[SLICES];
    private final long[] offsets = new long[SLICES];
    private final long[] lengths = new long[SLICES];
    private int next;

    /**
     * Makes at least {@code bytes} available (64-byte aligned, at least 4 KiB); slices handed out
     * before stay valid unless the memory had to grow.
     *
     * @return the whole scratch memory
     */
    public MemorySegment reserve(long bytes) {
        if (memory.byteSize() < bytes) {
            if (arena != null) arena.close();
            arena = Arena.ofShared();
            memory = arena.allocate(Math.max(bytes, 4096), 64);
            java.util.Arrays.fill(slices, null);
        }
        return memory;
    }

    /**
     * Bytes [offset, offset + length) of the scratch, which must have been {@link #reserve reserved}:
     * the same segment instance as last time for the same range.
     */
    public MemorySegment slice(long offset, long length) {
        for (int i = 0; i < SLICES; i++) {
            if (slices[i] != null && offsets[i] == offset && lengths[i] == length) return slices[i];
        }
        int i = next;
        next = (next + 1) % SLICES;
        offsets[i] = offset;
        lengths[i] = length;
        slices[i] = memory.asSlice(offset, length);
        return slices[i];
    }

    /** Frees the memory; idempotent. The scratch may be used again afterwards (it grows anew). */
    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            memory = MemorySegment.NULL;
            java.util.Arrays.fill(slices, null);
        }
    }
}
