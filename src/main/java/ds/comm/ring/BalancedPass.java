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

    /**
     * First element of segment q when {@code base * N + extra} elements are split into N
     * segments whose sizes differ by at most one, the first {@code extra} one larger: the split
     * of the ring's reduce-scatter and of the exchange alike.
     */
    static long segmentStart(int q, long base, long extra) {
        return q * base + Math.min(q, extra);
    }

    /** Elements of segment q of that split. */
    static long segmentLength(int q, long base, long extra) {
        return base + (q < extra ? 1 : 0);
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
