package ds.comm.spi;

/**
 * The skeleton every backend's {@link Collective} extends: the lifecycle
 * {@code OPEN → FAILED | CLOSED}, the one wording of a refused call, the failure hook and the
 * self-description.
 *
 * <pre>
 *            first failure recorded                 close()
 *   OPEN ───────────────────────────▶ FAILED ──────────────────▶ CLOSED
 *     │                                                            ▲
 *     └────────────────────────────────────────────────────────────┘
 *                               close()
 * </pre>
 *
 * <p>After a failure the ranks' call sequences no longer line up, so a failed collective refuses
 * every later call (kind {@link CommFailure.Kind#ABORTED}, naming the peer the first failure
 * blamed), exactly like a closed one. Only the first failure is kept: it says what really
 * happened; later ones are consequences. Groups of one never reach the shared-memory or socket
 * backends (the policy gives them a local collective); only MPI, whose splits are collective,
 * may hold one.
 *
 * <p>State is read on every call by the calling thread and written by it, by {@link #close()}
 * (possibly from another thread, e.g. a shutdown hook) and by a backend's watchdog; volatile
 * fields keep that safe without a lock on the hot path.
 */
public abstract class BackendCollective implements Collective {

    /** Where a collective is in its lifecycle. */
    public enum State {
        /** Calls run. */
        OPEN,
        /** A call failed; later calls are refused; resources are still held until close. */
        FAILED,
        /** Closed: resources released (or released when a call still running returns). */
        CLOSED
    }

    private final String backend;
    private final String groupName;
    private final int rank;
    private final int size;
    /** The waits for peers the backend's calls measure (see {@link #peerWaitNanos()}). */
    protected final WaitMeter waits = new WaitMeter();
    private volatile CommFailure failure;
    private volatile boolean closed;
    /** Owners that must each close it before it is released; guarded by this. */
    private int holds = 1;

    /**
     * @param backend   the backend's short name, as the selection policy reports it ("shm", "ring", "mpi")
     * @param groupName the group's name, as in every failure message
     * @param rank      this rank's index in the group
     * @param size      the number of ranks in the group
     */
    protected BackendCollective(String backend, String groupName, int rank, int size) {
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " outside group " + groupName + " of " + size);
        }
        this.backend = backend;
        this.groupName = groupName;
        this.rank = rank;
        this.size = size;
    }

    @Override
    public final int rank() {
        return rank;
    }

    @Override
    public final int size() {
        return size;
    }

    @Override
    public void measureWaits(boolean on) {
        waits.measure(on);
    }

    /** What the backend added to {@link #waits}; a composite sums its parts instead. */
    @Override
    public long peerWaitNanos() {
        return waits.nanos();
    }

    /** The group's name. */
    public final String groupName() {
        return groupName;
    }

    /** Where this collective is in its lifecycle. */
    public final State state() {
        if (closed) return State.CLOSED;
        return failure == null ? State.OPEN : State.FAILED;
    }

    /** Whether calls may run: neither closed nor failed. */
    protected final boolean usable() {
        return !closed && failure == null;
    }

    /** Whether {@link #close()} has been called. */
    protected final boolean isClosed() {
        return closed;
    }

    /** The first failure recorded, or null. */
    protected final CommFailure failure() {
        return failure;
    }

    /**
     * Throws the refusal of {@code operation} unless this collective is usable: the entry check
     * of every call.
     *
     * @param operation the call as text, e.g. "allReduce(fp32,sum,4096)"
     */
    protected final void checkUsable(String operation) {
        if (closed || failure != null) throw refusal(operation);
    }

    /** Throws unless {@code peer} is another rank of this group: the argument check of send and recv. */
    protected final void checkPeer(int peer) {
        if (peer < 0 || peer >= size || peer == rank) {
            throw new IllegalArgumentException("peer " + peer + " is not another rank of group " + groupName + " of " + size);
        }
    }

    /** The failure a call on a closed or failed collective throws (one wording for every backend). */
    protected final CommFailure refusal(String operation) {
        if (closed) {
            return new CommFailure(CommFailure.Kind.ABORTED, -1, groupName, operation,
                    "rank " + rank() + " refused the call: the communicator is closed", null);
        }
        CommFailure f = failure;
        return new CommFailure(CommFailure.Kind.ABORTED, f.peerRank(), groupName, operation,
                "rank " + rank() + " refused the call: the group failed earlier: " + f.getMessage(), f);
    }

    /**
     * Records {@code f} as this collective's failure if it is the first, and then runs
     * {@link #onFailure} once. Returns {@code f}, to be thrown.
     */
    protected final CommFailure recordFailure(CommFailure f) {
        boolean first;
        synchronized (this) {
            first = failure == null && !closed;
            if (first) failure = f;
        }
        if (first) onFailure(f);
        return f;
    }

    /**
     * Fails this collective from outside, as if one of its own calls had failed with
     * {@code cause}: the first failure is kept and peers are told (see {@link #onFailure}). For
     * composites: when one level of a hierarchical group fails, its other levels must stop their
     * peers' waits too, naming the rank really lost, instead of leaving them to time out.
     */
    public final void abortWith(CommFailure cause) {
        recordFailure(cause);
    }

    /**
     * Called once, by the thread that recorded the first failure: tell peers (a FAILED state in
     * shared memory, an abort frame on a socket) so they stop waiting for this rank. Must not
     * throw. The default does nothing.
     */
    protected void onFailure(CommFailure f) {
    }

    /**
     * Adds an owner: the collective is released only when every owner has closed it. For an
     * engine that serves twice (an MPI communicator that is both a group's backend and the
     * parent of its splits), so no owner needs to know who else holds it.
     *
     * @return this
     * @throws IllegalStateException if it is already closed
     */
    public final BackendCollective retain() {
        synchronized (this) {
            if (closed) throw new IllegalStateException(this + ": retained after close");
            holds++;
        }
        return this;
    }

    /**
     * Gives up one owner's hold; the last one closes: later calls are refused, and
     * {@link #release()} runs once. Each owner closes at most once; closing a closed collective
     * does nothing. Never throws for peers that are gone.
     */
    @Override
    public final void close() {
        synchronized (this) {
            if (closed) return;
            if (--holds > 0) return;
            closed = true;
        }
        release();
    }

    /**
     * Releases the backend's resources, once. A call still running on another thread (a broken
     * contract, or a shutdown hook closing under a call) must not crash: backends that free
     * memory a call may use defer that until the call returns.
     */
    protected abstract void release();

    /** e.g. {@code "shm group tp rank 1/4 (open)"}. */
    @Override
    public String toString() {
        return backend + " group " + groupName + " rank " + rank() + "/" + size() + " ("
                + state().name().toLowerCase(java.util.Locale.ROOT) + ")";
    }
}
