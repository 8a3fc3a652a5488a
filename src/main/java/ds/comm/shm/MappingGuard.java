package ds.comm.shm;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps one collective's mappings (its segments, its symmetric tensors) mapped while a
 * {@link BulkCopy} runs in them, and unmaps them when the last such copy returns.
 *
 * <h2>Why</h2>
 * Every other access to the mappings goes through the JDK's scoped memory access, and closing
 * a shared arena fails while another thread is inside one: a {@code close()} that runs under
 * a call (a non-blocking call still running when {@code Communicator.close()} gives up on it,
 * a shutdown hook) leaves the mapping in place, and the call fails cleanly at its next access
 * ({@code BackendCollective.release}'s rule: such a close must not crash). {@code memmove} runs
 * on raw addresses, outside that protection; unmapped under it, it would crash the process. So
 * large copies go through here: each counts itself in for the duration of the copy, and
 * {@link #close} unmaps at once if none runs, otherwise leaves it to the last one out. A copy
 * that starts after {@link #close} fails like any access to a closed arena.
 *
 * <p>State: one {@code long}, the number of copies in flight plus the {@link #CLOSING} bit.
 * Two uncontended atomic additions per copy of at least {@link BulkCopy#MIN_BYTES} bytes (a few
 * ns against hundreds); smaller copies take {@link MemorySegment#copy}, which the JDK protects.
 */
final class MappingGuard {

    private static final long CLOSING = 1L << 62;

    private final AtomicLong state = new AtomicLong();
    private final AtomicBoolean unmapped = new AtomicBoolean();
    private final Runnable unmap;

    /** @param unmap closes the arenas; runs exactly once, on the thread that closes or copies last */
    MappingGuard(Runnable unmap) {
        this.unmap = unmap;
    }

    /** {@link BulkCopy#copy}, with the mappings held for its duration. */
    void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        if (bytes < BulkCopy.MIN_BYTES) {
            BulkCopy.copy(src, srcOffset, dst, dstOffset, bytes);
            return;
        }
        long s = state.incrementAndGet();
        try {
            if ((s & CLOSING) != 0) throw new IllegalStateException("Already closed");
            BulkCopy.copy(src, srcOffset, dst, dstOffset, bytes);
        } finally {
            if (state.decrementAndGet() == CLOSING) unmapOnce();
        }
    }

    /** Unmaps now if no copy is running, else when the last running one returns; idempotent. */
    void close() {
        long before = state.getAndUpdate(s -> s | CLOSING);
        if (before == 0) unmapOnce();
    }

    /** Whether the mappings have been unmapped (for tests). */
    boolean isUnmapped() {
        return unmapped.get();
    }

    private void unmapOnce() {
        if (unmapped.compareAndSet(false, true)) unmap.run();
    }
}
