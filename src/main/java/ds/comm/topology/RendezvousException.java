package ds.comm.topology;

/**
 * The rendezvous failed: a rank arrived twice or with another world size, a rank never arrived
 * or died within the timeout, rank 0 could not be reached, or a peer spoke something else than
 * the rendezvous protocol. The message says which ranks and what to check; {@link #kind()} and
 * {@link #rank()} say it for programs (so that the API can raise a peer-lost error naming the
 * rank).
 */
public final class RendezvousException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** What kind of failure it was. */
    public enum Cause {
        /** Configuration or protocol: duplicate rank, world sizes differ, port taken, bad frame. */
        SETUP,
        /** {@link #rank()} died, hung up, or never arrived before rank 0 gave up. */
        LOST,
        /** The deadline passed without a more specific reason. */
        TIMEOUT
    }

    private final Cause kind;
    private final int rank;

    /**
     * A SETUP failure naming no rank.
     *
     * @param message what failed and which ranks are involved
     */
    public RendezvousException(String message) {
        this(Cause.SETUP, -1, message, null);
    }

    /**
     * A SETUP failure naming no rank.
     *
     * @param message what failed and which ranks are involved
     * @param cause   the underlying I/O failure
     */
    public RendezvousException(String message, Throwable cause) {
        this(Cause.SETUP, -1, message, cause);
    }

    /**
     * @param kind    what kind of failure
     * @param rank    the world rank it concerns, or -1
     * @param message what failed and which ranks are involved
     * @param cause   the underlying failure, may be null
     */
    public RendezvousException(Cause kind, int rank, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.rank = rank;
    }

    /** What kind of failure it was. */
    public Cause kind() {
        return kind;
    }

    /** The world rank the failure concerns (the lost or missing rank), or -1. */
    public int rank() {
        return rank;
    }
}
