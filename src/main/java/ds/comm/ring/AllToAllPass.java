package ds.comm.ring;

import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The pairwise all-to-all(v) of groups of 2 to {@link MeshLinks#MAX_RANKS} ranks: block q of
 * every rank's input goes straight to rank q, in one step, over the ring link for the right
 * neighbour and the direct links ({@link MeshLinks#armAllToAll}) for the others. For allToAllV the
 * blocks differ per pair (packed, at the prefix sums of the counts); the count matrix was checked
 * on every rank before ({@code Compositions.allToAllVCounts}), so each frame's length is known
 * on both sides and is checked like any other.
 *
 * <h2>Why not the composition</h2>
 * The composed all-to-all ({@code spi.Compositions}) runs rounds of one all-gather, so from 3
 * ranks on every rank receives every block of every rank, N-1 times what it needs, and each
 * piece is copied into and out of scratch: 3 ranks exchanging 1 MiB blocks measured 1.7-2.0x
 * Open MPI's TCP {@code MPI_Alltoall}. Here each rank sends N-1 blocks and receives N-1, each once,
 * from and into the caller's memory, all at once (one latency: with more ranks than cores every
 * step is a scheduler hand-over).
 *
 * <h2>Frames</h2>
 * The ring link carries block (r+1) mod N to the right neighbour and receives block (r-1) mod N
 * from the left one, in frames of at most a chunk (frames that small go through the pump's
 * staging buffer), as many as each block needs (at least one, so that an empty block still
 * carries the call's identity); each direct link carries its block as one frame. Every frame
 * carries the call's identity (kind, type, element count; allToAllV: its own kind and the
 * group size) and is compared field by field, so a rank that called another collective,
 * another size or another type is a mismatch on its neighbours, as in every ring call. Nothing
 * is reduced, so the result is the same bytes whatever the path.
 *
 * <h2>Memory</h2>
 * Input and output must be native (the caller mirrors heap buffers) and must not overlap:
 * nothing this rank receives is ever sent by it. The pass only keeps views of them, per
 * segment instance ({@link SegmentView}).
 */
final class AllToAllPass extends RingPass implements DirectSchedule {

    /** Views of the input (frames are sent from it); the output's are the inherited ones. */
    private final SegmentView inputSendView = new SegmentView();
    /** Per group rank q: where the block for q starts in the input, and its bytes. */
    private final long[] sendAt;
    private final long[] sendBytes;
    /** Per group rank q: where the block from q lands in the output, and its bytes. */
    private final long[] recvAt;
    private final long[] recvBytes;

    private MemorySegment in;
    private MemorySegment out;
    private int sendFrames;
    private int recvFrames;

    AllToAllPass(int size, int rank, long chunkBytes) {
        super(size, rank, chunkBytes);
        this.sendAt = new long[size];
        this.sendBytes = new long[size];
        this.recvAt = new long[size];
        this.recvBytes = new long[size];
    }

    /**
     * Arms an all-to-all of {@code n} blocks of {@code block} bytes (at most 2 GiB minus a header)
     * from {@code in} to {@code out}, both native, of at least {@code n * block} bytes each;
     * {@code count} elements of {@code type} in all is the call's identity.
     */
    void arm(MemorySegment in, MemorySegment out, ElementType type, long count, long block) {
        identify(FrameDescriptor.KIND_ALL_TO_ALL, type, null, count, 0);
        for (int q = 0; q < n; q++) {
            sendAt[q] = q * block;
            recvAt[q] = q * block;
            sendBytes[q] = block;
            recvBytes[q] = block;
        }
        bind(in, out);
    }

    /**
     * Arms an all-to-all-v: the block for rank q is {@code sendCounts[q]} elements of
     * {@code type} at the prefix sum of the counts before it, the block from rank q
     * {@code recvCounts[q]} elements likewise in {@code out} (both native; every pair at most
     * 2 GiB minus a header). The counts must have been checked across the group.
     */
    void armV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        identify(FrameDescriptor.KIND_ALL_TO_ALL_V, type, null, n, 0);
        int es = type.byteSize();
        long s = 0;
        long t = 0;
        for (int q = 0; q < n; q++) {
            sendAt[q] = s;
            recvAt[q] = t;
            sendBytes[q] = sendCounts[q] * es;
            recvBytes[q] = recvCounts[q] * es;
            s += sendBytes[q];
            t += recvBytes[q];
        }
        bind(in, out);
    }

    private void bind(MemorySegment in, MemorySegment out) {
        this.in = in;
        this.out = out;
        inputSendView.bind(in);
        bindOutput(out);
        sendFrames = frameCount(piecesAtLeastOne(sendBytes[right()], chunkBytes), "all-to-all block of ", sendBytes[right()],
                " bytes", chunkBytes);
        recvFrames = frameCount(piecesAtLeastOne(recvBytes[left()], chunkBytes), "all-to-all block of ", recvBytes[left()],
                " bytes", chunkBytes);
    }

    /** Bytes of the ring frame at {@code frame * chunk} of a block of {@code bytes}. */
    private int pieceBytes(long bytes, int frame) {
        return (int) Math.max(0, Math.min(chunkBytes, bytes - frame * chunkBytes));
    }

    private int right() {
        return (r + 1) % n;
    }

    private int left() {
        return mod(r - 1, n);
    }

    @Override
    int sendFrames() {
        return sendFrames;
    }

    @Override
    int recvFrames() {
        return recvFrames;
    }

    @Override
    boolean sendReady(int frame, int received) {
        return true;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        int q = right();
        int bytes = pieceBytes(sendBytes[q], frame);
        MemorySegment.copy(in, sendAt[q] + frame * chunkBytes, dst, dstOffset, bytes);
        return bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        int q = right();
        return inputSendView.available() ? inputSendView.slice(sendAt[q] + frame * chunkBytes, pieceBytes(sendBytes[q], frame))
                : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        int q = left();
        return outputRecvView.available() ? outputRecvView.slice(recvAt[q] + frame * chunkBytes, pieceBytes(recvBytes[q], frame))
                : null;
    }

    @Override
    int expectedPayload(int frame) {
        return pieceBytes(recvBytes[left()], frame);
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        MemorySegment.copy(src, 0, out, recvAt[left()] + frame * chunkBytes, length);
    }

    // The direct links' share: one frame per link, the block for rank q from the input, and from
    // rank q into its block of the output.

    @Override
    public int directFrames() {
        return 1;
    }

    @Override
    public MemorySegment directSource(int frame) {
        return in;
    }

    @Override
    public long directSourceOffset(int frame, int q) {
        return sendAt[q];
    }

    @Override
    public int directSendBytes(int frame, int q) {
        return (int) sendBytes[q];
    }

    @Override
    public MemorySegment directTarget(int frame) {
        return out;
    }

    @Override
    public long directTargetOffset(int frame, int q) {
        return recvAt[q];
    }

    @Override
    public int directRecvBytes(int frame, int q) {
        return (int) recvBytes[q];
    }

    @Override
    public boolean directMaySend(int frame) {
        return true;
    }

    @Override
    void forget() {
        in = null;
        out = null;
        inputSendView.forget();
        super.forget();
    }

    @Override
    String describe() {
        return (kind == FrameDescriptor.KIND_ALL_TO_ALL_V ? "allToAllV(" + ElementType.ofCode(dtype) + ")"
                : "allToAll(" + ElementType.ofCode(dtype) + "," + count + ")");
    }
}
