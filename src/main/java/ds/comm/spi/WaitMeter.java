package ds.comm.spi;

/**
 * The time a backend's calls spend waiting for peers, behind {@link Collective#peerWaitNanos()}:
 * summed only while {@link Collective#measureWaits} is on, so that a wait costs no clock read
 * more when nobody records. What counts as a wait is the backend's to say (see
 * {@link Collective#peerWaitNanos()}); each backend owns one meter ({@link BackendCollective})
 * and hands it to the part of it that waits.
 *
 * <p>Plain fields: only the thread that calls the collective touches it.
 */
public final class WaitMeter {

    private boolean on;
    private long nanos;

    /** Turns the accounting on or off. */
    public void measure(boolean measure) {
        on = measure;
    }

    /** Whether the accounting is on (a caller may then read the clock at a wait's start). */
    public boolean measuring() {
        return on;
    }

    /** Adds the time since {@code startNanos} (a {@link System#nanoTime()} reading) while measuring. */
    public void addSince(long startNanos) {
        if (on) nanos += System.nanoTime() - startNanos;
    }

    /** Nanoseconds measured so far, cumulative. */
    public long nanos() {
        return nanos;
    }
}
