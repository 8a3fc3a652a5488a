package ds.comm.ring;

import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The pairwise all-to-all of groups of 2 to {@link MeshLinks#MAX_RANKS} ranks: block q of every
 * rank's input goes straight to rank q, in one step, over the ring link for the right neighbour
 * and the direct links ({@link MeshLinks#armAllToAll}) for the others.
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
 * staging buffer); each direct link carries its block as one frame. Every frame carries the
 * call's identity (kind, type, element count) and is compared field by field, so a rank that
 * called another collective, another size or another type is a mismatch on its neighbours, as
 * in every ring call. Nothing is reduced, so the result is the same bytes whatever the path.
 *
 * <h2>Memory</h2>
 * Input and output must be native (the caller mirrors heap buffers) and must not overlap:
 * nothing this rank receives is ever sent by it. The pass only keeps views of them, per
 * segment instance ({@link SegmentView}).
 */
final class AllToAllPass extends BalancedPass implements DirectSchedule {

    /** Views of the input (frames are sent from it); the output's are the inherited ones. */
    private final SegmentView inputSendView = new SegmentView();

    private MemorySegment in;
    private MemorySegment out;
    private long block;

    AllToAllPass(int size, int rank, long chunkBytes) {
        super(size, rank, chunkBytes);
    }

    /**
     * Arms an all-to-all of {@code n} blocks of {@code block} bytes (at most 2 GiB minus a header)
     * from {@code in} to {@code out}, both native, of at least {@code n * block} bytes each;
     * {@code count} elements of {@code type} in all is the call's identity.
     */
    void arm(MemorySegment in, MemorySegment out, ElementType type, long count, long block) {
        identify(FrameDescriptor.KIND_ALL_TO_ALL, type, null, count, 0);
        this.in = in;
        this.out = out;
        this.block = block;
        inputSendView.bind(in);
        bindOutput(out);
        frames = frameCount(piecesAtLeastOne(block, chunkBytes), "all-to-all block of ", block, " bytes", chunkBytes);
    }

    /** Bytes of ring frame {@code frame}: the piece of the block at {@code frame * chunk}. */
    private int pieceBytes(int frame) {
        return (int) Math.max(0, Math.min(chunkBytes, block - frame * chunkBytes));
    }

    private int right() {
        return (r + 1) % n;
    }

    private int left() {
        return mod(r - 1, n);
    }

    @Override
    boolean sendReady(int frame, int received) {
        return true;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        int bytes = pieceBytes(frame);
        MemorySegment.copy(in, right() * block + frame * chunkBytes, dst, dstOffset, bytes);
        return bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        return inputSendView.available() ? inputSendView.slice(right() * block + frame * chunkBytes, pieceBytes(frame)) : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        return outputRecvView.available() ? outputRecvView.slice(left() * block + frame * chunkBytes, pieceBytes(frame)) : null;
    }

    @Override
    int expectedPayload(int frame) {
        return pieceBytes(frame);
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        MemorySegment.copy(src, 0, out, left() * block + frame * chunkBytes, length);
    }

    // The direct links' share: one frame per link, block q of the input to rank q, and from rank
    // q into block q of the output.

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
        return q * block;
    }

    @Override
    public int directSendBytes(int frame, int q) {
        return (int) block;
    }

    @Override
    public MemorySegment directTarget(int frame) {
        return out;
    }

    @Override
    public long directTargetOffset(int frame, int q) {
        return q * block;
    }

    @Override
    public int directRecvBytes(int frame, int q) {
        return (int) block;
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
        return "allToAll(" + ElementType.ofCode(dtype) + "," + count + ")";
    }
}
