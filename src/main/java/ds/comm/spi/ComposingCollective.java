package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;

/**
 * The skeleton of a backend that has no schedules of its own for all-to-all(v), gather, scatter
 * and reduce (the socket ring, the hierarchical composite): it gets them composed from its own
 * allGather, broadcast and allReduce ({@link Compositions}), each inside one call of the backend
 * ({@link #beginCall}/{@link #endCall}), with the compositions' own failures recorded like any
 * other. A backend with a schedule of its own for the all-to-all(v) in some cases (the ring's
 * pairwise one for groups of up to 8 ranks, the hierarchical composite's two-level one) overrides {@link #allToAll} or {@link #allToAllV}
 * and calls these for the rest (for allToAllV after the count step,
 * {@link Compositions#allToAllVCounts}, whose result is the same on every rank); which path a
 * call takes must depend on nothing that may differ between ranks.
 */
public abstract class ComposingCollective extends BackendCollective {

    private final Compositions composed;

    /**
     * @param backend the backend's short name ("ring", "hier")
     * @param group   the group; failures of the composed collectives name world ranks through it
     */
    protected ComposingCollective(String backend, GroupSpec group) {
        super(backend, group.name(), group.myIndex(), group.size());
        this.composed = new Compositions(this, group.name(), group::worldRank);
    }

    /**
     * Opens a composed call: refuses it unless this collective is usable. A backend that tracks
     * its calls in progress (to free memory only when none runs) overrides both ends; the
     * composition's passes then run as nested calls of its own.
     */
    protected void beginCall(String operation) {
        checkUsable(operation);
    }

    /** Closes the call {@link #beginCall} opened, whatever happened in it. */
    protected void endCall() {
    }

    /** The composed all-to-all; see the class comment for overriding it. */
    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        composed.allToAll(in, out, type);
    }

    /** The composed all-to-all-v; see the class comment for overriding it. */
    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        composed.allToAllV(in, sendCounts, out, recvCounts, type);
    }

    /** The compositions, for a backend that runs some of their steps inside a schedule of its own. */
    protected final Compositions compositions() {
        return composed;
    }

    @Override
    public final void gather(MemorySegment in, MemorySegment out, int root) {
        composed.gather(in, out, root);
    }

    @Override
    public final void scatter(MemorySegment in, MemorySegment out, int root) {
        composed.scatter(in, out, root);
    }

    @Override
    public final void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        composed.reduce(buf, type, op, root);
    }

    /** Frees the compositions' scratch memory (from {@link #release()}, or once no call runs); idempotent. */
    protected final void closeCompositions() {
        composed.close();
    }
}
