package ds.comm;

import java.util.Locale;

/**
 * The thread level ds-comm asks for when it initialises MPI itself (the MPI backend, and the
 * rendezvous of a ring started under an MPI launcher). A host program that initialised MPI first
 * keeps the level it chose; MPI is initialised once per process, so the first communicator's
 * setting is the one that counts.
 *
 * <p>Why there is a choice: Open MPI takes its internal locks on every call at any level above
 * {@code MPI_THREAD_SINGLE} (funneled and serialized included), which costs a 4 KiB all-reduce
 * about 0.35 us of its 3 us on a 2-core machine (docs/performance.md). A program that drives
 * every group from one thread at a time does not need them. (MPICH 4.0 measured the same at
 * every level: the choice matters for Open MPI.)
 */
public enum MpiThreads {

    /**
     * {@code MPI_THREAD_MULTIPLE}, the default: groups may be used from several threads at once,
     * including the progress threads of non-blocking calls, each MPI call running concurrently.
     */
    MULTIPLE,

    /**
     * {@code MPI_THREAD_SINGLE}, with ds-comm holding one process-wide lock around every MPI call
     * it makes, so MPI only ever sees one call at a time, from whichever thread (the guarantee
     * {@code MPI_THREAD_SERIALIZED} asks of a program, met by ds-comm rather than asked of MPI).
     * For programs that call their groups from one thread at a time: a blocking collective holds
     * the lock until it completes, so two groups called from two of the program's threads at once
     * can wait on each other across ranks; the MPI watchdog then ends the job after the group
     * timeout and says so. Non-blocking calls are safe: at this level a call on any group first
     * waits for (or runs) the non-blocking calls other groups issued before it, so the process
     * makes its MPI calls in issue order, one at a time. The price: a call on another group
     * does not overlap an outstanding non-blocking one (it still overlaps the caller's compute).
     */
    SINGLE;

    /** Parses {@code multiple|single} (case-insensitive), as used by {@code DSCOMM_MPI_THREADS}. */
    public static MpiThreads parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "multiple" -> MULTIPLE;
            case "single" -> SINGLE;
            default -> throw new IllegalArgumentException("unknown MPI thread level '" + text + "' (expected multiple or single)");
        };
    }
}
