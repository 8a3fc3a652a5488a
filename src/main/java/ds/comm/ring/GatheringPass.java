package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Ring all-gather: in step {@code t = 0 .. N-2} rank r sends block {@code r-t} and receives
 * block {@code r-t-1} (mod N), each block cut into chunks of at most {@code chunkBytes}; chunk
 * k of step t is forwarded as soon as it arrived in step t-1.
 *
 * <p>Serves three collectives: allGather itself; the small-message all-reduce, which gathers
 * every rank's whole buffer and then reduces locally in rank order 0..N-1 (one latency-bound
 * pass instead of 2(N-1) steps, and the same accumulation order as the shared-memory backend);
 * and the barrier, an all-gather of empty blocks: the frame a rank receives in the last step
 * left rank r+1 only after that rank had received from every other one, so it proves that
 * every rank entered.
 */
final class GatheringPass extends BalancedPass {

    private final int n;
    private final int r;
    private final long chunkBytes;

    /** Separate views for sending and receiving: an in-flight send keeps its view's position. */
    private final SegmentView sendView = new SegmentView();
    private final SegmentView recvView = new SegmentView();
    private MemorySegment blocks;
    private long blockBytes;
    private int chunksPerStep;
    private ElementType type;
    private Combiner combiner;

    GatheringPass(int size, int rank, long chunkBytes) {
        this.n = size;
        this.r = rank;
        this.chunkBytes = chunkBytes;
    }

    /**
     * Arms a gather of {@code in} (may be null for the barrier) into {@code out}, which holds N
     * blocks of {@code in.byteSize()} bytes in rank order.
     */
    void arm(int frameKind, MemorySegment in, MemorySegment out, ElementType type, Combiner op, long elements) {
        identify(frameKind, type, op, elements, 0);
        this.type = type;
        combiner = op;
        blocks = out;
        sendView.bind(out);
        recvView.bind(out);
        blockBytes = in == null ? 0 : in.byteSize();
        if (blockBytes > 0) {
            MemorySegment.copy(in, 0, out, r * blockBytes, blockBytes);
        }
        long k = piecesAtLeastOne(blockBytes, chunkBytes);
        frames = frameCount(k * (n - 1), "block of ", blockBytes, " bytes", chunkBytes);
        chunksPerStep = (int) k;
    }

    @Override
    boolean sendReady(int frame, int received) {
        return frame < chunksPerStep || received > frame - chunksPerStep;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        int t = frame / chunksPerStep;
        long offset = (long) (frame - t * chunksPerStep) * chunkBytes;
        long bytes = chunkLength(offset);
        if (bytes > 0) {
            MemorySegment.copy(blocks, mod(r - t, n) * blockBytes + offset, dst, dstOffset, bytes);
        }
        return (int) bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        if (!sendView.available()) {
            return null;
        }
        int t = frame / chunksPerStep;
        long offset = (long) (frame - t * chunksPerStep) * chunkBytes;
        return sendView.slice(mod(r - t, n) * blockBytes + offset, chunkLength(offset));
    }

    @Override
    ByteBuffer recvView(int frame) {
        if (!recvView.available()) {
            return null;
        }
        int t = frame / chunksPerStep;
        long offset = (long) (frame - t * chunksPerStep) * chunkBytes;
        return recvView.slice(mod(r - t - 1, n) * blockBytes + offset, chunkLength(offset));
    }

    @Override
    int expectedPayload(int frame) {
        int t = frame / chunksPerStep;
        return (int) chunkLength((long) (frame - t * chunksPerStep) * chunkBytes);
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        int t = frame / chunksPerStep;
        long offset = (long) (frame - t * chunksPerStep) * chunkBytes;
        if (length > 0) {
            MemorySegment.copy(src, 0, blocks, mod(r - t - 1, n) * blockBytes + offset, length);
        }
    }

    @Override
    void forget() {
        blocks = null;
        sendView.forget();
        recvView.forget();
    }

    @Override
    String describe() {
        return switch (kind) {
            case FrameDescriptor.KIND_BARRIER -> "barrier";
            case FrameDescriptor.KIND_ALL_GATHER -> "allGather(" + type + "," + count + ")";
            default -> "allReduce(" + type + "," + combiner + "," + count + ")";
        };
    }

    private long chunkLength(long offset) {
        return Math.max(0, Math.min(chunkBytes, blockBytes - offset));
    }
}
