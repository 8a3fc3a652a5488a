package ds.comm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.KernelWarmUp;
import ds.comm.lanes.Reducer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The JIT warm-up that {@link Communicator#init()} runs, when asked ({@code DSCOMM_WARMUP=1},
 * {@link CommConfig.Builder#warmUp}), so that the first collective a user times already runs
 * compiled code.
 *
 * <p><b>Off by default, for now.</b> Measured on the project's 2-vCPU machine: with it, the first
 * 2 000 decode calls after {@code init()} have Open MPI's median (instead of ~40 us with 7.5 ms
 * calls at the start), but the steady state of the SHM all-reduce at 64 KiB and 1 MiB was up to
 * 2x slower than without it (p50 19-31 us against 10-11 us, same runs, interleaved), because C2
 * then compiles from the warm-up's profile: most likely the short loops' trip counts, which
 * steer loop unrolling; warming with 4x longer loops did not remove it. Until the warm-up
 * leaves the same code as real traffic does, a job trades its first second for its steady state
 * only when it asks to.
 *
 * <p>Two parts. The <b>kernels</b> ({@link KernelWarmUp}) are the expensive one (a second or so
 * of C2 work per process) and need no peer: they run on a daemon thread started before the
 * rendezvous, so they overlap the wait for the other ranks' JVMs, and {@code init()} joins them
 * after the world communicator is open. The <b>collective path</b> (argument checks, the step
 * protocol or the ring's frame loop) is cheap but needs the peers: {@link #COLLECTIVE_CALLS}
 * small all-reduces (the decode path; a first large message later compiles the chunked path in
 * the background, at a one-time cost of milliseconds). They are fp32 SUM, a kernel every
 * non-empty warm-up set includes. Every rank first agrees (one MIN
 * all-reduce) on whether all want the warm-up, so a rank started with {@code DSCOMM_WARMUP=0}
 * beside others cannot cause a mismatch (nor run 3 000 calls through kernels it did not compile).
 * A JVM without C2 ({@code -XX:TieredStopAtLevel=1}, {@code -Xint}) cannot compile the kernels
 * with vector intrinsics at all and votes no, instead of spending the budget for nothing.
 */
final class WarmUp {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    /** Collective calls of the warm-up: enough for C1 and most of the C2 thresholds. */
    static final int COLLECTIVE_CALLS = 3000;
    /** Bytes of the small warm-up all-reduce: a decode-sized tensor's loops, cheap to move. */
    static final long SMALL_BYTES = 4096;
    /**
     * How long init()'s kernel warm-up may take before init() goes on without it (~1 s is usual
     * on an idle core; a JVM without C2, an emulated CPU or a machine with no core to spare
     * would otherwise make every init() wait for nothing).
     */
    static final long KERNEL_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** The budget of an explicit {@link Communicator#warmUp}: the caller asked for it. */
    static final long EXPLICIT_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(20);

    private final WarmUpSet set;
    private final Thread thread;
    private final long startNanos;
    private volatile KernelWarmUp.Report report;
    private volatile Throwable failure;

    private WarmUp(WarmUpSet asked, Reducer reducer, int sources) {
        this.startNanos = System.nanoTime();
        String noC2 = asked.isEmpty() ? null : KernelWarmUp.whyNoOptimizingCompiler();
        if (noC2 != null) {
            LOG.log(System.Logger.Level.DEBUG, "ds-comm warm-up skipped: " + noC2);
        }
        this.set = noC2 == null ? asked : WarmUpSet.NONE;
        if (set.isEmpty()) {
            this.thread = null;
            return;
        }
        List<ElementType> types = new ArrayList<>(List.of(ElementType.FP32));
        List<Combiner> ops = new ArrayList<>(List.of(Combiner.SUM));
        for (WarmUpSet.Kernel k : set.kernels()) {
            types.add(k.type().element());
            ops.add(k.op().combiner());
        }
        this.thread = Thread.ofPlatform().daemon().name("dscomm-warmup").unstarted(() -> {
            try {
                report = KernelWarmUp.run(reducer, types, ops, sources, KERNEL_BUDGET_NANOS);
            } catch (Throwable t) {
                failure = t;
            }
        });
        thread.start();
    }

    /**
     * Starts the kernel warm-up of {@code set} (nothing for an empty set or a world of one), for
     * reductions of {@link #sourcesFor sourcesFor(ranksOnNode)} sources.
     */
    static WarmUp start(WarmUpSet set, Reducer reducer, int worldSize, int ranksOnNode) {
        return new WarmUp(worldSize > 1 ? set : WarmUpSet.NONE, reducer, sourcesFor(ranksOnNode));
    }

    /**
     * Sources per reduction the node's collectives pass: every rank of the node's SHM group (a
     * pair, or the ring and the MPI upcalls: 2).
     */
    static int sourcesFor(int ranksOnNode) {
        return Math.max(2, Math.min(64, ranksOnNode));
    }

    /**
     * Waits for the kernels, then warms the collective path of {@code world} with its peers.
     * Collective: every rank of the world calls it right after opening the world communicator.
     */
    void finish(Communicator world) {
        if (world.size() < 2) return;
        if (thread != null) {
            try {
                thread.join(TimeUnit.NANOSECONDS.toMillis(KERNEL_BUDGET_NANOS) + 5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (report != null && !report.complete()) {
                LOG.log(System.Logger.Level.WARNING, "ds-comm kernel warm-up ran out of time: " + report
                        + "; the first collectives of those kinds run uncompiled (slow) until the JIT catches up");
            }
            if (failure != null) {
                LOG.log(System.Logger.Level.WARNING, "ds-comm kernel warm-up failed; the first collectives run uncompiled: "
                        + failure);
            }
        }
        long collectiveStart = System.nanoTime();
        boolean collectives;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            // Only a rank whose kernels did compile wants the collective part: 3 000 calls through
            // uncompiled kernels would take seconds (minutes on an emulated CPU).
            KernelWarmUp.Report kernels = report;
            boolean want = !set.isEmpty() && kernels != null && kernels.complete();
            flag.set(ValueLayout.JAVA_INT, 0, want ? 1 : 0);
            world.allReduce(flag, DType.INT32, ReduceOp.MIN);
            collectives = flag.get(ValueLayout.JAVA_INT, 0) != 0;
            if (collectives) {
                MemorySegment buf = arena.allocate(SMALL_BYTES, 64);
                for (int i = 0; i < COLLECTIVE_CALLS; i++) {
                    world.allReduce(buf, DType.FP32, ReduceOp.SUM);
                }
            }
        }
        long end = System.nanoTime();
        KernelWarmUp.Report r = report;
        LOG.log(System.Logger.Level.INFO, "ds-comm warm-up (rank {0}): {1}; {2} in {3} ms; init() spent {4} ms in all",
                String.valueOf(world.rank()), r == null ? "no kernel warm-up" : r.toString(),
                collectives ? COLLECTIVE_CALLS + " collective calls" : "no collective calls",
                String.valueOf((end - collectiveStart) / 1_000_000), String.valueOf((end - startNanos) / 1_000_000));
    }
}
