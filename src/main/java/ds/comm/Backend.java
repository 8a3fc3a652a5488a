package ds.comm;

/**
 * The engine a communicator uses for its collectives.
 */
public enum Backend {
    /** Choose per group: SHM when every member shares this node, HIER across nodes, else RING. */
    AUTO,
    /** Lock-free shared memory; only valid when every member is on one node. */
    SHM,
    /** {@code java.nio} socket ring; works for any group. */
    RING,
    /** SHM inside each node, then the ring (or MPI) between node leaders. */
    HIER,
    /** The installed MPI library (Open MPI, MPICH) through FFM downcalls. */
    MPI,
    /** A group of one rank: collectives are local copies. */
    LOCAL;

    /** Parses {@code auto|shm|ring|hier|mpi} (case-insensitive), as used by DSCOMM_BACKEND. */
    public static Backend parse(String text) {
        return switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> AUTO;
            case "shm" -> SHM;
            case "ring" -> RING;
            case "hier" -> HIER;
            case "mpi" -> MPI;
            default -> throw new IllegalArgumentException("unknown backend '" + text + "' (expected auto, shm, ring, hier or mpi)");
        };
    }

    /** Lower-case name as printed in reports and CSV. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
