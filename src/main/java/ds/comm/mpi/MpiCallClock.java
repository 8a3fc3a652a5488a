package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.WaitMeter;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Locale;

/**
 * Which MPI call of one communicator is in progress, for the {@link MpiWatchdog}.
 *
 * <p>Written by the communicator's calling thread around every blocking MPI call, read by the
 * watchdog thread. The calling thread does not read the clock: it numbers its calls, and
 * {@link #start} publishes an odd call number (in a call) and {@link #stop} the next, even one
 * (idle), each with a release store. The watchdog times the calls itself ({@link #overrunNanos}):
 * it notes when it first saw a call number in progress and reports the call once the same number
 * has been in progress for longer than the timeout. So a call is never reported before it has
 * run for the timeout, and always by two watchdog periods after that. What this saves is one
 * {@code System.nanoTime()} per MPI call, about 25 ns of the 55 ns that a one-float all-reduce
 * took through the backend (docs/performance.md).
 *
 * <p>The call's description (collective, type, op, count) is stored in plain fields before
 * {@link #start} publishes the call number; the watchdog reads the number with an acquire load,
 * so it sees the description of the call that is running. No allocation per call: the
 * description is only turned into text when a call overruns.
 */
final class MpiCallClock {

    private static final VarHandle CALLS;

    static {
        try {
            CALLS = MethodHandles.lookup().findVarHandle(MpiCallClock.class, "calls", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final String group;
    final int rank;
    final long timeoutNanos;

    /**
     * Twice the number of calls started, plus one while a call is in progress. Written by the
     * calling thread only (through {@link #CALLS}), so it reads its own last value plainly.
     */
    @SuppressWarnings("unused") // accessed through CALLS
    private long calls;
    private String collective;
    private ElementType type;
    private Combiner op;
    private long count;
    /** Where {@link #stop} adds the call's time while it measures: MPI cannot tell waiting from moving data. */
    private final WaitMeter inCall;
    /** Whether the current call is timed (the meter was on at its start); read by the calling thread only. */
    private boolean timed;
    /** Start of the current call while timed; read by the calling thread only. */
    private long callStart;

    // The watchdog thread's own notes, never touched by the calling thread.
    /** The odd call number the watchdog last saw in progress, or 0. */
    private long watchedCall;
    /** When the watchdog first saw {@link #watchedCall} in progress. */
    private long watchedSince;

    MpiCallClock(String group, int rank, long timeoutNanos, WaitMeter inCall) {
        this.group = group;
        this.rank = rank;
        this.timeoutNanos = timeoutNanos;
        this.inCall = inCall;
    }

    /** Before a blocking MPI call. {@code type}/{@code op} may be null; {@code count} -1 for none. */
    void start(String collective, ElementType type, Combiner op, long count) {
        this.collective = collective;
        this.type = type;
        this.op = op;
        this.count = count;
        timed = inCall.measuring();
        if (timed) callStart = System.nanoTime();
        CALLS.setRelease(this, calls + 1); // odd: in a call
    }

    /** After the MPI call returned. */
    void stop() {
        CALLS.setRelease(this, calls + 1); // even: idle
        if (timed) inCall.addSince(callStart);
    }

    /**
     * Watchdog thread only, once per poll: how long the call in progress has been seen in
     * progress, when that exceeds the timeout; else -1 (idle, a call first seen now, or one
     * still within its timeout). A call seen at two polls is the same call only if its number
     * is unchanged, so back-to-back short calls never add up.
     *
     * @param now {@code System.nanoTime()} of this poll
     */
    long overrunNanos(long now) {
        long c = (long) CALLS.getAcquire(this);
        if ((c & 1L) == 0) {
            watchedCall = 0;
            return -1;
        }
        if (c != watchedCall) {
            watchedCall = c;
            watchedSince = now;
            return -1;
        }
        long seen = now - watchedSince;
        return seen > timeoutNanos ? seen : -1;
    }

    /** The call in progress, e.g. "allReduce(fp32,sum,1024)". */
    String describeCall() {
        StringBuilder b = new StringBuilder(collective).append('(');
        if (type != null) b.append(type.name().toLowerCase(Locale.ROOT));
        if (op != null) b.append(',').append(op.name().toLowerCase(Locale.ROOT));
        if (count >= 0) b.append(type != null ? "," : "").append(count);
        return b.append(')').toString();
    }
}
