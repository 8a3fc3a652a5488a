package ds.comm.spi;

import ds.comm.lanes.StableCodes;

/**
 * Internal failure of a collective. The public API turns it into the matching public exception;
 * backends throw only this type (or an {@link IllegalArgumentException} for bad arguments).
 * The message always names the rank, the group and the operation.
 */
public final class CommFailure extends RuntimeException {

    /** What went wrong. */
    public enum Kind {
        /** A peer died, disconnected or stopped its heartbeat. */
        PEER_LOST(1),
        /** The operation did not complete within the deadline. */
        TIMEOUT(2),
        /** Ranks called different collectives, types, ops, counts or roots. */
        MISMATCH(3),
        /** Setup or environment problem: no space, bad permissions, refused connection. */
        SETUP(4),
        /** The communicator was aborted by an earlier failure or closed. */
        ABORTED(5);

        private static final StableCodes<Kind> CODES = new StableCodes<>(values(), Kind::code);

        private final int code;

        Kind(int code) {
            this.code = code;
        }

        /**
         * The stable number of this kind in shared memory (SHM BLAME word) and on the wire (ring
         * abort frames), 1..255; never the declaration order (a test pins it).
         */
        public int code() {
            return code;
        }

        /** The kind of {@code code}; unknown codes (a newer or corrupt peer) count as {@link #ABORTED}. */
        public static Kind ofCode(int code) {
            Kind k = CODES.of(code);
            return k == null ? ABORTED : k;
        }
    }

    private final Kind kind;
    private final int peerRank;
    private final String group;
    private final String operation;

    /**
     * @param kind      what went wrong
     * @param peerRank  the peer involved (world rank), or -1 when none is known
     * @param group     the group's name
     * @param operation the collective, e.g. "allReduce(fp32,sum,4096)"
     * @param detail    human explanation
     * @param cause     underlying cause, may be null
     */
    public CommFailure(Kind kind, int peerRank, String group, String operation, String detail, Throwable cause) {
        super(kind.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ') + " in " + operation + " on group "
                + group + (peerRank >= 0 ? " (peer rank " + peerRank + ")" : "") + ": " + detail, cause);
        this.kind = kind;
        this.peerRank = peerRank;
        this.group = group;
        this.operation = operation;
    }

    /** What went wrong. */
    public Kind kind() {
        return kind;
    }

    /** The world rank of the peer involved, or -1. */
    public int peerRank() {
        return peerRank;
    }

    /** The group's name. */
    public String group() {
        return group;
    }

    /** The operation that failed. */
    public String operation() {
        return operation;
    }
}
