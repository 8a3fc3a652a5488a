package ds.comm.ring;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * A {@link ByteBuffer} view of a native {@link MemorySegment}, so that frames can be written
 * from and read into tensor memory directly instead of through a staging copy.
 *
 * <p>Creating a view allocates, so the views of the last {@link #CACHED} segments are kept and
 * reused while callers pass the same segment instances (the usual case: a handful of persistent
 * tensor buffers); a new instance per call costs one small view object per call. The cache
 * holds references to those segments until they are displaced. Heap segments and segments over
 * 2 GiB get no view: their frames go through the staging buffer.
 */
final class SegmentView {

    /**
     * Segments whose views are kept: a pass typically alternates among two or three of a
     * program's tensors, and the all-gather pass also among the compositions' scratch ranges
     * (all-to-all(v), gather: up to four), which with four slots displaced each other and cost a
     * view per call.
     */
    static final int CACHED = 8;

    private final MemorySegment[] segments = new MemorySegment[CACHED];
    private final ByteBuffer[] views = new ByteBuffer[CACHED];
    private int nextVictim;
    private ByteBuffer view;

    /** Points this view at {@code s} (may be null); returns false when {@code s} cannot be viewed directly. */
    boolean bind(MemorySegment s) {
        view = null;
        if (s == null || !s.isNative() || s.byteSize() > Integer.MAX_VALUE) {
            return false;
        }
        for (int i = 0; i < CACHED; i++) {
            if (segments[i] == s) {
                view = views[i];
                return true;
            }
        }
        segments[nextVictim] = s;
        views[nextVictim] = s.asByteBuffer();
        view = views[nextVictim];
        nextVictim = (nextVictim + 1) % CACHED;
        return true;
    }

    /** Drops every cached segment and view, so that the caller's memory is no longer reachable from here. */
    void forget() {
        java.util.Arrays.fill(segments, null);
        java.util.Arrays.fill(views, null);
        view = null;
    }

    /** Whether the bound segment has a view. */
    boolean available() {
        return view != null;
    }

    /** The view, positioned at {@code offset} and limited to {@code length} bytes; requires {@link #available()}. */
    ByteBuffer slice(long offset, long length) {
        view.clear();
        if (length == 0) {
            // An empty chunk past a short segment's end may start beyond the segment.
            return view.limit(0);
        }
        view.position((int) offset).limit((int) (offset + length));
        return view;
    }
}
