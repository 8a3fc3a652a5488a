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
 * every group from one thread at a time does not need them.
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
     * For programs that use their groups from one thread at a time: a blocking collective holds
     * the lock until it completes, so two groups used from two threads at once can wait on each
     * other across ranks; the MPI watchdog then ends the job after the group timeout and says so.
     * A non-blocking call runs on its group's progress thread, so one still outstanding while the
     * program calls another group counts as two threads; calls of one group are always ordered.
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
