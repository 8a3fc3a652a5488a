package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.WaitMeter;
import ds.comm.topology.ProcessIdentity;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

import static ds.comm.shm.SegmentDescriptor.*;

/**
 * The step protocol: every shared-memory collective is a sequence of bulk-synchronous steps
 * numbered 1, 2, 3, … for the life of the communicator (step 1 is the open barrier).
 *
 * <h2>One step</h2>
 * In step {@code s} a rank
 * <ol>
 *   <li>writes only into its own data area {@code A[s & 1]} (plain stores, any width),</li>
 *   <li>writes its call descriptor {@code CALL[s & 1]}, then publishes {@code STEP := s} with a
 *       release store ({@link #publishRelease()}),</li>
 *   <li>waits until every peer's {@code STEP >= s}, reading it with acquire loads
 *       ({@link #awaitAllAcquire()}), and checks every peer's {@code CALL[s & 1]} against its own,</li>
 *   <li>reads any peer's {@code A[s & 1]} (and writes nothing shared but its own {@code A[(s+1) & 1]},
 *       which is the area of its next step).</li>
 * </ol>
 *
 * <h2>Why no closing barrier is needed</h2>
 * <ul>
 *   <li><b>Reads finish before the next publish.</b> A rank reads step {@code s}'s areas only
 *       between observing all peers at {@code >= s} and publishing {@code s+1}.</li>
 *   <li><b>Writers wait two steps.</b> A rank writes {@code A[s & 1]} again in step {@code s+2}
 *       (or, for the reduced slices of the chunked all-reduce, at the end of step {@code s+1},
 *       which is the same area); it gets there only after observing every peer at {@code >= s+1},
 *       i.e. after every peer finished its step-{@code s} reads.</li>
 *   <li><b>Peers are at most one step ahead.</b> While a rank waits in step {@code s}, a peer may
 *       be in {@code s} or {@code s+1} but not in {@code s+2} (that needs this rank at
 *       {@code s+1}), so the double-buffered {@code CALL[s & 1]} and {@code A[s & 1]} a rank
 *       reads in step {@code s} still hold step {@code s}'s contents.</li>
 *   <li><b>Monotone sequences, not booleans.</b> {@code STEP} only grows, so "{@code >= s}" is
 *       stable once observed: a waiter never misses a flip, and a fast peer never needs a reset.</li>
 * </ul>
 * Hence the end of one collective flows into the next, whatever their kinds, sizes or
 * algorithms, as long as all ranks run the same sequence of steps; the call descriptors make
 * a violation of that (different collectives, types, ops, sizes, roots or settings) a
 * {@link CommFailure.Kind#MISMATCH} at its first step instead of silent garbage. Each group has
 * its own segments and its own step counter, so communicators never interfere.
 *
 * <h2>SHM flag protocol and Java memory model reasoning</h2>
 * The payload is written with plain (non-atomic, possibly vectorised) stores into a
 * {@code MAP_SHARED} mapping, then {@code STEP} is written with {@code VarHandle.setRelease};
 * the reader polls {@code STEP} with {@code getAcquire} and only then reads the payload with
 * plain loads. Within one JVM the JMM's release/acquire rules (the VarHandle memory-order modes
 * apply to memory-segment handles as to fields) make the payload writes happen-before the
 * reads. Across processes the JMM is silent, because it only speaks of one program's threads;
 * what carries the argument there is how those modes are compiled: HotSpot implements a release
 * store as a store after a release fence ({@code stlr} on AArch64, a plain {@code mov} on x86
 * whose TSO already forbids store-store and load-load reordering) and an acquire load as a load
 * before an acquire fence ({@code ldar} on AArch64, a plain {@code mov} on x86), and the JIT
 * does not move ordinary accesses across them. These are properties of the CPU instructions on
 * physical memory, not of the address space: both processes map the same physical pages of the
 * tmpfs file, cache coherence makes the single-copy-atomic 8-byte flag store visible to the
 * other core, and the fences order the payload around it exactly as between two threads. The
 * release store orders the earlier <em>loads</em> too (LoadStore as well as StoreStore): that
 * is what makes "reads of step {@code s} finish before {@code s+1} is published" hold in the
 * hardware, so a writer that sees {@code s+1} can never overwrite data a peer is still
 * loading. A 64-bit aligned store is single-copy atomic on both architectures, so a torn STEP
 * is impossible. One x86 caveat: a release store there is a plain {@code mov}, which does not
 * order earlier non-temporal stores; bulk copies that use them (glibc's {@code memmove} does
 * for very large sizes) end with their own {@code sfence}, and HotSpot's copy stubs and the
 * vector kernels use ordinary stores. What emulation cannot prove: under qemu (TCG) the
 * guest's weak ordering is run on whatever the host gives, and an x86 host is TSO, so a
 * missing or misplaced acquire/release on
 * an emulated AArch64 would almost never show up as a failure; passing tests under qemu (or on
 * x86) therefore show the protocol's logic (steps, parities, mismatch detection, timeouts) but
 * not its fences, which rest on the reasoning above and need real weakly ordered hardware
 * (AArch64, POWER) to be exercised.
 *
 * <h2>Sleeping until a peer publishes</h2>
 * A waiter first spins and yields as its {@link IdleStrategy} says; when the strategy says
 * block, it sleeps on a futex on the low half of the peer's STEP word ({@link Futex}) and the
 * peer's next publish wakes it. The handshake is Dekker's: the sleeper stores its SLEEP word
 * (volatile: a StoreLoad fence) and then re-reads the peer's STEP; the publisher stores STEP
 * (release), fences, and then reads every peer's SLEEP. At least one of them sees the other's
 * store, so either the sleeper does not sleep or the publisher wakes it; and the futex call
 * itself sleeps only while the word still holds the value the sleeper read before, so a publish
 * between the re-read and the call is not lost either. A publisher pays one fence and a read of
 * N-1 rarely written lines per step; a system call only when somebody sleeps. A peer that fails
 * or closes wakes its sleepers too, and every sleep is bounded by the next liveness check, so
 * detection of dead, failed or mismatched peers is unchanged. Without futexes (another OS, an
 * unknown architecture) the strategy parks instead.
 *
 * <p>One instance belongs to one communicator and is used by one thread at a time.
 */
final class StepSequencer {

    /**
     * How often a waiter asks the OS whether the peer it waits for still exists. Only in the
     * slow path (after the first failed poll); a dead process otherwise costs the full timeout.
     */
    static final long LIVENESS_CHECK_NANOS = 100_000_000L;

    private final GroupSpec group;
    private final MemorySegment[] segments;
    private final MemorySegment own;
    private final int rank;
    private final int size;
    private final IdleStrategy idle;
    private final long timeoutNanos;

    /** Peers' processes (pid, start time, pid namespace), from their verified headers. */
    private final ProcessIdentity[] processes;
    /** Whether a peer's pid means the same process here: same pid namespace, known to both. */
    private final boolean[] pidVisible;
    /** A peer whose pid we cannot judge is lost when its HEARTBEAT counter stands still this long. */
    private final long peerLostNanos;
    /** Per peer: the HEARTBEAT counter last read, and when (our clock) it was seen to change. */
    private final long[] lastBeat;
    private final long[] lastBeatChangeNanos;

    /** Whether waits sleep on futexes (else the idle strategy parks). */
    private final boolean futex;
    /** Per group rank: the address, in this process, of the futex half of that rank's STEP word. */
    private final long[] stepFutexAddress;
    /** The relative timeout of a futex wait ({@code struct timespec}), filled per sleep. */
    private final MemorySegment sleepTimeout;

    /** Asked, while waiting for a peer (by world rank), whether it is blocked in another group of ours. */
    private IntFunction<CommFailure> crossGroup;

    /** Where {@link #awaitPeer} adds its time: the collective's peer waits. */
    private final WaitMeter waits;

    /** The last step this rank published. */
    private long step;
    private long startNanos;
    private long call0;
    private long call1;
    private long call2;

    /**
     * @param segments every rank's segment, indexed by group rank, this rank's included
     */
    StepSequencer(GroupSpec group, MemorySegment[] segments, IdleStrategy idle, long timeoutNanos, long peerLostNanos,
                  WaitMeter waits) {
        this.group = group;
        this.waits = waits;
        this.segments = segments;
        this.rank = group.myIndex();
        this.size = group.size();
        this.own = segments[rank];
        this.idle = idle;
        this.timeoutNanos = timeoutNanos;
        this.processes = new ProcessIdentity[size];
        this.pidVisible = new boolean[size];
        long myNamespace = getWord(own, PID_NAMESPACE_OFFSET);
        for (int p = 0; p < size; p++) {
            // Words from shared memory: a negative one (never written by a real process) reads
            // as "unknown", which is never judged.
            processes[p] = new ProcessIdentity(Math.max(0, getWord(segments[p], PID_OFFSET)),
                    Math.max(0, getWord(segments[p], START_MILLIS_OFFSET)),
                    Math.max(0, getWord(segments[p], PID_NAMESPACE_OFFSET)));
            pidVisible[p] = myNamespace != 0 && processes[p].pidNamespace() == myNamespace;
        }
        this.peerLostNanos = peerLostNanos;
        this.futex = Futex.AVAILABLE;
        this.stepFutexAddress = new long[size];
        for (int p = 0; p < size; p++) stepFutexAddress[p] = segments[p].address() + STEP_FUTEX_OFFSET;
        this.sleepTimeout = Arena.ofAuto().allocate(16, 8);
        this.lastBeat = new long[size];
        this.lastBeatChangeNanos = new long[size];
        long now = System.nanoTime();
        for (int p = 0; p < size; p++) {
            lastBeat[p] = heartbeatAcquire(segments[p]);
            lastBeatChangeNanos[p] = now;
        }
    }

    /** The segment of group rank {@code p}. */
    MemorySegment segment(int p) {
        return segments[p];
    }

    /** Installs the cross-group deadlock check (see {@code CrossGroupWatch}); once, at open. */
    void watchCrossGroups(IntFunction<CommFailure> check) {
        this.crossGroup = check;
    }

    /** True when some peer cannot judge our pid (nor we theirs): our segment must be beaten. */
    boolean needsHeartbeat() {
        for (int p = 0; p < size; p++) {
            if (p != rank && !pidVisible[p]) return true;
        }
        return false;
    }

    /**
     * Starts a collective: records what it is (for peers and for error messages) and starts its
     * deadline.
     */
    void begin(CallDescriptor.Kind kind, ElementType type, Combiner op, int root, long bytes, long plan) {
        call0 = CallDescriptor.word0(kind, type, op, root);
        call1 = bytes;
        call2 = plan;
        long now = System.nanoTime();
        startNanos = now;
    }

    /** Parity of the data area the next step writes; fill {@code A[nextParity()]} before publishing. */
    int nextParity() {
        return (int) ((step + 1) & 1);
    }

    /** Writes this step's call descriptor, then publishes the next step number with a release store. */
    void publishRelease() {
        long s = step + 1;
        int parity = (int) (s & 1);
        setWord(own, callOffset(parity, 0), call0);
        setWord(own, callOffset(parity, 1), call1);
        setWord(own, callOffset(parity, 2), call2);
        step = s;
        stepRelease(own, s);
        if (futex) wakeSleepers();
    }

    /**
     * The publisher's half of the sleep handshake: after the STEP store, a full fence (StoreLoad),
     * then every peer's SLEEP; a peer that sleeps on our STEP gets a wake-up.
     */
    private void wakeSleepers() {
        VarHandle.fullFence();
        long me = rank + 1;
        for (int q = 0; q < size; q++) {
            if (q != rank && sleepAcquire(segments[q]) == me) {
                Futex.wakeAll(stepFutexAddress[rank]);
                return;
            }
        }
    }

    /**
     * Waits until every peer has published the current step, then checks that each peer runs
     * the same call. After it returns, every peer's area of this step may be read.
     */
    void awaitAllAcquire() {
        long s = step;
        int parity = (int) (s & 1);
        for (int p = 0; p < size; p++) {
            if (p == rank) continue;
            MemorySegment peer = segments[p];
            if (stepAcquire(peer) < s) {
                awaitPeer(p, peer, s);
            }
            // Plain reads suffice: the acquire of STEP above ordered them after the peer's writes.
            // The words are only compared (and decoded range-checked for the message), never
            // used as a length or offset: a corrupt peer cannot steer this rank's accesses.
            long peer0 = getWord(peer, callOffset(parity, 0));
            long peer1 = getWord(peer, callOffset(parity, 1));
            long peer2 = getWord(peer, callOffset(parity, 2));
            if (peer0 != call0 || peer1 != call1 || peer2 != call2) {
                throw mismatch(p, peer0, peer1, peer2);
            }
        }
    }

    private void awaitPeer(int p, MemorySegment peer, long s) {
        idle.reset();
        long waitStart = System.nanoTime();
        long lastLivenessCheck = waitStart;
        int crossedChecks = 0;
        while (stepAcquire(peer) < s) {
            if (stateAcquire(peer) != STATE_OPEN && stepAcquire(peer) < s) {
                // STATE is released after the peer's last STEP, so re-reading STEP after
                // seeing STATE tells "closed after finishing this step" from "gone before it".
                throw peerGone(p, stateAcquire(peer));
            }
            long now = System.nanoTime();
            if (now - startNanos > timeoutNanos) {
                throw timeout(s);
            }
            if (now - lastLivenessCheck > LIVENESS_CHECK_NANOS) {
                lastLivenessCheck = now;
                if (!processAlive(p) && stepAcquire(peer) < s) {
                    throw processGone(p, s);
                }
                if (!pidVisible[p] && heartbeatStopped(p, now) && stepAcquire(peer) < s) {
                    throw heartbeatLost(p, s, now);
                }
                failIfAnotherPeerFailed();
                CommFailure crossed = crossGroup == null ? null : crossGroup.apply(group.worldRank(p));
                // Twice in a row, 100 ms apart: a reading of two groups' steps is not atomic.
                crossedChecks = crossed == null ? 0 : crossedChecks + 1;
                if (crossedChecks >= 2 && stepAcquire(peer) < s) {
                    throw crossed;
                }
            }
            if (!futex) {
                idle.idle();
                continue;
            }
            long block = idle.idleOrBlock();
            if (block > 0) {
                // Never past the next liveness check or the deadline: those are polled, not woken.
                long untilCheck = lastLivenessCheck + LIVENESS_CHECK_NANOS - now;
                long untilDeadline = startNanos + timeoutNanos - now;
                sleepOn(p, peer, s, Math.max(1_000, Math.min(block, Math.min(untilCheck, untilDeadline))));
            }
        }
        idle.waitEnded();
        // The start was read anyway; the end costs a clock read only while someone records.
        waits.addSince(waitStart);
    }

    /** The sleeper's half of the handshake (see the class comment); returns when woken or timed out. */
    private void sleepOn(int p, MemorySegment peer, long s, long nanos) {
        int word = stepFutexWordAcquire(peer);
        sleepVolatile(own, p + 1);
        if (stepAcquire(peer) < s && stateAcquire(peer) == STATE_OPEN) {
            Futex.await(stepFutexAddress[p], word, sleepTimeout, nanos);
        }
        sleepRelease(own, 0);
    }

    /**
     * A crashed peer (kill -9, OOM killer) never writes CLOSED; its pid tells. The start time
     * guards against the pid having been reused by an unrelated process since. A peer in another
     * pid namespace (containers sharing /dev/shm only), or this JVM itself, is never declared
     * dead this way ({@link ProcessIdentity#knownGone}); the heartbeat or the timeout bounds it.
     */
    private boolean processAlive(int p) {
        return !processes[p].knownGone();
    }

    /**
     * Marks this rank FAILED, recording what it blames, so that waiting peers fail fast and name
     * the same lost rank instead of this one.
     */
    void markFailed(CommFailure.Kind kind, int blamedWorldRank) {
        failedRelease(own, kind.code(), blamedWorldRank);
        if (futex) wakeSleepers();
    }

    /** Marks this rank's segment so that waiting peers fail fast instead of timing out. */
    void markState(long state) {
        stateRelease(own, state);
        if (futex) wakeSleepers();
    }

    /** How this rank has been waiting (its idle strategy's account), for diagnostics. */
    String waitingSummary() {
        return idle.toString();
    }

    /** The last published step (for tests and diagnostics). */
    long step() {
        return step;
    }

    /** The current call as text, e.g. for failure messages. */
    String operation() {
        return CallDescriptor.describe(call0, call1, call2);
    }

    private CommFailure timeout(long s) {
        List<Integer> missing = new ArrayList<>();
        List<Integer> missingWorld = new ArrayList<>();
        for (int p = 0; p < size; p++) {
            if (p != rank && stepAcquire(segments[p]) < s) {
                missing.add(p);
                missingWorld.add(group.worldRank(p));
            }
        }
        int first = missingWorld.isEmpty() ? -1 : missingWorld.getFirst();
        return new CommFailure(CommFailure.Kind.TIMEOUT, first, group.name(), operation(),
                "rank " + rank + " (world " + group.myWorldRank() + ") waited " + timeoutNanos / 1_000_000
                        + " ms at step " + s + " for group ranks " + missing + " (world ranks " + missingWorld
                        + ") which had not arrived", null);
    }

    /**
     * A member that FAILED takes part in no later step and the group is finished for everyone,
     * whoever this rank happens to be waiting for: fail now, naming what that member reported (a
     * lost rank, a mismatch), rather than later naming the rank this one waited for.
     */
    private void failIfAnotherPeerFailed() {
        for (int q = 0; q < size; q++) {
            if (q != rank && stateAcquire(segments[q]) == STATE_FAILED) {
                throw peerGone(q, STATE_FAILED);
            }
        }
    }

    private CommFailure peerGone(int p, long state) {
        if (state == STATE_FAILED) {
            // Plain read: the acquire of STATE ordered it after the peer's write. Range-checked,
            // used only for the message and the blamed rank.
            int kind = blameKind(segments[p]);
            int blamed = blamedWorldRank(segments[p]);
            if (kind == CommFailure.Kind.PEER_LOST.code() && blamed >= 0 && blamed != group.myWorldRank()) {
                return new CommFailure(CommFailure.Kind.PEER_LOST, blamed, group.name(), operation(),
                        "world rank " + blamed + " was lost (reported by group rank " + p + ", world "
                                + group.worldRank(p) + ", which failed before reaching step " + step + ")", null);
            }
            if (kind == CommFailure.Kind.MISMATCH.code() && blamed >= 0) {
                // The reporter names the other party of the mismatch; if that is this rank, the
                // party to name here is the reporter.
                boolean me = blamed == group.myWorldRank();
                return new CommFailure(CommFailure.Kind.MISMATCH, me ? group.worldRank(p) : blamed, group.name(),
                        operation(), "group rank " + p + " (world " + group.worldRank(p) + ") found its call mismatched with "
                        + (me ? "this rank's" : "world rank " + blamed + "'s") + " and failed before reaching step " + step, null);
            }
        }
        boolean closed = state == STATE_CLOSED;
        return new CommFailure(closed ? CommFailure.Kind.PEER_LOST : CommFailure.Kind.ABORTED, group.worldRank(p),
                group.name(), operation(), "group rank " + p + " (world " + group.worldRank(p) + ") "
                + (closed ? "closed its communicator" : state == STATE_FAILED ? "failed in an earlier collective"
                : "is in unknown state " + state) + " before reaching step " + step, null);
    }

    /**
     * For waits outside the step protocol (the mailboxes): why peer {@code p} is known to be
     * lost, or null while it may be alive. Asks the OS (and the heartbeat), so callers ask at
     * most every {@link #LIVENESS_CHECK_NANOS}.
     */
    String lossOf(int p, long now) {
        if (!processAlive(p)) return "its process " + processes[p].pid() + " died";
        if (!pidVisible[p] && heartbeatStopped(p, now)) {
            return "its process " + processes[p].pid() + " of another pid namespace stopped its heartbeat "
                    + (now - lastBeatChangeNanos[p]) / 1_000_000 + " ms ago";
        }
        return null;
    }

    /**
     * Whether peer {@code p}'s HEARTBEAT counter has not moved for {@link #peerLostNanos}. Only
     * sampled every {@link #LIVENESS_CHECK_NANOS} of waiting, so a counter that moved while
     * nobody looked counts as alive at the first look.
     */
    private boolean heartbeatStopped(int p, long now) {
        long beat = heartbeatAcquire(segments[p]);
        if (beat != lastBeat[p]) {
            lastBeat[p] = beat;
            lastBeatChangeNanos[p] = now;
            return false;
        }
        return now - lastBeatChangeNanos[p] > peerLostNanos;
    }

    private CommFailure heartbeatLost(int p, long s, long now) {
        return new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(p), group.name(), operation(),
                "group rank " + p + " (world " + group.worldRank(p) + "), process " + processes[p].pid()
                        + " of another pid namespace, stopped its heartbeat "
                        + (now - lastBeatChangeNanos[p]) / 1_000_000 + " ms ago (bound "
                        + peerLostNanos / 1_000_000 + " ms) before reaching step " + s, null);
    }

    private CommFailure processGone(int p, long s) {
        return new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(p), group.name(), operation(),
                "group rank " + p + " (world " + group.worldRank(p) + "), process " + processes[p].pid()
                        + ", died before reaching step " + s, null);
    }

    private CommFailure mismatch(int p, long peer0, long peer1, long peer2) {
        String theirs = CallDescriptor.describe(peer0, peer1, peer2);
        return new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(p), group.name(), operation(),
                "group rank " + p + " (world " + group.worldRank(p) + ") called " + theirs + " at step " + step
                        + "; the " + CallDescriptor.difference(call0, call1, call2, peer0, peer1, peer2)
                        + " differs", null);
    }
}
