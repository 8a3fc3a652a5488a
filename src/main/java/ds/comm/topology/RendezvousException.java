package ds.comm.topology;

/**
 * The rendezvous failed: a rank arrived twice or with another world size, a rank never arrived
 * within the timeout, rank 0 could not be reached, or a peer spoke something else than the
 * rendezvous protocol. The message says which ranks and what to check.
 */
public final class RendezvousException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message what failed and which ranks are involved
     */
    public RendezvousException(String message) {
        super(message);
    }

    /**
     * @param message what failed and which ranks are involved
     * @param cause   the underlying I/O failure
     */
    public RendezvousException(String message, Throwable cause) {
        super(message, cause);
    }
}
