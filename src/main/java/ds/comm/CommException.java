package ds.comm;

/**
 * A collective failed. The message names the rank, the group and the operation. After any
 * {@code CommException} other than an argument error the communicator is aborted: later calls
 * throw at once, and {@link Communicator#close()} still releases everything.
 */
public class CommException extends RuntimeException {

    private final int peerRank;

    /**
     * @param message  what failed, naming rank, group and operation
     * @param peerRank the world rank of the peer involved, or -1
     * @param cause    underlying cause, may be null
     */
    public CommException(String message, int peerRank, Throwable cause) {
        super(message, cause);
        this.peerRank = peerRank;
    }

    /** World rank of the peer involved, or -1 when no single peer is to blame. */
    public int peerRank() {
        return peerRank;
    }
}
