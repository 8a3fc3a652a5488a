package ds.comm;

/** A peer rank died, disconnected, or stopped its heartbeat; {@link #peerRank()} names it. */
public final class PeerLostException extends CommException {

    /**
     * @param message  what failed
     * @param peerRank world rank of the lost peer
     * @param cause    underlying cause, may be null
     */
    public PeerLostException(String message, int peerRank, Throwable cause) {
        super(message, peerRank, cause);
    }
}
