package ds.comm;

/**
 * Ranks of one group called different collectives, or the same one with a different type, op,
 * element count or root. The message says what differed on which rank.
 */
public final class CollectiveMismatchException extends CommException {

    /**
     * @param message  what differed
     * @param peerRank world rank whose call differed, or -1
     * @param cause    underlying cause, may be null
     */
    public CollectiveMismatchException(String message, int peerRank, Throwable cause) {
        super(message, peerRank, cause);
    }
}
