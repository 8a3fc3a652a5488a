package ds.comm.shm;

import ds.comm.spi.GroupSpec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * One symmetric allocation of a group: every member's tensor of the same size, each in a file
 * of its owner that every member has mapped, so that any rank can read and write any rank's
 * tensor in place (the zero-copy all-reduce of {@link ShmCollective}).
 *
 * <p><b>File.</b> A tensor file has the header of a segment ({@code SegmentDescriptor}: owner
 * pid, start time, uid, job and group hashes; READY last), so that naming, verification and the
 * stale-file reclaim are exactly those of the collective's segments. Its group is the
 * communicator's with {@code ".y<index>"} appended to the name: the HMAC-derived file name and
 * the group hash differ from every segment's. The tensor starts at {@link #TENSOR_OFFSET}, one
 * page in, so it is page aligned (hence 64-byte aligned) and never shares a page with the
 * header; the file is a whole number of pages.
 *
 * <p><b>Lifetime.</b> All mappings (this rank's file and its peers') belong to one shared
 * arena, closed with the communicator; the segment handed to the caller is a plain native view
 * of the same memory in that arena, so any access after the close fails with
 * {@link IllegalStateException}, as for any closed arena's segment.
 */
final class SymmetricBuffer {

    /** Offset of the tensor in its file: one page, past the header and control lines. */
    static final long TENSOR_OFFSET = 4096;
    /** Bits of the tensor offset in a call descriptor's plan word (see {@link #plan}). */
    static final int OFFSET_BITS = 40;
    /** Largest tensor: an offset into it must fit {@link #OFFSET_BITS}. */
    static final long MAX_BYTES = (1L << OFFSET_BITS) - TENSOR_OFFSET;
    /** Most symmetric allocations per group: the index is 16 bits of the plan word. */
    static final int MAX_BUFFERS = 1 << 16;

    /** Serial number within the group, 0 first; the same on every member. */
    final int index;
    /** Bytes of each member's tensor. */
    final long bytes;
    /** Every member's tensor, by group rank, as plain native segments of {@link #arena}. */
    final MemorySegment[] tensors;
    /** Address of this rank's tensor in this process. */
    final long base;
    private final Arena arena;
    private final Path ownPath;
    /** Whether this rank's file still has its name (only if the unlink after mapping failed). */
    private boolean ownFileLinked;

    SymmetricBuffer(int index, long bytes, MemorySegment[] tensors, int rank, Arena arena, Path ownPath,
                    boolean ownFileLinked) {
        this.index = index;
        this.bytes = bytes;
        this.tensors = tensors;
        this.base = tensors[rank].address();
        this.arena = arena;
        this.ownPath = ownPath;
        this.ownFileLinked = ownFileLinked;
    }

    /** Size of a tensor file of {@code bytes}: header page plus whole pages of tensor. */
    static long fileBytes(long bytes) {
        return TENSOR_OFFSET + ((bytes + TENSOR_OFFSET - 1) & -TENSOR_OFFSET);
    }

    /** The group whose name and hash a tensor file of allocation {@code index} carries. */
    static GroupSpec fileGroup(GroupSpec group, int index) {
        return new GroupSpec(group.name() + ".y" + index, group.jobToken(), group.members(), group.myIndex());
    }

    /**
     * Whether {@code s} is this rank's tensor or a slice of it. Only the address range counts:
     * a native segment that lies wholly inside the tensor is the tensor's memory, however it was
     * made; a heap segment, or one that reaches outside, is not.
     */
    boolean holds(MemorySegment s) {
        if (!s.isNative()) return false;
        long at = s.address() - base;
        return at >= 0 && at <= bytes && s.byteSize() <= bytes - at;
    }

    /**
     * The plan word's chunk field for a zero-copy all-reduce of the slice at {@code offset}:
     * bits 55..16 the offset, 15..0 the buffer index. Peers compare it, so a slice at another
     * offset, or of another buffer, is a mismatch detected before any peer memory is touched.
     */
    long plan(long offset) {
        return (offset << 16) | index;
    }

    /** Unlinks this rank's file if it still has a name, and unmaps every tensor; never throws. */
    void release() {
        if (ownFileLinked) {
            ownFileLinked = !SegmentFile.deleteQuietly(ownPath);
        }
        try {
            arena.close();
        } catch (RuntimeException ignored) {
            // Another thread inside an access of the tensor (a broken contract): the mapping then
            // lives until the process exits, which is harmless to peers.
        }
    }
}
