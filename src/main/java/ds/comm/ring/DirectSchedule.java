package ds.comm.ring;

import java.lang.foreign.MemorySegment;

/**
 * What the direct links of a group ({@link MeshLinks}) carry in a call whose frames differ per
 * link: on every link a fixed number of frames, each cut from native memory the sender owns and
 * landing in native memory the receiver owns, with no staging copy (payloads under
 * {@link FramePump#DIRECT_SEND_MIN_BYTES} excepted: they are copied behind their header, so that a
 * frame is one write). Implemented
 * by the exchange all-reduce ({@link ExchangePass}: a segment to its owner, then the owner's
 * reduced segment back) and the pairwise all-to-all ({@link AllToAllPass}: block q to rank q).
 *
 * <p>Frame {@code f} to group rank {@code q} carries {@link #directSendBytes}{@code (f, q)} bytes of
 * {@link #directSource}{@code (f)} from {@link #directSourceOffset}{@code (f, q)}; frame
 * {@code f} from rank {@code q} must carry exactly {@link #directRecvBytes}{@code (f, q)} bytes
 * (checked before a byte of payload is stored) and lands in {@link #directTarget}{@code (f)} at
 * {@link #directTargetOffset}{@code (f, q)}. Frames of one link go in order; frame {@code f} is
 * written only once {@link #directMaySend}{@code (f)}.
 */
interface DirectSchedule {

    /** Frames every direct link carries in the armed call, each way (1 or 2). */
    int directFrames();

    /** Native memory the payload of frame {@code frame} is written from. */
    MemorySegment directSource(int frame);

    /** Offset in {@link #directSource} of frame {@code frame} to group rank {@code q}. */
    long directSourceOffset(int frame, int q);

    /** Payload bytes of frame {@code frame} to group rank {@code q}. */
    int directSendBytes(int frame, int q);

    /** Native memory the payload of frame {@code frame} is read into. */
    MemorySegment directTarget(int frame);

    /** Offset in {@link #directTarget} of frame {@code frame} from group rank {@code q}. */
    long directTargetOffset(int frame, int q);

    /** Payload bytes frame {@code frame} from group rank {@code q} must carry. */
    int directRecvBytes(int frame, int q);

    /** Whether frame {@code frame} may be written now (its payload is final). */
    boolean directMaySend(int frame);
}
