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
 * and the barrier of groups without direct links (2 ranks, 3, more than 8), an all-gather of
 * empty blocks: the frame a rank receives in the last step left rank r+1 only after that rank
 * had received from every other one, so it proves that every rank entered. (With direct links,
 * its first step is the dissemination barrier's round 0.)
 */
final class GatheringPass extends BalancedPass {

    private MemorySegment blocks;
    private long blockBytes;
    private int chunksPerStep;

    GatheringPass(int size, int rank, long chunkBytes) {
        super(size, rank, chunkBytes);
    }

    /**
     * Arms a gather of {@code in} (may be null for the barrier) into {@code out}, which holds N
     * blocks of {@code in.byteSize()} bytes in rank order.
     */
    void arm(int frameKind, MemorySegment in, MemorySegment out, ElementType type, Combiner op, long elements) {
        arm(frameKind, in, out, type, op, elements, n - 1);
    }

    /**
     * As {@link #arm(int, MemorySegment, MemorySegment, ElementType, Combiner, long)}, for the
     * first {@code steps} steps only: with 1, this rank's block goes to the right neighbour and
     * the left neighbour's arrives, the ring's share of the direct all-reduce ({@link MeshLinks}).
     */
    void arm(int frameKind, MemorySegment in, MemorySegment out, ElementType type, Combiner op, long elements,
             int steps) {
        identify(frameKind, type, op, elements, 0);
        blocks = out;
        bindOutput(out);
        blockBytes = in == null ? 0 : in.byteSize();
        if (blockBytes > 0) {
            MemorySegment.copy(in, 0, out, r * blockBytes, blockBytes);
        }
        long k = piecesAtLeastOne(blockBytes, chunkBytes);
        frames = frameCount(k * steps, "block of ", blockBytes, " bytes", chunkBytes);
        chunksPerStep = (int) k;
    }

    @Override
    boolean sendReady(int frame, int received) {
        return frame < chunksPerStep || received > frame - chunksPerStep;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        long bytes = chunkLength(chunkOffset(frame));
        if (bytes > 0) {
            MemorySegment.copy(blocks, blockOffset(frame, 0), dst, dstOffset, bytes);
        }
        return (int) bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        return outputSendView.available() ? outputSendView.slice(blockOffset(frame, 0), chunkLength(chunkOffset(frame))) : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        return outputRecvView.available() ? outputRecvView.slice(blockOffset(frame, 1), chunkLength(chunkOffset(frame))) : null;
    }

    @Override
    int expectedPayload(int frame) {
        return (int) chunkLength(chunkOffset(frame));
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        if (length > 0) {
            MemorySegment.copy(src, 0, blocks, blockOffset(frame, 1), length);
        }
    }

    @Override
    void forget() {
        blocks = null;
        super.forget();
    }

    /** The header identity names type and op (it is what peers compare), so it serves here too. */
    @Override
    String describe() {
        return switch (kind) {
            case FrameDescriptor.KIND_BARRIER -> "barrier";
            case FrameDescriptor.KIND_ALL_GATHER -> "allGather(" + ElementType.ofCode(dtype) + "," + count + ")";
            default -> "allReduce(" + ElementType.ofCode(dtype) + "," + Combiner.ofCode(op) + "," + count + ")";
        };
    }

    /** Offset of frame {@code frame}'s chunk within its block: frames go step by step, chunk by chunk. */
    private long chunkOffset(int frame) {
        return (long) (frame % chunksPerStep) * chunkBytes;
    }

    /**
     * Offset in {@code blocks} of frame {@code frame}'s chunk: in step t a rank sends block
     * {@code r-t} ({@code behind} 0) and receives block {@code r-t-1} ({@code behind} 1).
     */
    private long blockOffset(int frame, int behind) {
        return mod(r - frame / chunksPerStep - behind, n) * blockBytes + chunkOffset(frame);
    }

    private long chunkLength(long offset) {
        return Math.max(0, Math.min(chunkBytes, blockBytes - offset));
    }
}
