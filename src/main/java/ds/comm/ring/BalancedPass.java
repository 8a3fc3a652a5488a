package ds.comm.ring;

/**
 * A pass in which every rank sends as many frames as it receives: each step of the ring moves
 * one piece from every rank to its right neighbour (the reducing and the gathering passes; a
 * broadcast is not balanced, its root only sends and its last rank only receives).
 */
abstract class BalancedPass extends RingPass {

    /** Frames sent, and frames received, by this rank in the current call; set when armed. */
    int frames;

    BalancedPass(int size, int rank, long chunkBytes) {
        super(size, rank, chunkBytes);
    }

    @Override
    final int sendFrames() {
        return frames;
    }

    @Override
    final int recvFrames() {
        return frames;
    }
}
