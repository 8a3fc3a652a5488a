package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The schedule of one collective as two frame streams: frames this rank sends to its right
 * neighbour and frames it receives from its left neighbour, both numbered from 0.
 *
 * <p>A pass only says what each frame holds and when it may be sent; {@link FramePump} moves
 * the bytes. Receiving never waits for anything but the bytes themselves (a received frame is
 * consumed at once into memory the pass owns), which is what keeps a ring of passes free of
 * deadlock however full the socket buffers get: every rank always drains its left neighbour.
 *
 * <p>Instances are created once per collective object and re-armed by each call with plain
 * field writes, so that a call allocates nothing.
 */
abstract class RingPass {

    /** Ranks in the ring. */
    final int n;
    /** This rank's place in the ring. */
    final int r;
    /** Most payload bytes per frame. */
    final long chunkBytes;
    /**
     * Views of the call's output memory, which frames are both received into and forwarded from:
     * separate for sending and receiving, since an in-flight send keeps its view's position.
     */
    final SegmentView outputSendView = new SegmentView();
    final SegmentView outputRecvView = new SegmentView();

    /** Header identity of the current call; compared field by field with every received header. */
    int kind;
    int dtype;
    int op;
    long count;
    int aux;

    RingPass(int size, int rank, long chunkBytes) {
        this.n = size;
        this.r = rank;
        this.chunkBytes = chunkBytes;
    }

    /**
     * Sets the header identity of the call being armed; {@code type} and {@code combiner} may be
     * null (barrier, broadcast: {@link FrameDescriptor#NONE}).
     */
    final void identify(int frameKind, ElementType type, Combiner combiner, long headerCount, int auxiliary) {
        kind = frameKind;
        dtype = type == null ? FrameDescriptor.NONE : type.code();
        op = combiner == null ? FrameDescriptor.NONE : combiner.code();
        count = headerCount;
        aux = auxiliary;
    }

    /** Number of frames this rank sends in the current call. */
    abstract int sendFrames();

    /** Number of frames this rank receives in the current call. */
    abstract int recvFrames();

    /** Whether send frame {@code frame} can be built now that {@code received} frames were consumed. */
    abstract boolean sendReady(int frame, int received);

    /** Writes the payload of send frame {@code frame} at {@code dst[dstOffset]}; returns its length in bytes. */
    abstract int stage(int frame, MemorySegment dst, long dstOffset);

    /**
     * The memory the payload of send frame {@code frame} can be written from directly, positioned
     * and limited to it, or null to have it {@link #stage staged}. The memory must stay unchanged
     * until the frame is written; the schedules guarantee it (a frame that overwrites it can only
     * arrive after this rank's send completed, see {@link ReducingPass}).
     */
    ByteBuffer sendView(int frame) {
        return null;
    }

    /**
     * The memory the payload of receive frame {@code frame} can be read into directly, positioned
     * and limited to exactly its expected length, or null to receive it into the staging buffer
     * and {@link #consume} it. Only for frames whose consumption would be a plain copy.
     */
    ByteBuffer recvView(int frame) {
        return null;
    }

    /** Exact payload length receive frame {@code frame} must carry. */
    abstract int expectedPayload(int frame);

    /** Consumes the {@code length} payload bytes of receive frame {@code frame} at the start of {@code src}. */
    abstract void consume(int frame, MemorySegment src, int length);

    /** Points both output views at {@code out}, the call's output memory. */
    final void bindOutput(MemorySegment out) {
        outputSendView.bind(out);
        outputRecvView.bind(out);
    }

    /**
     * Drops every reference to caller memory (segments, views); called when the collective closes.
     * Passes that hold more drop it and call this.
     */
    void forget() {
        outputSendView.forget();
        outputRecvView.forget();
    }

    /** The call for failure messages, e.g. "allReduce(FP32,SUM,4096)". Only called on failure. */
    abstract String describe();

    /** {@code a mod n} for a possibly negative {@code a}. */
    static int mod(int a, int n) {
        int m = a % n;
        return m < 0 ? m + n : m;
    }

    /**
     * {@code total} frames as an int, the type every frame counter has; a call that would need
     * more is refused before anything is sent.
     *
     * <p>The message is assembled only when it is thrown ({@code what + amount + unit}, e.g.
     * "block of " 4096 " bytes"): arming a call allocates nothing.
     */
    static int frameCount(long total, String what, long amount, String unit, long chunkBytes) {
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + amount + unit + " needs " + total + " frames of " + chunkBytes
                    + " bytes; raise the chunk size");
        }
        return (int) total;
    }

    /** Number of {@code chunk}-sized pieces of {@code total}, at least 1 so that every step sends a frame. */
    static long piecesAtLeastOne(long total, long chunk) {
        return Math.max(1, (total + chunk - 1) / chunk);
    }
}
