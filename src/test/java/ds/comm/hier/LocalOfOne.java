package ds.comm.hier;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.Collective;

import java.lang.foreign.MemorySegment;

/** A node level of one member in tests (production uses the API's own local collective): copies or nothing. */
final class LocalOfOne implements Collective {

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
    }

    @Override
    public void barrier() {
    }

    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        MemorySegment.copy(in, 0, out, 0, in.byteSize());
    }

    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
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
    }

    @Override
    public void close() {
    }

    @Override
    public void send(MemorySegment buf, int peer) {
        throw new IllegalArgumentException("a group of one has no peer " + peer);
    }

    @Override
    public void recv(MemorySegment buf, int peer) {
        throw new IllegalArgumentException("a group of one has no peer " + peer);
    }
}
