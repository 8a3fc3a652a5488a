package ds.comm.mpi;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Bounds every blocking MPI call by its group's {@link ds.comm.spi.Settings#timeoutNanos()}, the
 * only way MPI allows: a blocking collective cannot be cancelled or interrupted, and returning
 * from it early would leave MPI free to write into the caller's buffer later. So when a call
 * overruns, this thread prints what was stuck (rank, group, collective, how long) to stderr and
 * calls {@code MPI_Abort(MPI_COMM_WORLD, 124)}, which ends every rank of the job; launchers
 * (mpirun, hydra, srun) report the abort. A hang becomes a prompt, explained job failure.
 *
 * <p>One daemon thread per process while any communicator is open. It polls every sixteenth of
 * the shortest timeout (between 5 ms and 500 ms) and times the calls itself, from the first poll
 * that sees one in progress ({@link MpiCallClock#overrunNanos}): a call is aborted after more
 * than its timeout and at most two periods, i.e. an eighth of the timeout (at most 1 s), later.
 * The communicators' cost is two release stores per MPI call and no clock read (a clock read was
 * about half of the Java side of a small all-reduce). {@code MPI_Abort} is called without the
 * serialising lock (the stuck thread holds it); MPI guarantees nothing more at that point, and
 * if it returns, the process halts.
 */
final class MpiWatchdog {

    /** Exit code of an aborted job, as timeout(1) uses. */
    static final int ABORT_CODE = 124;

    private final MpiLibrary lib;
    private final CopyOnWriteArrayList<MpiCallClock> clocks = new CopyOnWriteArrayList<>();
    private Thread thread; // guarded by this
    private volatile boolean running;

    MpiWatchdog(MpiLibrary lib) {
        this.lib = lib;
    }

    /** Starts watching {@code clock}; starts the thread with the first one. */
    synchronized void watch(MpiCallClock clock) {
        clocks.add(clock);
        if (thread == null) {
            running = true;
            thread = Thread.ofPlatform().daemon().name("ds-comm-mpi-watchdog").unstarted(this::run);
            thread.start();
        } else {
            LockSupport.unpark(thread); // re-evaluate the poll period
        }
    }

    /** Stops watching {@code clock}; stops the thread after the last one. */
    synchronized void unwatch(MpiCallClock clock) {
        clocks.remove(clock);
        if (clocks.isEmpty() && thread != null) {
            running = false;
            LockSupport.unpark(thread);
            try {
                thread.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            thread = null;
        }
    }

    private void run() {
        while (running) {
            long shortest = Long.MAX_VALUE;
            long now = System.nanoTime();
            for (MpiCallClock c : clocks) {
                shortest = Math.min(shortest, c.timeoutNanos);
                long overrun = c.overrunNanos(now);
                if (overrun >= 0) {
                    abortJob(c, overrun);
                    return;
                }
            }
            LockSupport.parkNanos(this, period(shortest));
        }
    }

    /** Poll period for the shortest watched timeout: a sixteenth of it, within 5 ms to 500 ms. */
    static long period(long shortestTimeoutNanos) {
        return shortestTimeoutNanos == Long.MAX_VALUE ? TimeUnit.MILLISECONDS.toNanos(500)
                : Math.clamp(shortestTimeoutNanos / 16, TimeUnit.MILLISECONDS.toNanos(5), TimeUnit.MILLISECONDS.toNanos(500));
    }

    /**
     * Below MPI_THREAD_MULTIPLE a blocking collective holds ds-comm's process-wide lock until it
     * completes: threads queued behind it are the sign of groups used from several threads at
     * once, which can wait on each other across ranks at that level. Empty when none wait.
     */
    static String serialisationHint(int waiting) {
        if (waiting == 0) return "";
        return " " + waiting + " other thread" + (waiting == 1 ? " was" : "s were") + " waiting to call MPI: below "
                + "MPI_THREAD_MULTIPLE ds-comm runs one MPI call at a time, so groups used from several threads at once "
                + "can wait on each other across ranks; DSCOMM_MPI_THREADS=multiple (the default) runs them concurrently.";
    }

    private void abortJob(MpiCallClock c, long elapsedNanos) {
        System.err.println("ds-comm mpi: rank " + c.rank + ": " + c.describeCall() + " on group " + c.group
                + " has not completed after at least " + TimeUnit.NANOSECONDS.toMillis(elapsedNanos) + " ms (timeout "
                + TimeUnit.NANOSECONDS.toMillis(c.timeoutNanos) + " ms); a peer is stuck or never called it. "
                + "MPI collectives cannot be cancelled, so the MPI job is aborted (MPI_Abort " + ABORT_CODE + ")."
                + serialisationHint(lib.threadsWaitingToCallMpi()));
        System.err.flush();
        lib.abortJob(ABORT_CODE);
        Runtime.getRuntime().halt(ABORT_CODE);
    }
}
