package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.WaitMeter;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Locale;

/**
 * When the current MPI call of one communicator started, for the {@link MpiWatchdog}.
 *
 * <p>Written by the communicator's calling thread around every blocking MPI call, read by the
 * watchdog thread. The call's description (collective, type, op, count) is stored in plain
 * fields before {@link #start} publishes the start time with a release store; the watchdog reads
 * the time with an acquire load, so it sees the description of the call that is running. No
 * allocation per call: the description is only turned into text when a call overruns.
 */
final class MpiCallClock {

    private static final VarHandle STARTED;

    static {
        try {
            STARTED = MethodHandles.lookup().findVarHandle(MpiCallClock.class, "startedNanos", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final String group;
    final int rank;
    final long timeoutNanos;

    @SuppressWarnings("unused") // accessed through STARTED
    private long startedNanos; // 0 = no call in progress
    private String collective;
    private ElementType type;
    private Combiner op;
    private long count;
    /** Where {@link #stop} adds the call's time: MPI cannot tell waiting from moving data. */
    private final WaitMeter inCall;
    /** Start of the current call, plain, for {@link #inCall}; read by the calling thread only. */
    private long callStart;

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
        long now = System.nanoTime();
        callStart = now;
        // |1: a start time of exactly 0 would read as "idle".
        STARTED.setRelease(this, now | 1L);
    }

    /** After the MPI call returned. */
    void stop() {
        STARTED.setRelease(this, 0L);
        // The start was read anyway; the end costs a clock read only while someone records.
        inCall.addSince(callStart);
    }

    /** Start time of the call in progress, or 0. */
    long startedNanosAcquire() {
        return (long) STARTED.getAcquire(this);
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
