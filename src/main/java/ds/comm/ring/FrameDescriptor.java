package ds.comm.ring;

import ds.comm.spi.CommFailure;

import java.nio.ByteBuffer;

/**
 * Layout of the header in front of every data frame a rank sends to its right neighbour.
 *
 * <p>The header is big-endian (network order) so that a dump reads the same on every
 * platform; the payload that follows is tensor data in the platform's native order, copied
 * byte for byte (ring peers of one job share an architecture, and converting would cost a pass
 * over every byte).
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                      magic 0x44535246 "DSRF"                  |  0
 *  +---------------+---------------+---------------+---------------+
 *  |     kind      |    dtype      |      op       |    flags      |  4
 *  +---------------+---------------+---------------+---------------+
 *  |              sequence number of the call on this group        |  8
 *  +---------------------------------------------------------------+
 *  |              frame index within the call (0, 1, ...)          | 12
 *  +---------------------------------------------------------------+
 *  |                                                               | 16
 *  +         element count of the call (bytes for broadcast)       +
 *  |                                                               | 20
 *  +---------------------------------------------------------------+
 *  |                  payload length in bytes                      | 24
 *  +---------------------------------------------------------------+
 *  |        aux: broadcast root / abort culprit world rank         | 28
 *  +---------------------------------------------------------------+
 *  |          payload (native byte order), "payload length" bytes  | 32
 *  |                              ...                              |
 * </pre>
 *
 * <p>{@code kind}, {@code dtype}, {@code op}, {@code sequence}, {@code count} and {@code aux}
 * identify the collective: a receiver compares them with its own call and reports a
 * {@link CommFailure.Kind#MISMATCH} naming the field that differs. {@code frame index} and
 * {@code payload length} are fully determined by those fields, so they only differ when a peer
 * is broken or hostile; the payload length is checked before a single payload byte is stored
 * (a receiver reads a small payload together with its header, but never more bytes than the
 * header plus the payload its own call expects), so no frame can make the receiver allocate or
 * write out of bounds.
 *
 * <p>An {@link #KIND_ABORT abort frame} tells the right neighbour that this rank failed:
 * {@code flags} holds the failure kind, {@code aux} the world rank to blame (or -1), the payload
 * (at most {@link FramePump#MAX_ABORT_DETAIL} bytes, printable ASCII) the failure message. It
 * is only ever sent at a frame boundary, so it travels around the ring and every surviving rank
 * names the same culprit.
 */
final class FrameDescriptor {

    /** "DSRF": DS-comm Ring Frame. A wrong magic means the stream lost frame alignment. */
    static final int MAGIC = 0x44535246;

    static final int MAGIC_OFFSET = 0;
    static final int KIND_OFFSET = 4;
    static final int DTYPE_OFFSET = 5;
    static final int OP_OFFSET = 6;
    static final int FLAGS_OFFSET = 7;
    static final int SEQUENCE_OFFSET = 8;
    static final int FRAME_INDEX_OFFSET = 12;
    static final int COUNT_OFFSET = 16;
    static final int PAYLOAD_LENGTH_OFFSET = 24;
    static final int AUX_OFFSET = 28;
    /** Bytes of the header; the payload starts here. */
    static final int HEADER_LENGTH = 32;

    /** All-reduce by ring reduce-scatter + ring all-gather (large messages). */
    static final int KIND_ALL_REDUCE_RING = 1;
    /** All-reduce by ring all-gather of whole buffers, then a local rank-order reduction. */
    static final int KIND_ALL_REDUCE_GATHER = 2;
    static final int KIND_ALL_GATHER = 3;
    static final int KIND_REDUCE_SCATTER = 4;
    static final int KIND_BROADCAST = 5;
    static final int KIND_BARRIER = 6;
    /**
     * All-reduce of 3 to 8 ranks by direct exchange of whole buffers ({@link MeshLinks}), then a
     * local rank-order reduction; the ring frame to the right neighbour is one of them.
     */
    static final int KIND_ALL_REDUCE_DIRECT = 7;
    /**
     * All-reduce of 3 to 8 ranks by direct reduce-scatter then direct all-gather of segments
     * ({@link ExchangePass}, {@link MeshLinks#armExchange}): frame 0 on a link carries the
     * receiver's segment of the sender's buffer, frame 1 the sender's reduced segment.
     */
    static final int KIND_ALL_REDUCE_EXCHANGE = 8;
    /**
     * All-to-all of 2 to 8 ranks, pairwise ({@link AllToAllPass}): a frame from rank i to rank j
     * carries (a piece of) block j of rank i's input; count is the input's elements.
     */
    static final int KIND_ALL_TO_ALL = 9;
    /**
     * All-to-all-v of 2 to 8 ranks, pairwise ({@link AllToAllPass#armV}): as {@link #KIND_ALL_TO_ALL}
     * with blocks of the (already checked) counts; count is the group size.
     */
    static final int KIND_ALL_TO_ALL_V = 10;
    /** A rank failed; see the class comment. */
    static final int KIND_ABORT = 0x7F;

    /** dtype/op code of frames that carry raw bytes or nothing. */
    static final int NONE = 0;

    private FrameDescriptor() {
    }

    /** Human name of a kind code, for failure messages. */
    static String kindName(int kind) {
        return switch (kind) {
            case KIND_ALL_REDUCE_RING -> "allReduce(ring)";
            case KIND_ALL_REDUCE_GATHER -> "allReduce(small)";
            case KIND_ALL_GATHER -> "allGather";
            case KIND_REDUCE_SCATTER -> "reduceScatter";
            case KIND_BROADCAST -> "broadcast";
            case KIND_BARRIER -> "barrier";
            case KIND_ALL_REDUCE_DIRECT -> "allReduce(direct)";
            case KIND_ALL_REDUCE_EXCHANGE -> "allReduce(exchange)";
            case KIND_ALL_TO_ALL -> "allToAll(pairwise)";
            case KIND_ALL_TO_ALL_V -> "allToAllV(pairwise)";
            case KIND_ABORT -> "abort";
            default -> "unknown kind " + kind;
        };
    }

    /** Writes a complete header at absolute positions of a big-endian buffer. */
    static void encode(ByteBuffer header, int base, int kind, int dtype, int op, int flags, int sequence,
                       int frameIndex, long count, int payloadLength, int aux) {
        header.putInt(base + MAGIC_OFFSET, MAGIC);
        header.put(base + KIND_OFFSET, (byte) kind);
        header.put(base + DTYPE_OFFSET, (byte) dtype);
        header.put(base + OP_OFFSET, (byte) op);
        header.put(base + FLAGS_OFFSET, (byte) flags);
        header.putInt(base + SEQUENCE_OFFSET, sequence);
        header.putInt(base + FRAME_INDEX_OFFSET, frameIndex);
        header.putLong(base + COUNT_OFFSET, count);
        header.putInt(base + PAYLOAD_LENGTH_OFFSET, payloadLength);
        header.putInt(base + AUX_OFFSET, aux);
    }

    static int magic(ByteBuffer header) {
        return header.getInt(MAGIC_OFFSET);
    }

    static int kind(ByteBuffer header) {
        return header.get(KIND_OFFSET) & 0xFF;
    }

    static int dtype(ByteBuffer header) {
        return header.get(DTYPE_OFFSET) & 0xFF;
    }

    static int op(ByteBuffer header) {
        return header.get(OP_OFFSET) & 0xFF;
    }

    static int flags(ByteBuffer header) {
        return header.get(FLAGS_OFFSET) & 0xFF;
    }

    static int sequence(ByteBuffer header) {
        return header.getInt(SEQUENCE_OFFSET);
    }

    static int frameIndex(ByteBuffer header) {
        return header.getInt(FRAME_INDEX_OFFSET);
    }

    static long count(ByteBuffer header) {
        return header.getLong(COUNT_OFFSET);
    }

    /** Unsigned payload length; callers compare it with what they expect before using it. */
    static long payloadLength(ByteBuffer header) {
        return Integer.toUnsignedLong(header.getInt(PAYLOAD_LENGTH_OFFSET));
    }

    static int aux(ByteBuffer header) {
        return header.getInt(AUX_OFFSET);
    }
}
