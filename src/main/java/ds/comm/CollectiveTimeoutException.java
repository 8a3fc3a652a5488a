package ds.comm;

/** A collective did not complete within the communicator's timeout. */
public final class CollectiveTimeoutException extends CommException {

    /**
     * @param message  what timed out, and which peers had not arrived
     * @param peerRank world rank of a peer that had not arrived, or -1
     * @param cause    underlying cause, may be null
     */
    public CollectiveTimeoutException(String message, int peerRank, Throwable cause) {
        super(message, peerRank, cause);
    }
}
