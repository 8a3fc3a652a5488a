package ds.comm.ring;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Pipelined chain broadcast: the root sends its buffer in chunks of at most
 * {@code chunkBytes} to its right neighbour, every rank forwards each chunk as soon as it
 * arrived, and the root's left neighbour ends the chain. With K chunks the last rank has the
 * data after N-2+K chunk times instead of (N-1)K.
 */
final class BroadcastPass extends RingPass {

    private MemorySegment buffer;
    private long bytes;
    private int chunks;
    /** Distance from the root along the ring: 0 = root, N-1 = end of the chain. */
    private int position;

    BroadcastPass(int size, int rank, long chunkBytes) {
        super(size, rank, chunkBytes);
    }

    void arm(MemorySegment buf, int root) {
        identify(FrameDescriptor.KIND_BROADCAST, null, null, buf.byteSize(), root);
        buffer = buf;
        bindOutput(buf);
        bytes = buf.byteSize();
        chunks = frameCount(piecesAtLeastOne(bytes, chunkBytes), "broadcast of ", bytes, " bytes", chunkBytes);
        position = mod(r - root, n);
    }

    @Override
    int sendFrames() {
        return position < n - 1 ? chunks : 0;
    }

    @Override
    int recvFrames() {
        return position > 0 ? chunks : 0;
    }

    @Override
    boolean sendReady(int frame, int received) {
        return position == 0 || received > frame;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        long offset = frame * chunkBytes;
        long length = chunkLength(offset);
        if (length > 0) {
            MemorySegment.copy(buffer, offset, dst, dstOffset, length);
        }
        return (int) length;
    }

    @Override
    ByteBuffer sendView(int frame) {
        return outputSendView.available() ? outputSendView.slice(frame * chunkBytes, chunkLength(frame * chunkBytes)) : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        return outputRecvView.available() ? outputRecvView.slice(frame * chunkBytes, chunkLength(frame * chunkBytes)) : null;
    }

    @Override
    int expectedPayload(int frame) {
        return (int) chunkLength(frame * chunkBytes);
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        if (length > 0) {
            MemorySegment.copy(src, 0, buffer, frame * chunkBytes, length);
        }
    }

    @Override
    void forget() {
        buffer = null;
        super.forget();
    }

    @Override
    String describe() {
        return "broadcast(" + bytes + " bytes, root " + aux + ")";
    }

    private long chunkLength(long offset) {
        return Math.max(0, Math.min(chunkBytes, bytes - offset));
    }
}
