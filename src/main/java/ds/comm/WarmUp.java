package ds.comm;

import ds.comm.lanes.JitActivity;
import ds.comm.lanes.KernelWarmUp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The JIT warm-up that {@link Communicator#init()} runs (by default; {@code DSCOMM_WARMUP=0} or
 * {@link CommConfig.Builder#warmUp CommConfig.warmUp(false)} turn it off), so that the first
 * collective a user times already runs compiled code.
 *
 * <p><b>Why by default.</b> Without it a fresh process's first second of collectives runs the
 * Vector API kernels interpreted (a 16 KiB all-reduce took ~7.5 ms instead of ~1 us) while the
 * JIT's compiler threads take the cores the ranks spin on: the first 2 000 decode calls of a
 * 2-rank job averaged 53-99x Open MPI's on the project's 2-vCPU machine. That second is paid by
 * every process start and every short job, and it is what users' own benchmarks see. Moved into
 * {@code init()} it becomes a one-time cost, logged.
 *
 * <p><b>What it does.</b> Real collectives with the peers, not private kernel runs: all-reduces
 * of every kind in the set at {@link #SMALL_BYTES} and {@link #LARGE_BYTES} in turn (the small
 * size alone for the first {@link #PRELUDE_CALLS}), a barrier now and then, in rounds until
 * {@link #COLLECTIVE_CALLS} are made and no rank's JIT has anything
 * left to compile ({@link JitActivity}), within {@link #BUDGET_NANOS}; twice on the way, one
 * all-reduce of every other element type and operation ({@link #touch}). Both halves of that were
 * measured (2 ranks, 2 vCPUs, interleaved runs):
 * <ul>
 *   <li>A fixed count (3 000 calls) ended while C2 was still compiling the path: its compiler
 *       thread then took a spinning rank's core for a scheduler slice at a time, and every second
 *       call of the user's first ~1 500 took 1.4 ms.</li>
 *   <li>C2 compiles from what it profiled. Kernels driven on private buffers first
 *       ({@link KernelWarmUp}, still behind {@link Communicator#warmUp}) left the fp32 64 KiB
 *       all-reduce at ~2x the median real traffic leaves (17-35 us against 7-11 us). Types
 *       interfered too (each made the other up to 2-4x slower), until the cause was found: the
 *       Vector API's interpreted fallbacks for bf16 lanes store into heap segments through the
 *       JDK methods the kernels inline, and their shared type profiles then made C2 compile every
 *       kernel's stores for "native or heap" ({@code lanes.VectorKernelTemplate}'s {@code NATIVE}
 *       keeps plain native calls apart). The default is fp32 and bf16 (what inference reduces);
 *       a job that reduces one type may name it for a shorter {@code init()}.</li>
 * </ul>
 * Sizes above the one-step limit (the chunked all-reduce, the ring's reduce-scatter) are not
 * warmed: their first calls run in C1 code while C2 compiles them (2 ranks over SHM, 1 MiB: the
 * first 200 calls after {@code init()} at a p50 of 0.5-0.6 ms against 0.2 ms later, about 0.1 s
 * in all), a one-time cost a job that starts with large all-reduces (prefill) pays once.
 * Every rank first agrees (one MIN all-reduce) on whether all want it, so a rank started with
 * {@code DSCOMM_WARMUP=0} beside others cannot cause a mismatch. A JVM without C2
 * ({@code -XX:TieredStopAtLevel=1}, {@code -Xint}) cannot compile the kernels with vector
 * intrinsics at all and votes no, instead of spending the budget for nothing. The JIT's work is
 * the JVM's: each backend's path is warmed once per JVM, and a later {@code init()} in the same
 * process skips it.
 */
final class WarmUp {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    /**
     * Warm-up calls before the JIT's quiet counts: above C2's invocation thresholds for every
     * method of the path (5 000 calls, and a loop's back-edges), so that a quiet JIT means nothing
     * is left, not that the path has not reached C2's thresholds yet.
     */
    static final int COLLECTIVE_CALLS = 12_000;
    /**
     * Warm-up calls made at {@link #SMALL_BYTES} only, before the two sizes alternate. The Vector
     * API's kernels start out interpreted (each vector operation a Java fallback that allocates),
     * and stay so for the first seconds: the JIT raises its compile thresholds while its queue is
     * long with the process's start-up, so a kernel was compiled only after ~2.5 s of warm-up
     * (-Xlog:jit, 2 ranks on 2 vCPUs). Every such call of {@link #LARGE_BYTES} cost as much as 16
     * small ones and counted once all the same. Measured, 6 runs each, interleaved: warm-up
     * 5.3-7.4 s (mean 6.4) without, 4.5-7.2 s (mean 5.4) with 3 000 small calls first (6 000:
     * no better); cold and steady decode alike.
     */
    static final int PRELUDE_CALLS = 3_000;
    /** Bytes of the short warm-up all-reduce. */
    static final long SMALL_BYTES = 4096;
    /**
     * Bytes of the long one: the one-step algorithm's default limit (DSCOMM_SMALL_BYTES), so C2
     * sees its longest loops too (its fastest 64 KiB code was measured after traffic of that size).
     */
    static final long LARGE_BYTES = 64L << 10;
    /** Calls between two votes, once the first rounds (16, 32, 64... calls) have grown to it. */
    static final int ROUND_CALLS = 500;
    /** Calls of the first round. */
    static final int FIRST_ROUND_CALLS = 16;
    /** One warm-up call in this many is followed by a barrier (a power of two). */
    static final int BARRIER_EVERY = 64;
    /** Consecutive votes with no rank compiling that end the warm-up. */
    static final int QUIET_VOTES = 2;
    /**
     * Longest a warm-up goes on: init() took 2.5-9.5 s in all on a 2-vCPU machine with two ranks (their
     * JITs share the cores); a slow machine, or a process whose other threads keep the JIT busy,
     * must not hold init() longer than this.
     */
    static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(10);

    /**
     * Backends whose collective path a warm-up of this JVM already drove: the JIT's work is the
     * JVM's, so a later {@code init()} (another job in one process, a test's next world) skips it.
     */
    private static final Set<Backend> PATHS_WARM = EnumSet.noneOf(Backend.class);

    /** The budget of an explicit {@link Communicator#warmUp}: the caller asked for it. */
    static final long EXPLICIT_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(20);

    private final WarmUpSet set;

    private WarmUp(WarmUpSet set) {
        this.set = set;
    }

    /**
     * The warm-up of {@code set} for this process: nothing for an empty set, and nothing on a JVM
     * that cannot compile the kernels with vector intrinsics (no C2).
     */
    static WarmUp of(WarmUpSet set) {
        String noC2 = set.isEmpty() ? null : KernelWarmUp.whyNoOptimizingCompiler();
        if (noC2 != null) LOG.log(System.Logger.Level.DEBUG, "ds-comm warm-up skipped: " + noC2);
        return new WarmUp(noC2 == null ? set : WarmUpSet.NONE);
    }

    /**
     * Warms the collective path of {@code world} with its peers. Collective: every rank of the
     * world calls it right after opening the world communicator.
     */
    void run(Communicator world) {
        if (world.size() < 2) return;
        long start = System.nanoTime();
        Backend backend = world.backend().backend();
        long calls = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            flag.set(ValueLayout.JAVA_INT, 0, !set.isEmpty() && !pathWarm(backend) ? 1 : 0);
            world.allReduce(flag, DType.INT32, ReduceOp.MIN);
            if (flag.get(ValueLayout.JAVA_INT, 0) == 0) return;
            calls = drive(world, arena, start);
        }
        synchronized (PATHS_WARM) {
            PATHS_WARM.add(backend);
        }
        LOG.log(System.Logger.Level.INFO, "ds-comm warm-up (rank {0}): {1} ({2}) in {3} collective calls, {4} ms",
                String.valueOf(world.rank()), set.label(), backend.label(), String.valueOf(calls),
                String.valueOf((System.nanoTime() - start) / 1_000_000));
    }

    /**
     * Sources per reduction the node's collectives pass, for {@link Communicator#warmUp}: every
     * rank of the node's SHM group (a pair, or the ring and the MPI upcalls: 2).
     */
    static int sourcesFor(int ranksOnNode) {
        return Math.max(2, Math.min(64, ranksOnNode));
    }

    /**
     * Elements of each all-reduce of {@link #touch}: odd, and more than one unrolled step of any
     * kernel at any width, so that both a kernel's loop and the scalar tail run.
     */
    static final int TOUCH_ELEMENTS = 67;

    /**
     * After how many warm-up calls every kind is touched once ({@link #touch}): when the path runs
     * C1's profiling code (past a few hundred calls) and long before C2 compiles it (thousands),
     * twice in case a JVM got there late. Touches spread one by one over the whole warm-up were
     * tried first: C2 compiled the path between two touches, the next touch hit a trap, and the
     * recompilations made init() 2-3 s longer (7.3-9.3 s against 4.9-5.9 s, 3 rounds).
     */
    static final long[] TOUCH_AT_CALLS = {1_000, 3_000};

    /**
     * Kinds {@link #touch} cycles through: every element type with SUM, then every other
     * operation with fp32. The path branches on the element type (the operation only picks a
     * kernel, or a combiner inside the scalar loops, which are compiled apart), so every type once
     * is what the path needs, and every operation once costs little.
     */
    static final int TOUCH_KINDS = DType.values().length + ReduceOp.values().length - 1;

    /**
     * The {@code index}-th (modulo {@link #TOUCH_KINDS}) of the all-reduces that show the path
     * every element type and every operation, {@link #TOUCH_ELEMENTS} elements of
     * {@code buffer}. The warm-up's own kinds are what gets compiled; these are so that what gets
     * compiled has seen the others. C2 turns a branch its profile never saw taken into a trap, and
     * the path's dispatch on the element type (the scalar tail's switch, inlined into
     * {@code Communicator.allReduce} and {@code ShmCollective.allReduce}) had seen only the
     * warm-up's kinds: a job's first all-reduce of another type (the bench's fp64 MAX right after
     * init) threw the compiled path away (JFR {@code jdk.Deoptimization}:
     * {@code ScalarReducer.reduceRange}, {@code unstable_if}) and the calls after it ran
     * interpreted until C2 had compiled it again. The touches are made at
     * {@link #TOUCH_AT_CALLS}, not first: a method is profiled only once the JIT has decided it is
     * warm, so calls made before that leave no trace (measured: 24 of them up front, and the same
     * deoptimisation).
     */
    static void touch(Communicator world, MemorySegment buffer, int index) {
        int i = Math.floorMod(index, TOUCH_KINDS);
        int types = DType.values().length;
        DType type = i < types ? DType.values()[i] : DType.FP32;
        ReduceOp op = i < types ? ReduceOp.SUM : ReduceOp.values()[i - types + 1];
        world.allReduce(buffer.asSlice(0, TOUCH_ELEMENTS * type.byteSize()), type, op);
    }

    private static boolean pathWarm(Backend backend) {
        synchronized (PATHS_WARM) {
            return PATHS_WARM.contains(backend);
        }
    }

    /**
     * Rounds of all-reduces (16, 32, ... then {@link #ROUND_CALLS}), each followed by a vote, until
     * {@link #COLLECTIVE_CALLS} are made and no rank's JIT has had anything to compile in
     * {@link #QUIET_VOTES} votes in a row, or until some rank's {@link #BUDGET_NANOS} have passed.
     * Every kind of the set, at {@link #SMALL_BYTES} and {@link #LARGE_BYTES} in turn (after
     * {@link #PRELUDE_CALLS} small ones), with a barrier now and then. Each vote is one MAX
     * all-reduce of two flags (still busy, out of time) and the decision is taken from its result
     * alone, so every rank stops after the same call: a rank must never leave on a reason its
     * peers did not see.
     *
     * @return the number of calls made
     */
    private long drive(Communicator world, Arena arena, long start) {
        // Heap segments first: C2 must not compile the path assuming there are none.
        KernelWarmUp.loadHeapSegmentClasses();
        MemorySegment large = arena.allocate(LARGE_BYTES, 64);
        MemorySegment small = large.asSlice(0, SMALL_BYTES);
        MemorySegment vote = arena.allocate(ValueLayout.JAVA_INT, 2);
        List<WarmUpSet.Kernel> kinds = set.kernels();
        JitActivity jit = JitActivity.forThisJvm();
        long calls = 0;
        int touched = 0;   // bursts of touches made
        int quiet = 0;
        int round = 0;
        do {
            // Short rounds first: where calls are slow (an emulated CPU, a JVM that has not
            // compiled anything yet), the budget is checked after 16 calls, not 500.
            int n = Math.min(ROUND_CALLS, FIRST_ROUND_CALLS << Math.min(round++, 8));
            for (int i = 0; i < n; i++) {
                // Every kind asked for, both sizes, and now and then a barrier: the collective
                // path is shared, and C2 compiles it from what it saw. A path compiled from
                // all-reduces only deoptimised at a user's first barrier (CallDescriptor.word0's
                // null-type branch, "unstable_if") and ran interpreted until C2 caught up again.
                WarmUpSet.Kernel k = kinds.get((i >> 1) % kinds.size());
                world.allReduce((i & 1) == 0 || calls < PRELUDE_CALLS ? small : large, k.type(), k.op());
                if ((i & (BARRIER_EVERY - 1)) == 0) world.barrier();
            }
            calls += n;
            if (touched < TOUCH_AT_CALLS.length && calls >= TOUCH_AT_CALLS[touched]) {
                for (int t = 0; t < TOUCH_KINDS; t++) touch(world, large, t);
                calls += TOUCH_KINDS;
                touched++;
            }
            // Without the JIT's answer (not HotSpot) the fixed call count alone decides.
            boolean busy = calls < COLLECTIVE_CALLS || jit != null && jit.compiling();
            vote.setAtIndex(ValueLayout.JAVA_INT, 0, busy ? 1 : 0);
            vote.setAtIndex(ValueLayout.JAVA_INT, 1, System.nanoTime() - start >= BUDGET_NANOS ? 1 : 0);
            world.allReduce(vote, DType.INT32, ReduceOp.MAX);
            if (vote.getAtIndex(ValueLayout.JAVA_INT, 1) != 0) break;
            quiet = vote.getAtIndex(ValueLayout.JAVA_INT, 0) != 0 ? 0 : quiet + 1;
        } while (quiet < QUIET_VOTES);
        return calls;
    }
}
