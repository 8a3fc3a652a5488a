package ds.comm.shm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static ds.comm.shm.SegmentDescriptor.heartbeatAcquire;
import static ds.comm.shm.SegmentDescriptor.heartbeatRelease;

/**
 * Beats the HEARTBEAT word of this JVM's segments that have a peer unable to judge our pid: a
 * peer in another pid namespace (containers sharing {@code /dev/shm} but not pids) cannot ask
 * the kernel whether we still run, so it watches this counter instead. A counter, not a time:
 * the peer compares it with its own earlier reading on its own clock, so no clock has to be
 * shared (time namespaces, clock skew).
 *
 * <p>One daemon thread for the whole JVM, started by the first segment that needs it and idle
 * (parked for good) while none does, so the common case (every peer in our namespace, judged
 * by pid) costs no thread at all. It beats independently of what the application thread does:
 * a rank computing for minutes between collectives stays alive to its peers; a rank whose JVM
 * is frozen (SIGSTOP, a hung VM, a stop-the-world pause longer than the bound) does not.
 *
 * <p>Registration and beating are serialised on {@code this}: once {@link #unregister} returns,
 * the thread never touches that segment again, so its arena may be closed.
 */
final class HeartbeatPacer {

    /** Shortest period: a bound of a few hundred ms would otherwise make the thread spin. */
    static final long MIN_PERIOD_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private static final HeartbeatPacer INSTANCE = new HeartbeatPacer();

    private final List<MemorySegment> segments = new ArrayList<>();
    private final List<Long> periods = new ArrayList<>();
    private Thread thread;

    private HeartbeatPacer() {
    }

    static HeartbeatPacer instance() {
        return INSTANCE;
    }

    /**
     * Starts beating {@code own} (this rank's segment) about six times per {@code peerLostNanos},
     * so that a peer sees several beats inside its bound even when this JVM is briefly starved.
     */
    synchronized void register(MemorySegment own, long peerLostNanos) {
        segments.add(own);
        periods.add(Math.max(MIN_PERIOD_NANOS, peerLostNanos / 6));
        beat(own);
        if (thread == null) {
            thread = Thread.ofPlatform().daemon().name("dscomm-shm-heartbeat").start(this::run);
        } else {
            LockSupport.unpark(thread); // the period may have become shorter
        }
    }

    /** Stops beating {@code own}; after it returns the segment is never touched again. */
    synchronized void unregister(MemorySegment own) {
        for (int i = 0; i < segments.size(); i++) {
            if (segments.get(i) == own) {
                segments.remove(i);
                periods.remove(i);
                return;
            }
        }
    }

    /** Number of segments being beaten (for tests). */
    synchronized int registered() {
        return segments.size();
    }

    private void run() {
        while (true) {
            long period = beatAll();
            // Parked for good while nothing is registered: register() unparks.
            if (period == 0) LockSupport.park(this);
            else LockSupport.parkNanos(this, period);
        }
    }

    /** Beats every registered segment; returns the shortest period, or 0 if none is registered. */
    private synchronized long beatAll() {
        long period = 0;
        for (int i = 0; i < segments.size(); i++) {
            beat(segments.get(i));
            long p = periods.get(i);
            period = period == 0 ? p : Math.min(period, p);
        }
        return period;
    }

    /** Single writer of the word: only this class increments it, always under the monitor. */
    private static void beat(MemorySegment own) {
        heartbeatRelease(own, heartbeatAcquire(own) + 1);
    }
}
