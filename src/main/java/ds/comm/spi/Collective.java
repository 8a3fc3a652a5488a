package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;

/**
 * What every backend implements: the collectives of one group of ranks.
 *
 * <p>Ranks are group-local ({@code 0 .. size()-1}). Arguments arrive validated by the public
 * API (sizes are multiples of the element size, segments are writable where written, counts
 * agree with the group size), so implementations only check what peers send them. Calls on one
 * instance are made by one thread at a time, in the same order on every rank. Every wait is
 * bounded by the group's {@link Settings#timeoutNanos()}; failures surface as
 * {@link CommFailure}. Point-to-point transfers ({@link PointToPoint}) are part of the contract.
 */
public interface Collective extends AutoCloseable, PointToPoint {

    /** This rank's index in the group. */
    int rank();

    /** Number of ranks in the group. */
    int size();

    /** In place: every rank's {@code buf} becomes the element-wise reduction over all ranks. */
    void allReduce(MemorySegment buf, ElementType type, Combiner op);

    /** {@code out} (size() x in.byteSize()) receives every rank's {@code in}, in rank order. */
    void allGather(MemorySegment in, MemorySegment out, ElementType type);

    /**
     * {@code in} holds size() blocks of {@code out.byteSize()} bytes; rank r's {@code out}
     * becomes the reduction over all ranks of their block r.
     */
    void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op);

    /** Every rank's {@code buf} receives the bytes of {@code root}'s. */
    void broadcast(MemorySegment buf, int root);

    /** Returns once every rank of the group has entered. */
    void barrier();

    /**
     * Turns on or off the accounting behind {@link #peerWaitNanos()}. Off (the default), waits
     * cost nothing extra; on, each wait that actually happens costs one clock read more. The
     * public API turns it on while a JFR recording takes collective events.
     */
    default void measureWaits(boolean on) {
    }

    /**
     * Nanoseconds this rank has spent waiting for peers in this group's calls while
     * {@link #measureWaits} was on, cumulative since open (callers take differences). What counts
     * as waiting is the backend's to say: SHM its step waits, the ring its stretches without
     * socket progress, MPI the whole time inside the library (which cannot tell waiting from
     * moving data), a composite the sum of its parts. A plain field: read by the calling thread.
     */
    default long peerWaitNanos() {
        return 0;
    }

    // ---- issue 18: all-to-all, gather, scatter, reduce (appended; see Communicator for the contracts)

    /**
     * {@code in} and {@code out} hold size() equal blocks of {@code in.byteSize() / size()} bytes:
     * block j of {@code in} goes to rank j, block i of {@code out} comes from rank i.
     */
    void allToAll(MemorySegment in, MemorySegment out, ElementType type);

    /**
     * Variable all-to-all. Counts are in elements of {@code type}; block j of {@code in} starts at
     * the prefix sum of {@code sendCounts[0..j)}, block i of {@code out} at the prefix sum of
     * {@code recvCounts[0..i)}. The public API checked lengths against the segments; the backend
     * checks that every rank's sendCounts[j] equals rank j's recvCounts[i] and fails with
     * {@link CommFailure.Kind#MISMATCH} on every rank that can see a difference.
     */
    void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type);

    /** {@code root}'s {@code out} (size() x in.byteSize()) receives every rank's {@code in}; other ranks' out is not touched. */
    void gather(MemorySegment in, MemorySegment out, int root);

    /** Rank r's {@code out} receives block r of {@code root}'s {@code in} (size() x out.byteSize()). */
    void scatter(MemorySegment in, MemorySegment out, int root);

    /** {@code root}'s {@code buf} becomes the reduction over all ranks; other ranks' buf is unchanged. */
    void reduce(MemorySegment buf, ElementType type, Combiner op, int root);

    /** Releases every resource; idempotent; never throws for peers that are gone. */
    @Override
    void close();
}
