package ds.comm.topology;

/**
 * What one rank saw of its shared-memory directory when it announced itself (at the rendezvous,
 * or at a split): the input from which every member of a group computes the same SHM-or-not
 * decision. Each rank measuring only its own free space let a racing allocator on the node put
 * one rank on SHM and another on the ring, each then waiting for the other until the timeout.
 *
 * @param freeBytes    bytes free for this user in the directory, or a negative code:
 *                     {@link #MISSING}, {@link #NOT_WRITABLE}, {@link #UNREADABLE},
 *                     {@link #DISABLED} or {@link #UNKNOWN}
 * @param segmentBytes bytes of the rank's own segment (its shmBytes setting)
 */
public record ShmView(long freeBytes, long segmentBytes) {

    /** The directory does not exist. */
    public static final long MISSING = -1;
    /** The directory is not writable. */
    public static final long NOT_WRITABLE = -2;
    /** The directory's free space could not be read. */
    public static final long UNREADABLE = -3;
    /** The rank has shared memory turned off (DSCOMM_SHM=0 or CommConfig). */
    public static final long DISABLED = -4;
    /** Not measured (a record made without a view): no objection to SHM. */
    public static final long UNKNOWN = -5;

    /**
     * Largest segment size a view may announce (1 TiB, far above any setting): a node's members'
     * sizes are summed, and a world of {@link LaunchEnv#MAX_WORLD_SIZE} of them must not overflow.
     */
    public static final long MAX_SEGMENT_BYTES = 1L << 40;

    /** A view that neither allows nor forbids anything. */
    public static final ShmView NONE = new ShmView(UNKNOWN, 0);

    /** Validates: the same bounds the rendezvous enforces on the wire. */
    public ShmView {
        if (freeBytes < UNKNOWN) {
            throw new IllegalArgumentException("shared-memory free bytes " + freeBytes + " is no known code");
        }
        if (segmentBytes < 0 || segmentBytes > MAX_SEGMENT_BYTES) {
            throw new IllegalArgumentException("segment bytes " + segmentBytes + " outside 0.." + MAX_SEGMENT_BYTES);
        }
    }

    /**
     * Why this view forbids {@code need} bytes of segments, or null when it allows them.
     *
     * @param who the rank the view is of, e.g. "world rank 1" (the answer starts with it)
     */
    public String objection(long need, String who) {
        if (freeBytes == UNKNOWN) return null;
        if (freeBytes == DISABLED) return who + " has shared memory turned off";
        String dir = who + "'s shared-memory directory";
        if (freeBytes == MISSING) return dir + " does not exist";
        if (freeBytes == NOT_WRITABLE) return dir + " is not writable";
        if (freeBytes == UNREADABLE) return dir + " has unreadable free space";
        if (freeBytes < need) return dir + " has " + freeBytes + " bytes free, " + need + " needed";
        return null;
    }
}
