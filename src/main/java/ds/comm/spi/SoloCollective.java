package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;

/**
 * The backend of a one-rank group: an all-reduce is the identity, a gather or scatter a copy.
 * In {@code spi} so that every level that can shrink to one rank (the policy's LOCAL groups,
 * HIER's node and leader levels, and their tests) uses this one.
 */
public final class SoloCollective implements Collective {

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
        // The reduction over one rank is its own input.
    }

    @Override
    public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
        MemorySegment.copy(in, 0, out, 0, in.byteSize());
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        MemorySegment.copy(in, 0, out, 0, out.byteSize());
    }

    @Override
    public void broadcast(MemorySegment buf, int root) {
        // The root is this rank.
    }

    @Override
    public void barrier() {
        // Nobody to wait for.
    }

    /** A group of one has no peer; the public API refuses {@code peer == rank()} before it gets here. */
    @Override
    public void send(MemorySegment buf, int peer) {
        throw new IllegalArgumentException("a group of one has no peer to send to (peer " + peer + ")");
    }

    /** A group of one has no peer; the public API refuses {@code peer == rank()} before it gets here. */
    @Override
    public void recv(MemorySegment buf, int peer) {
        throw new IllegalArgumentException("a group of one has no peer to receive from (peer " + peer + ")");
    }

    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        MemorySegment.copy(in, 0, out, 0, in.byteSize());
    }

    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        if (sendCounts[0] != recvCounts[0]) {
            // The public API reports this as a mismatch, like any group would.
            throw new CommFailure(CommFailure.Kind.MISMATCH, 0, "solo", "allToAllV",
                    "rank 0 sends itself " + sendCounts[0] + " elements but receives " + recvCounts[0], null);
        }
        MemorySegment.copy(in, 0, out, 0, sendCounts[0] * type.byteSize());
    }

    @Override
    public void gather(MemorySegment in, MemorySegment out, int root) {
        MemorySegment.copy(in, 0, out, 0, in.byteSize());
    }

    @Override
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        MemorySegment.copy(in, 0, out, 0, out.byteSize());
    }

    @Override
    public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        // The reduction over one rank is its own input.
    }

    @Override
    public void close() {
        // Nothing held.
    }
}
