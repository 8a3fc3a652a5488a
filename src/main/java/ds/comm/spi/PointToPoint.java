package ds.comm.spi;

import java.lang.foreign.MemorySegment;

/**
 * Point-to-point transfers between two ranks of one group, next to its collectives: what
 * pipeline stages use to hand activations on.
 *
 * <p>Ranks are group-local. Messages from one sender to one receiver are matched in the order
 * they were sent; pairs are independent of each other and of the collectives. A send is
 * <b>synchronous</b>: it returns once the receiver has taken the whole message (like
 * {@code MPI_Ssend}), so a send to a rank that never receives fails within the group's timeout
 * instead of returning into a message nobody will read. Arguments arrive validated by the public
 * API ({@code peer != rank()}, in range, {@code recv}'s buffer writable); implementations check
 * what the peer tells them: a receive buffer whose size differs from the sent size is a
 * {@link CommFailure.Kind#MISMATCH} on <em>both</em> sides, naming both ranks. Calls on one
 * instance are made by one thread at a time, like the collectives; every wait is bounded by
 * {@link Settings#timeoutNanos()}.
 */
public interface PointToPoint {

    /** Sends {@code buf}'s bytes to group rank {@code peer}; returns once {@code peer} received them all. */
    void send(MemorySegment buf, int peer);

    /** Receives the next message from group rank {@code peer} into {@code buf}, whose size must equal the sent size. */
    void recv(MemorySegment buf, int peer);

    /** The operation as failure messages name it, e.g. {@code send(4096 bytes, group rank 0 -> 1)}. */
    static String describe(boolean send, long bytes, int sender, int receiver) {
        return (send ? "send(" : "recv(") + bytes + " bytes, group rank " + sender + " -> " + receiver + ")";
    }
}
