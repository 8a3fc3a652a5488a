package ds.comm.shm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;
import java.util.Objects;

/**
 * The copies of the SHM collectives (staging into a segment, copying out of a peer's), done
 * by the C library's {@code memmove} when they are large, through one FFM downcall. The
 * collectives call it through their {@link MappingGuard}.
 *
 * <h2>Why</h2>
 * {@link MemorySegment#copy} copies with the JVM's vector copy loop, and across cores that loop
 * is slow: the area a rank stages into was read by its peers one step earlier, and the area it
 * copies out of was just written by a peer, so most lines move between caches. glibc's
 * {@code memmove} copies such sizes with the CPU's string-copy instruction ({@code rep movsb}
 * on x86), which moves whole lines at a time. The same 2-rank all-to-all of 64 KiB blocks in C
 * on this project's machine, p50: 5.1 us with a vector loop like the JVM's against 3.5 us with
 * {@code memcpy} in one placement of the two vCPUs, 14-16 against 5-6 us in the other; the staging
 * copy is most of the difference. In ds-comm the SHM all-to-all of 64 KiB went from 16 to 5.6 us
 * and the all-reduce of 64 KiB from 17 to 8.4 us (docs/performance.md). Below
 * {@link #MIN_BYTES} the JVM's loop is as fast, and the downcall's fixed cost would show.
 *
 * <h2>Checks</h2>
 * Every check {@link MemorySegment#copy} makes is made first, and a failed one throws the same
 * exception before a byte moves: bounds ({@link IndexOutOfBoundsException}), a read-only
 * destination, a closed arena ({@link IllegalStateException}), a confined segment used from
 * another thread ({@link WrongThreadException}). Heap segments have no address and take
 * {@link MemorySegment#copy}. {@code memmove} gets raw addresses, not the segments: with
 * segment arguments the linker would also hold each arena open during the call, but the two
 * slices that carry the offsets then escape whenever C2 does not inline the whole downcall
 * into the caller, and the SHM hot paths must not allocate. What raw addresses give up: an
 * arena that another thread closes while the copy runs is not refused (the JDK would make that
 * close fail). For the collectives' own mappings {@link MappingGuard} restores it: a close
 * under a running copy unmaps only when the copy returns ({@code MappingGuardTest} dies of
 * SIGSEGV without it). Closing a caller's buffer's arena during a collective on it remains a
 * data race in the caller. An automatic arena cannot free the memory under the copy: both
 * segments are kept reachable until {@code memmove} returns.
 *
 * <h2>Pieces</h2>
 * The downcall is {@linkplain Linker.Option#critical critical}: the thread stays in Java state,
 * which saves the state transitions (tens of ns) but holds off safepoints until the call
 * returns. So one call copies at most {@link #PIECE_BYTES}, tens of microseconds even across
 * cores, and a GC or another thread's safepoint waits no longer than that.
 *
 * <p>Where the C library's {@code memmove} cannot be found (the lookup fails, or native access
 * is denied), every copy takes {@link MemorySegment#copy}; the bytes are the same either way.
 */
final class BulkCopy {

    /** Copies of at least this many bytes go to {@code memmove}. */
    static final long MIN_BYTES = 8 * 1024;
    /** The most one {@code memmove} call copies (see "Pieces"). */
    static final long PIECE_BYTES = 256 * 1024;

    private static final System.Logger LOG = System.getLogger("ds.comm");

    /** {@code void *memmove(void *dst, const void *src, size_t n)}; null when unavailable. */
    private static final MethodHandle MEMMOVE = lookUp();

    private BulkCopy() {
    }

    /** Whether large copies go to {@code memmove} in this process. */
    static boolean usesMemmove() {
        return MEMMOVE != null;
    }

    private static MethodHandle lookUp() {
        try {
            Linker linker = Linker.nativeLinker();
            MemorySegment fn = linker.defaultLookup().find("memmove").orElse(null);
            if (fn == null) return null;
            // critical: a plain C call that neither blocks nor calls back, so the thread does not
            // change state around it (a few ns instead of tens).
            return linker.downcallHandle(fn,
                    FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                    Linker.Option.critical(false));
        } catch (RuntimeException | LinkageError e) {
            LOG.log(System.Logger.Level.DEBUG, "memmove unavailable, SHM copies use MemorySegment.copy: " + e);
            return null;
        }
    }

    /** The liveness and confinement checks of a segment access, with the JDK's exception types. */
    private static void checkUsable(MemorySegment segment) {
        if (!segment.scope().isAlive()) throw new IllegalStateException("Already closed");
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new WrongThreadException("Attempted access outside owning thread");
        }
    }

    /**
     * Copies {@code bytes} bytes from {@code src} at {@code srcOffset} to {@code dst} at
     * {@code dstOffset}, with the checks and result of {@link MemorySegment#copy}.
     */
    static void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        if (bytes < MIN_BYTES || MEMMOVE == null || !src.isNative() || !dst.isNative() || dst.isReadOnly()) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
            return;
        }
        // Everything MemorySegment.copy checks, first, so that a bad call copies nothing.
        Objects.checkFromIndexSize(srcOffset, bytes, src.byteSize());
        Objects.checkFromIndexSize(dstOffset, bytes, dst.byteSize());
        checkUsable(src);
        checkUsable(dst);
        long srcAt = src.address() + srcOffset;
        long dstAt = dst.address() + dstOffset;
        // Forward, piece by piece: overlapping ranges with dst above src (which memmove handles
        // within one call) would be corrupted across pieces, so those take MemorySegment.copy.
        if (dstAt > srcAt && dstAt < srcAt + bytes && bytes > PIECE_BYTES) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
            return;
        }
        try {
            for (long done = 0; done < bytes; done += PIECE_BYTES) {
                MEMMOVE.invokeExact(dstAt + done, srcAt + done, Math.min(PIECE_BYTES, bytes - done));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("memmove failed", t);
        } finally {
            // An automatic arena frees its memory once the segment is unreachable: not before here.
            Reference.reachabilityFence(src);
            Reference.reachabilityFence(dst);
        }
    }
}
