package ds.comm.mpi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Native memory reused across collectives of one communicator, grown on demand.
 *
 * <p>MPI takes addresses, and a heap segment has none that stays put, so heap (array-backed)
 * buffers and 16-bit floats widened to fp32 pass through here. Collectives stage one chunk per
 * rank block at a time (at most {@link #MAX_BYTES}) and loop over larger buffers, so the pool
 * stays bounded however large a tensor is. Grows by doubling (4 KiB granules) so a slowly growing workload reallocates
 * only logarithmically often; never shrinks. One owner thread at a time (the communicator's).
 */
final class StagingBuffer implements AutoCloseable {

    /** Cap on the chunk one collective step stages per rank block. */
    static final long MAX_BYTES = 64L << 20;

    private static final long GRANULE = 4096;
    /** Cache-line alignment keeps MPI's vectorised copy and reduction loops on their fast path. */
    private static final long ALIGNMENT = 64;

    private Arena arena;
    private MemorySegment segment = MemorySegment.NULL;

    /** Returns a native segment of at least {@code bytes} bytes (contents undefined). */
    MemorySegment ensure(long bytes) {
        if (segment.byteSize() < bytes) grow(bytes);
        return segment;
    }

    /** Current capacity in bytes. */
    long capacity() {
        return segment.byteSize();
    }

    private void grow(long bytes) {
        long size = Math.max(bytes, Math.min(segment.byteSize() * 2, MAX_BYTES));
        size = (size + GRANULE - 1) / GRANULE * GRANULE;
        Arena next = Arena.ofShared();
        MemorySegment fresh = next.allocate(size, ALIGNMENT);
        close();
        arena = next;
        segment = fresh;
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            segment = MemorySegment.NULL;
        }
    }
}
