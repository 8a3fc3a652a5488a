package ds.comm.tool;

/**
 * The first thing that went wrong in a launch.
 *
 * @param rank     the rank that failed first (for a timeout: the lowest rank still running)
 * @param kind     how it failed
 * @param exitCode its exit status when it exited, else -1
 * @param message  one line for the user, e.g. "rank 2 exited with code 3"
 */
public record RankFailure(int rank, Kind kind, int exitCode, String message) {

    /** How a rank failed. */
    public enum Kind {
        /** Exited with a non-zero status. */
        EXIT,
        /** Was terminated by a signal (status 128 + signal number, as the JDK reports it on Unix). */
        SIGNAL,
        /** Was still running when the launch timeout passed. */
        TIMEOUT,
        /** Could not be started at all. */
        START
    }

    /** The signal number for {@link Kind#SIGNAL}, else 0. */
    public int signal() {
        return kind == Kind.SIGNAL ? exitCode - 128 : 0;
    }

    /** Classifies a non-zero exit status. */
    static RankFailure ofExit(int rank, int status) {
        if (status > 128 && status <= 128 + 64) {
            int sig = status - 128;
            return new RankFailure(rank, Kind.SIGNAL, status, "rank " + rank + " was killed by signal " + sig
                    + signalName(sig) + " (exit status " + status + ")");
        }
        return new RankFailure(rank, Kind.EXIT, status, "rank " + rank + " exited with code " + status);
    }

    private static String signalName(int sig) {
        return switch (sig) {
            case 1 -> " (SIGHUP)";
            case 2 -> " (SIGINT)";
            case 6 -> " (SIGABRT)";
            case 9 -> " (SIGKILL)";
            case 11 -> " (SIGSEGV)";
            case 15 -> " (SIGTERM)";
            default -> "";
        };
    }
}
