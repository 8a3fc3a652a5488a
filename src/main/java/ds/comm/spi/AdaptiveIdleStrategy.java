package ds.comm.spi;

import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * Spin while spinning pays, then yield a little, then block: the default way ranks wait.
 *
 * <h2>Why adaptive</h2>
 * A fixed spin budget is right for one machine only. With a core per rank a peer that is late
 * arrives within microseconds and spinning catches it at once; with more runnable threads than
 * cores (ranks outnumbering cores, another job's ranks, compute threads beside the all-reduce)
 * the peer we wait for is often <em>not running</em>, and every microsecond we spin is taken
 * from the core it needs: a 20 000-poll spin made 4 ranks on 2 cores 100x slower than parking.
 *
 * <h2>What it observes</h2>
 * <ul>
 *   <li><b>The node</b>, as a prior: {@code ranksOnNode} against {@code cpus} (the JVM's
 *       {@link Runtime#availableProcessors()}, which honours affinity masks and cgroup quotas).
 *       An oversubscribed node spins only a few polls ({@link #OVERSUBSCRIBED_SPIN_NANOS}) and
 *       then yields to the ranks queued behind it.</li>
 *   <li><b>Preemption while spinning</b>: polls are a few tens of nanoseconds apart, so two
 *       consecutive polls more than {@link #PREEMPTED_GAP_NANOS} apart mean the scheduler took
 *       this core away: someone else wanted it, so spinning is stealing. The spin budget halves
 *       (this wait's spin with it) and no growth is allowed for {@link #CONTENTION_MEMORY_NANOS}.
 *       This is what catches a busy process or another job that no count of our own ranks can
 *       see; halving rather than dropping keeps a lone preemption (a tick, the hypervisor) from
 *       sending every short wait to sleep.</li>
 *   <li><b>A yield that handed the core over</b>: a {@link Thread#yield()} with nobody queued on
 *       this core returns in a microsecond or two; one that took longer than
 *       {@link #HANDED_OVER_NANOS} ran somebody else, on this waiter's core. When the wait ends
 *       right after it, the peer we wait for was most likely that somebody (the scheduler put
 *       both ranks on one core, which it does for milliseconds after a stranger preempted one of
 *       them; a compiler thread run in a yield after which the peer is still missing does not
 *       count), and every nanosecond spun delays it: the spin halves, down to a few polls
 *       ({@link #HANDED_OVER_MIN_SPIN_NANOS}, below a core-per-rank minimum), and that wait
 *       teaches nothing. Unlike a preemption it is not remembered: the scheduler separates the ranks
 *       again within milliseconds, and a spin kept short after that sends every wait to sleep
 *       (a 30-40 us call each, measured). Without this, such waits fed the spin budget (each
 *       ended past the spin but within the ceiling, "missed by little"), the budget grew to the
 *       ceiling, and two ranks on one core took turns spinning a whole slice each: 2 ranks,
 *       64 KiB decode, both pinned to one of 2 processors, mean 636 us a call.</li>
 *   <li><b>Threads queued for a processor</b>: every {@link #RUN_QUEUE_SAMPLE_NANOS} of a spin,
 *       the machine's count of runnable threads ({@link RunQueue}). Above the processor count at
 *       {@link #QUEUED_LOOKS} looks in a row, somebody waits for a core while we spin on one:
 *       the JIT compiling the application's code, a collector, a busy process, or the very peer
 *       we wait for, preempted. The spin
 *       ends there and the waiter yields, then blocks, which hands over the core; the budget does
 *       not grow from such a wait. Measured on 2 vCPUs, 2 ranks: a fresh process's first 2 000
 *       decode calls had every second call at 1.4 ms while C2 compiled the caller's loop (the
 *       compiler thread queued behind two spinning ranks), and a busy process beside the ranks
 *       made the mean 5x Open MPI's. Preemption (above) sees only contention for this waiter's
 *       own core, and only after a slice is lost.</li>
 *   <li><b>How waits end</b>: a wait that ended after the spin budget ran out, but within the
 *       ceiling, would have been caught by a longer spin, so the budget grows to cover it (at
 *       least doubling, to 1.5 times that wait); a wait that ended while spinning lets it grow
 *       slowly; a wait longer than the ceiling changes nothing (no allowed spin would have
 *       helped, and blocking cost nothing). The budget stays within [{@link #MIN_SPIN_NANOS},
 *       ceiling] (on an oversubscribed node it stays at its few polls). Covering the wait, not
 *       just doubling, matters after contention: a spin cut to 1 us by preemptions must come
 *       back within a few waits once they stop, or every 5 us wait of a decode loop pays a
 *       20-100 us wake-up.</li>
 * </ul>
 *
 * <h2>Blocking</h2>
 * A waiter that can be woken by its peer ({@link #idleOrBlock()}: a futex on the peer's flag, a
 * selector on the socket) blocks as long as it likes; the peer's progress ends the block
 * immediately, so a long block costs no latency. A waiter that cannot be woken ({@link #idle()})
 * parks instead, and there every park is an oversleep risk: a park lasts at most an eighth of
 * the time already waited (between {@code minParkNanos} and {@code maxParkNanos}), so the
 * oversleep is bounded by about 12% of the wait and never exceeds {@code maxParkNanos}.
 *
 * <p>Everything is measured with {@link System#nanoTime()} (tens of nanoseconds); nothing
 * allocates. One instance belongs to one waiting thread (one per communicator), so what it
 * learns is that thread's.
 */
public final class AdaptiveIdleStrategy implements IdleStrategy {

    /**
     * Shortest spin budget a rank with a core learns: about the cost of one cross-core
     * cache-line transfer and a re-poll.
     */
    public static final long MIN_SPIN_NANOS = 1_000;

    /** Default spin ceiling of the production policy ({@code IdlePolicy.adaptive()}, {@link Settings#defaults()}). */
    public static final long DEFAULT_MAX_SPIN_NANOS = 1_000_000;
    /** Default shortest park of the production policy. */
    public static final long DEFAULT_MIN_PARK_NANOS = 1_000;
    /** Default longest park of the production policy. */
    public static final long DEFAULT_MAX_PARK_NANOS = 1_000_000;
    /**
     * Two polls this far apart while spinning: the thread was descheduled for a share of a time
     * slice (a contender's slice is a millisecond or more). Shorter gaps are interrupts and the
     * hypervisor's hiccups on a virtual machine; counting them made a quiet 2-vCPU machine
     * sleep on 1% of its waits and pay a 100-300 us wake-up for each.
     */
    public static final long PREEMPTED_GAP_NANOS = 250_000;
    /**
     * How often a spinning waiter looks at the machine's run queue: a look costs a few
     * microseconds (a {@code pread} of {@code /proc/loadavg}), so waits shorter than this, the
     * common ones with a core per rank, never pay it.
     */
    public static final long RUN_QUEUE_SAMPLE_NANOS = 20_000;
    /**
     * Consecutive looks that must find threads queued before the spin ends: a contender that
     * matters (a compiler thread, a busy process) stays queued for milliseconds, while a kernel
     * worker or a thread waking for a moment is gone by the next look, and ending the spin for it
     * costs a sleeping rank's wake-up (50-200 us on a virtual machine) for nothing. Measured with
     * one look: the barrier-separated sweep's 64 KiB and 1 MiB medians doubled.
     */
    static final int QUEUED_LOOKS = 3;
    /**
     * A yield this long ran another thread on this core. Measured on a 2-vCPU virtual machine,
     * 2 million yields on an otherwise idle core: 99.8% returned within 2 us, the rest took
     * 8 us or more (the JVM's own threads, kernel workers: real hand-overs too). Two ranks on one
     * core handing it to each other show gaps of the peer's whole step, 5 us and up.
     */
    public static final long HANDED_OVER_NANOS = 5_000;
    /**
     * Floor of the spin after hand-overs: a few polls, as on an oversubscribed node. While two
     * ranks share one core every wait ends in a hand-over, and every nanosecond spun before it
     * is taken from the peer that wait needs. The first wait after the scheduler separates them
     * again ends within the yields and grows the budget back at once (it is not remembered).
     */
    public static final long HANDED_OVER_MIN_SPIN_NANOS = 250;
    /** After a preemption the spin budget may not grow for this long. */
    public static final long CONTENTION_MEMORY_NANOS = 20_000_000L;
    /**
     * Spin budget, fixed, on a node where our own ranks outnumber the processors: a few polls.
     * A peer that is not running cannot arrive while we spin, and there one usually is not: every
     * microsecond spun is taken from the core a queued peer needs. Measured on 2 vCPUs (3 and 4
     * ranks, the barrier-separated sweep, interleaved): a spin allowed to learn up to 8 us (it
     * did: a wait ended by a yield looks "missed by little") gave 4 KiB medians of 26-40 us, a
     * 1 us ceiling 8-19 us, this one 9-13 us; 64 KiB 51-80, 44-58 and 38-52 us.
     */
    public static final long OVERSUBSCRIBED_SPIN_NANOS = 250;
    /** Yields between the spin and the block phase: cheap, and they let a peer on our core run. */
    static final int YIELDS = 4;
    /**
     * On a node where our own ranks outnumber the processors, a waiter keeps yielding this long
     * before it sleeps. The ranks it waits for are runnable, queued behind it: a yield hands them
     * the core at once and costs nothing when nobody is queued, while a sleeper must be woken by a
     * system call and rescheduled (tens of microseconds on a virtual machine). Not so against an
     * unknown contender (preemptions only): a busy process keeps the core its whole slice once
     * handed it, while a sleeper that is woken preempts it.
     */
    static final long OVERSUBSCRIBED_YIELD_NANOS = 200_000;
    /** Longest block a waiter that can be woken is told to make (it re-checks its deadline then). */
    static final long MAX_BLOCK_NANOS = 20_000_000L;

    private final long ceilingNanos;
    private final long minParkNanos;
    private final long maxParkNanos;
    private final boolean oversubscribed;
    /** {@link System#nanoTime()}, or a test's clock. */
    private final LongSupplier clock;
    /** Whether threads are queued for a processor on this machine; null when it cannot tell. */
    private final BooleanSupplier cpuWanted;

    /** Current spin budget, learned. */
    private long spinNanos;
    /** Whether this thread was ever seen preempted while spinning, and when last. */
    private boolean contended;
    private long contendedAtNanos;

    // Per wait.
    private boolean inWait;
    private long waitStart;
    private long lastPoll;
    private int yields;
    private boolean pastSpin;
    private boolean preemptedThisWait;
    /** The previous poll of this wait yielded (so the gap to the next one is the yield's length). */
    private boolean yielded;
    private boolean handedOverThisWait;
    private long nextRunQueueLook;
    /** Consecutive looks of this wait that found threads queued. */
    private int queuedLooks;
    private boolean queuedThisWait;

    // Counters, for tests and diagnostics.
    private long waits;
    private long blockedWaits;
    private long preemptions;
    private long handOvers;
    private long queuedEnds;

    /**
     * @param maxSpinNanos longest spin budget when each rank has a core
     * @param minParkNanos shortest park of a waiter that cannot be woken
     * @param maxParkNanos longest park of such a waiter
     * @param ranksOnNode  ranks of this job on this node (1 if unknown)
     * @param cpus         processors this JVM may use
     */
    public AdaptiveIdleStrategy(long maxSpinNanos, long minParkNanos, long maxParkNanos, int ranksOnNode, int cpus) {
        this(maxSpinNanos, minParkNanos, maxParkNanos, ranksOnNode, cpus, System::nanoTime, machineRunQueue());
    }

    private static BooleanSupplier machineRunQueue() {
        RunQueue q = RunQueue.machine();
        return q == null ? null : q::oversubscribed;
    }

    /**
     * As the public constructor, reading time from {@code clock} and the run queue from
     * {@code cpuWanted} (null: never looked at); tests drive both by hand.
     */
    AdaptiveIdleStrategy(long maxSpinNanos, long minParkNanos, long maxParkNanos, int ranksOnNode, int cpus,
                         LongSupplier clock, BooleanSupplier cpuWanted) {
        this.clock = clock;
        this.cpuWanted = cpuWanted;
        if (maxSpinNanos < MIN_SPIN_NANOS || minParkNanos < 1 || maxParkNanos < minParkNanos || ranksOnNode < 1 || cpus < 1) {
            throw new IllegalArgumentException("invalid adaptive idle: maxSpin=" + maxSpinNanos + " ns, park=" + minParkNanos
                    + ".." + maxParkNanos + " ns, ranks on node " + ranksOnNode + ", cpus " + cpus);
        }
        this.oversubscribed = ranksOnNode > cpus;
        // Oversubscribed: the spin is a few polls and never learns to be longer (see the constant).
        this.ceilingNanos = oversubscribed ? OVERSUBSCRIBED_SPIN_NANOS : maxSpinNanos;
        this.minParkNanos = minParkNanos;
        this.maxParkNanos = maxParkNanos;
        this.spinNanos = oversubscribed ? OVERSUBSCRIBED_SPIN_NANOS : Math.max(MIN_SPIN_NANOS, ceilingNanos / 4);
    }

    @Override
    public void reset() {
        if (inWait) {
            if (yielded) sawYield(clock.getAsLong());
            learn();
        }
        inWait = false;
        yields = 0;
        pastSpin = false;
        yielded = false;
        preemptedThisWait = false;
        handedOverThisWait = false;
        queuedThisWait = false;
        queuedLooks = 0;
    }

    @Override
    public void waitEnded() {
        if (!inWait) return;
        long now = clock.getAsLong();
        if (yielded) sawYield(now);
        lastPoll = now;
        learn();
        inWait = false;
    }

    /**
     * Judges the yield made at the last poll of a wait that has now ended: one that took longer
     * than {@link #HANDED_OVER_NANOS} ran another thread on this core, and the peer arrived
     * during it, so the peer was most likely that thread (the spin halves).
     */
    private void sawYield(long now) {
        yielded = false;
        if (now - lastPoll <= HANDED_OVER_NANOS) return;
        handOvers++;
        handedOverThisWait = true;
        spinNanos = Math.min(ceilingNanos, Math.max(HANDED_OVER_MIN_SPIN_NANOS, spinNanos >> 1));
    }

    /**
     * Adjusts the spin budget from how the previous wait ended: at its {@link #waitEnded()}, or
     * (when the caller does not say) at its last poll.
     */
    private void learn() {
        waits++;
        long waited = lastPoll - waitStart;
        if (pastSpin) blockedWaits++;
        if (preemptedThisWait || handedOverThisWait || queuedThisWait || contended && lastPoll - contendedAtNanos < CONTENTION_MEMORY_NANOS) {
            return;
        }
        if (!pastSpin) {
            // Caught while spinning: the budget is enough; creep up, so that it keeps up with a
            // peer whose lateness slowly grows.
            spinNanos = Math.min(ceilingNanos, spinNanos + (spinNanos >> 4) + 16);
        } else if (waited <= ceilingNanos) {
            // Missed, but an allowed spin would have caught it: cover it next time.
            spinNanos = Math.min(ceilingNanos, Math.max(spinNanos << 1, waited + (waited >> 1)));
        }
    }

    /** The phase logic shared by both entry points: 0 to poll again, else a block length. */
    private long next() {
        long now = clock.getAsLong();
        // A yield after which the peer is still not there proves nothing about it: whoever ran
        // in it (a compiler thread, a collector) is not what we wait for.
        yielded = false;
        if (!inWait) {
            inWait = true;
            waitStart = now;
            lastPoll = now;
            nextRunQueueLook = now + RUN_QUEUE_SAMPLE_NANOS;
        }
        long gap = now - lastPoll;
        lastPoll = now;
        long waited = now - waitStart;
        if (!pastSpin) {
            if (gap > PREEMPTED_GAP_NANOS) {
                // Halve, not drop: on a shared (virtual) machine an occasional preemption is
                // noise (a timer tick, the hypervisor), and a spin cut to nothing would send
                // every short wait to sleep and pay a wake-up for it. Repeated preemptions,
                // the mark of a real contender for this core, still bring it down within a few.
                preemptions++;
                preemptedThisWait = true;
                contended = true;
                contendedAtNanos = now;
                spinNanos = Math.min(ceilingNanos, Math.max(MIN_SPIN_NANOS, spinNanos >> 1));
            }
            if (waited < spinNanos && !(cpuWanted != null && now - nextRunQueueLook >= 0 && queued(now))) {
                Thread.onSpinWait();
                return 0;
            }
            pastSpin = true;
        }
        if (yields < YIELDS || oversubscribed && waited < spinNanos + OVERSUBSCRIBED_YIELD_NANOS) {
            yields++;
            yielded = true;
            Thread.yield();
            return 0;
        }
        return Math.max(minParkNanos, Math.min(MAX_BLOCK_NANOS, waited));
    }

    /** Looks at the run queue (the caller checked it is time to); true ends the spin. */
    private boolean queued(long now) {
        nextRunQueueLook = now + RUN_QUEUE_SAMPLE_NANOS;
        if (!cpuWanted.getAsBoolean()) {
            queuedLooks = 0;
            return false;
        }
        if (++queuedLooks < QUEUED_LOOKS) return false;
        queuedThisWait = true;
        queuedEnds++;
        return true;
    }

    @Override
    public long idleOrBlock() {
        return next();
    }

    @Override
    public void idle() {
        long block = next();
        if (block > 0) {
            long waited = lastPoll - waitStart;
            LockSupport.parkNanos(Math.max(minParkNanos, Math.min(maxParkNanos, waited >> 3)));
        }
    }

    /** The current spin budget in nanoseconds. */
    public long spinNanos() {
        return spinNanos;
    }

    /** Whether the node prior said more ranks than processors. */
    public boolean oversubscribed() {
        return oversubscribed;
    }

    /** Waits finished so far (counted at the following {@link #reset()}). */
    public long waits() {
        return waits;
    }

    /** Of those, the ones that went past the spin phase. */
    public long blockedWaits() {
        return blockedWaits;
    }

    /** Spins ended because threads were queued for a processor. */
    public long queuedEnds() {
        return queuedEnds;
    }

    /** Waits in which a yield of this thread ran another thread on its core. */
    public long handOvers() {
        return handOvers;
    }

    /** Times this thread was seen descheduled while spinning. */
    public long preemptions() {
        return preemptions;
    }

    @Override
    public String toString() {
        return "adaptive(spin " + spinNanos + " ns of max " + ceilingNanos + (oversubscribed ? ", oversubscribed" : "")
                + ", park " + minParkNanos + ".." + maxParkNanos + " ns; " + waits + " waits, " + blockedWaits
                + " past the spin, " + preemptions + " preempted while spinning, " + handOvers + " yields handed the core over, " + queuedEnds
                + " spins ended for queued threads)";
    }
}
