package ds.comm.shm;

import ds.comm.spi.CommFailure;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static ds.comm.shm.SegmentDescriptor.CALLERS_MULTI;
import static ds.comm.shm.SegmentDescriptor.CALLERS_SINGLE;
import static ds.comm.shm.SegmentDescriptor.callersAcquire;
import static ds.comm.shm.SegmentDescriptor.callersRelease;
import static ds.comm.shm.SegmentDescriptor.stepAcquire;

/**
 * Finds the one mismatch no call descriptor can show: ranks that call collectives of
 * <em>different</em> groups, e.g. rank 0 an all-reduce on the split {0,1} while rank 1 does one on
 * the world. Each waits for the other on a different segment, and without this both would wait
 * for the whole timeout.
 *
 * <p>The rule, checked by a rank A blocked in group G waiting for peer B (only in the slow path,
 * every {@link StepSequencer#LIVENESS_CHECK_NANOS}): there is another open group H of this
 * process containing both A and B in which B has published a step that A has not. If A and B
 * each issue their SHM collectives from a single thread, this is a deadlock, not a delay: A's
 * only calling thread is inside G, so A cannot join H until G completes; B's only calling
 * thread is inside H, which cannot complete without A, so B will not arrive in G. A process that
 * ever called from two threads (it might legitimately run G and H concurrently) publishes
 * {@code CALLERS_MULTI} in all its segments and the rule is never applied to or by it: its
 * peers fall back to the timeout. The finding must hold on two consecutive checks.
 *
 * <p>One watch per job (per {@code Communicator.init()}), not per JVM: several in-process jobs
 * (tests that run many ranks in one JVM, or an application with two independent jobs) each keep
 * their own single-caller finding, and one job's threads never switch the rule off for another.
 */
public final class CrossGroupWatch {

    private final Object lock = new Object();
    /** Every open multi-rank SHM collective of this job in this process. */
    private final List<ShmCollective> open = new ArrayList<>();

    /** The first thread that ever ran an SHM collective of this job; any other makes it MULTI. */
    private volatile Thread firstCaller;
    private volatile boolean multipleCallers;

    /** A watch for one job's groups in this process (the job owns it; nothing is JVM-global). */
    public CrossGroupWatch() {
    }

    /**
     * Called on entry to every collective: one volatile read once the answer is known, a
     * thread comparison before. Allocates nothing.
     */
    void noteCaller() {
        if (multipleCallers) return;
        Thread me = Thread.currentThread();
        Thread first = firstCaller;
        if (first == me) return;
        synchronized (lock) {
            if (firstCaller == null) {
                firstCaller = me;
                return;
            }
            if (firstCaller == me) return;
            multipleCallers = true;
            for (ShmCollective c : open) {
                callersRelease(c.ownSegment(), CALLERS_MULTI);
            }
        }
    }

    void register(ShmCollective c) {
        synchronized (lock) {
            callersRelease(c.ownSegment(), multipleCallers ? CALLERS_MULTI : CALLERS_SINGLE);
            open.add(c);
        }
    }

    void unregister(ShmCollective c) {
        synchronized (lock) {
            open.remove(c);
        }
    }

    /**
     * The deadlock finding for {@code waiting} (group G) blocked on its member {@code peerWorld},
     * or null.
     */
    CommFailure deadlockWith(ShmCollective waiting, int peerWorld) {
        ShmCollective h = partnerGroup(waiting, peerWorld);
        if (h == null) return null;
        MemorySegment peerInH = h.segmentOfWorldRank(peerWorld);
        long theirs = stepAcquire(peerInH);
        long mine = stepAcquire(h.ownSegment());
        return new CommFailure(CommFailure.Kind.MISMATCH, peerWorld, waiting.group().name(),
                waiting.operation(), "world rank " + peerWorld + " is inside " + h.describeCallOf(peerInH, theirs)
                + " on group " + h.group().name() + " (its step " + theirs + ", this rank's " + mine
                + "), which this rank has not called, while this rank waits for it here: the ranks called"
                + " collectives of different groups in different orders, a deadlock", null);
    }

    /**
     * Once the deadlock is declared, the other group's pending call is part of it: that group is
     * aborted too (FAILED, blaming the same peer), so its members still waiting there for this
     * rank hear of the mismatch at once instead of later finding this rank closed. Safe without
     * further locking: the rule holds only while this process calls from this one thread.
     */
    void abortPartnerGroup(ShmCollective waiting, int peerWorld, CommFailure cause) {
        ShmCollective h = partnerGroup(waiting, peerWorld);
        if (h != null) h.abortFor(cause, peerWorld);
    }

    private ShmCollective partnerGroup(ShmCollective waiting, int peerWorld) {
        if (multipleCallers) return null;
        synchronized (lock) {
            int me = waiting.group().myWorldRank();
            MemorySegment peerInG = waiting.segmentOfWorldRank(peerWorld);
            if (peerInG == null || callersAcquire(peerInG) != CALLERS_SINGLE) return null;
            for (ShmCollective h : open) {
                // A group of ours that failed or closed: its members learn that from its STATE
                // and leave it, so a peer ahead there is not stuck waiting for us.
                if (h == waiting || h.broken()) continue;
                MemorySegment peerInH = h.segmentOfWorldRank(peerWorld);
                if (peerInH == null || h.group().myWorldRank() != me) continue;
                long theirs = stepAcquire(peerInH);
                long mine = stepAcquire(h.ownSegment());
                if (theirs > mine && callersAcquire(peerInH) == CALLERS_SINGLE) {
                    return h;
                }
            }
            return null;
        }
    }
}
