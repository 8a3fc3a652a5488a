package ds.comm.lanes;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Drives reduction kernels through the JIT before anyone waits on them.
 *
 * <h2>Why</h2>
 * A Vector API kernel is only fast once C2 has compiled it with the vector operations
 * intrinsified. Until then (interpreter, C1) every vector operation is a boxed object built
 * through lambdas: a 16 KiB fp32 all-reduce then took ~7.5 ms instead of ~1 us, and a fresh
 * process paid that for about a second of collectives (the first ~30 tokens of a 32-layer
 * model), plus the young-GC pauses of ~100 MB of vector garbage. Doing the same work on
 * private buffers, before a latency-critical loop ({@code Communicator.warmUp(type, ops)}),
 * moves that cost to where a user expects it. ({@code init()} warms with real collectives
 * instead: C2 compiles from what it profiled, and a kernel compiled from this class's private
 * calls left the 64 KiB SHM all-reduce's median at ~2x the one real traffic leaves.)
 *
 * <h2>How compiled is recognised</h2>
 * Not by time, which depends on the machine, but by allocation: the compiled, intrinsified
 * kernel allocates nothing, while the interpreted or C1 one allocates on every vector
 * operation. A kernel counts as compiled when {@link #QUIET_ROUNDS} consecutive rounds of
 * {@link #CALLS_PER_ROUND} calls allocated no byte (the thread's allocation counter of
 * {@code com.sun.management.ThreadMXBean}). Kernels are driven round-robin, so the JIT has all of
 * them queued at once instead of one after another. Without that counter (a JVM that lacks
 * it) each kernel gets a fixed {@link #FALLBACK_CALLS} calls.
 *
 * <h2>What is driven</h2>
 * The kernel's main loop a few times plus a tail (so that the scalar finish is compiled too),
 * cheap even interpreted. Once those calls allocate nothing, one call of {@link #LARGE_BYTES}
 * must allocate nothing too before the kernel counts as compiled, because C2 speculates on what
 * it profiled: a kernel compiled from short loops only carries a loop predicate that fails at
 * the first decode-sized tensor ({@code profile_predicate} deoptimisation at the loop head,
 * measured: every call then interpreted again for ~0.8 s until C2 recompiled). The failing call
 * records the trap, the next compilation drops the speculation, and the proof is repeated.
 * With as many sources as the collectives will pass (the ranks of the node's SHM group; 2 for a
 * pair and for the ring), because C2 compiles what it profiled: a kernel warmed with two and
 * three sources alternately carries the loop over further sources and measured 2x slower on
 * the pairs that a 2-rank job only ever passes, while one warmed with two sources only would
 * deoptimise at the first group of three. On native segments, the class every collective passes. The scalar reference is driven as well when it is
 * the reducer in use; it needs no allocation signal, being cheap in C1 already.
 *
 * <h2>Which segments</h2>
 * Native ones of both session kinds in every call: sources alternate between a shared arena (no
 * owner thread, like the SHM areas a collective reduces from) and a confined one (owner thread,
 * like many callers' tensors); the destination is shared. C2 compiles the segment checks that
 * the Vector API inlines from what it profiled, and the owner test there is a branch: a warm-up
 * on confined segments only left kernels that deoptimised at the first call on a shared segment
 * and then ran interpreted, boxing, until C2 compiled them again (measured: a 64 KiB fp32
 * reduction took ~800 us per call for the first 20 000 calls after such a warm-up, 2.5 us after
 * one on both kinds; {@code KernelWarmUpTest} checks every kind allocates nothing).
 *
 * <h2>Which values</h2>
 * Zeros, except that every other call has a NaN in its first vector step and in its scalar tail.
 * The tail narrows each result with a NaN test ({@link HalfFloats#floatToBf16}): compiled from
 * zeros only, C2 made the NaN side a trap, and the first real tensor with a NaN in its tail threw
 * the compiled kernel away and finished interpreted ({@code unstable_if} at {@code Float.isNaN},
 * {@code -Xlog:deoptimization}; {@code KernelWarmUpTest} saw its 64 bytes when the warm-up
 * ran beside a busy process, so that C2 compiled the tail before the test's calls).
 *
 * <p>What was warmed is remembered per reducer for the life of the JVM: communicators created
 * later (splits, a second {@code init()}) find their kernels compiled.
 */
public final class KernelWarmUp {

    /** Calls of one kernel between two looks at the allocation counter. */
    static final int CALLS_PER_ROUND = 20;
    /** Consecutive allocation-free rounds that count as compiled. */
    static final int QUIET_ROUNDS = 3;
    /** The proof call is this large (a decode-sized tensor): see "What is driven". */
    static final long LARGE_BYTES = 32L << 10;
    /** Calls per kernel when allocation cannot be observed (or for the scalar reducer). */
    static final int FALLBACK_CALLS = 12_000;

    /** (reducer, kernel index) pairs known compiled. */
    private static final Map<Reducer, BitSet> WARM = new IdentityHashMap<>();

    /**
     * What a warm-up did.
     *
     * @param compiled     kernels found compiled by this call, as "type op" names
     * @param notCompiled  kernels still allocating when the budget ran out
     * @param alreadyWarm  kernels an earlier warm-up had compiled
     * @param elapsedNanos time this call took
     */
    public record Report(List<String> compiled, List<String> notCompiled, int alreadyWarm, long elapsedNanos) {

        /** Whether every kernel asked for is compiled. */
        public boolean complete() {
            return notCompiled.isEmpty();
        }

        @Override
        public String toString() {
            return (compiled.isEmpty() ? "no kernel" : compiled.size() + " kernel(s) " + compiled) + " compiled in "
                    + elapsedNanos / 1_000_000 + " ms" + (alreadyWarm > 0 ? ", " + alreadyWarm + " already warm" : "")
                    + (notCompiled.isEmpty() ? "" : "; still not compiled when the budget ran out: " + notCompiled);
        }
    }

    private KernelWarmUp() {
    }

    /**
     * Drives the kernels {@code (types[i], ops[i])} of {@code reducer} until each is compiled or
     * {@code budgetNanos} have passed.
     *
     * @param reducer     the reducer whose kernels the collectives will call
     * @param types       element type of each kernel
     * @param ops         combiner of each kernel, paired with {@code types}
     * @param budgetNanos longest time to spend
     * @return what was done
     */
    public static Report run(Reducer reducer, List<ElementType> types, List<Combiner> ops, long budgetNanos) {
        return run(reducer, types, ops, 2, budgetNanos);
    }

    /**
     * As {@link #run(Reducer, List, List, long)}, with {@code sources} sources per call (2 to 64):
     * the number the collectives will pass, so that C2 compiles the kernel for it.
     */
    public static Report run(Reducer reducer, List<ElementType> types, List<Combiner> ops, int sources, long budgetNanos) {
        if (types.size() != ops.size()) throw new IllegalArgumentException("types and ops must pair up");
        if (sources < 2 || sources > 64) throw new IllegalArgumentException("sources must be 2 to 64: " + sources);
        long start = System.nanoTime();
        List<ElementType> todoTypes = new ArrayList<>();
        List<Combiner> todoOps = new ArrayList<>();
        int already = 0;
        synchronized (WARM) {
            BitSet warm = WARM.computeIfAbsent(reducer, r -> new BitSet());
            for (int i = 0; i < types.size(); i++) {
                int index = index(types.get(i), ops.get(i));
                if (warm.get(index)) {
                    already++;
                } else if (!contains(todoTypes, todoOps, types.get(i), ops.get(i))) {
                    todoTypes.add(types.get(i));
                    todoOps.add(ops.get(i));
                }
            }
        }
        List<String> compiled = new ArrayList<>();
        List<String> notCompiled = new ArrayList<>();
        if (!todoTypes.isEmpty()) {
            boolean[] done = drive(reducer, todoTypes, todoOps, sources, start + budgetNanos);
            synchronized (WARM) {
                BitSet warm = WARM.get(reducer);
                for (int i = 0; i < done.length; i++) {
                    String name = todoTypes.get(i) + " " + todoOps.get(i);
                    if (done[i]) {
                        warm.set(index(todoTypes.get(i), todoOps.get(i)));
                        compiled.add(name);
                    } else {
                        notCompiled.add(name);
                    }
                }
            }
        }
        return new Report(List.copyOf(compiled), List.copyOf(notCompiled), already, System.nanoTime() - start);
    }

    /**
     * Loads the JDK's heap segment classes before anything is compiled. C2 compiles segment
     * access under class-hierarchy assumptions ("these are the only segment classes"); the first
     * heap segment of the process breaks them and every compiled method that relied on it is
     * thrown away at once. The Vector API's interpreted fallbacks make heap segments, so a job's
     * first call of another type (bf16 after the fp32 warm-up) did exactly that: -Xlog:class+load
     * showed HeapMemorySegmentImpl loaded at that call, -XX:+PrintCompilation ~25 methods of the
     * collective path "made not entrant: marked for deoptimization" at the same moment. Called by
     * the library's warm-up, and by the bench's before it compiles its own loop.
     */
    public static void loadHeapSegmentClasses() {
        MemorySegment.ofArray(new byte[1]);
        MemorySegment.ofArray(new short[1]);
        MemorySegment.ofArray(new char[1]);
        MemorySegment.ofArray(new int[1]);
        MemorySegment.ofArray(new float[1]);
        MemorySegment.ofArray(new long[1]);
        MemorySegment.ofArray(new double[1]);
    }

    /**
     * Why this JVM cannot compile the kernels with vector intrinsics, or null if it can: without
     * C2 ({@code -XX:TieredStopAtLevel} below 4, {@code -Xint}) a warm-up would only burn its
     * budget, so callers skip it.
     */
    public static String whyNoOptimizingCompiler() {
        if (System.getProperty("java.vm.info", "").contains("interpreted mode")) return "the JVM runs interpreted (-Xint)";
        try {
            var diagnostics = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            if (diagnostics == null) return null;
            boolean tiered = Boolean.parseBoolean(diagnostics.getVMOption("TieredCompilation").getValue());
            int stop = Integer.parseInt(diagnostics.getVMOption("TieredStopAtLevel").getValue());
            if (tiered && stop < 4) return "the JVM stops at compilation tier " + stop + " (-XX:TieredStopAtLevel), below C2";
        } catch (RuntimeException e) {
            return null;   // not HotSpot, or the option is unknown: try the warm-up
        }
        return null;
    }

    /** Whether {@code (type, op)} of {@code reducer} is known compiled. */
    public static boolean isWarm(Reducer reducer, ElementType type, Combiner op) {
        synchronized (WARM) {
            BitSet warm = WARM.get(reducer);
            return warm != null && warm.get(index(type, op));
        }
    }

    private static boolean[] drive(Reducer reducer, List<ElementType> types, List<Combiner> ops, int sources,
                                   long deadline) {
        int n = types.size();
        boolean[] done = new boolean[n];
        int[] quiet = new int[n];
        int[] calls = new int[n];
        AllocationCounter counter = AllocationCounter.forThisJvm();
        boolean byAllocation = counter != null && reducer.vectorBits() > 0;
        // Four steps of the widest kernel loop (4 vectors per source per step) and a tail.
        int vectorBytes = Math.max(8, reducer.vectorBits() / 8);
        long bytes = 4L * 4 * vectorBytes + 64;
        // Segments of both session kinds in every call: see "Which segments" above.
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            MemorySegment[] src = new MemorySegment[sources];
            for (int j = 0; j < src.length; j++) src[j] = (j % 2 == 0 ? shared : confined).allocate(LARGE_BYTES + 64, 64);
            MemorySegment dst = shared.allocate(LARGE_BYTES + 64, 64);
            long[] offsets = new long[src.length];
            int left = n;
            while (left > 0 && System.nanoTime() - deadline < 0) {
                for (int i = 0; i < n; i++) {
                    if (done[i]) continue;
                    ElementType type = types.get(i);
                    Combiner op = ops.get(i);
                    // A tail of 3 elements after whole steps of every kernel's loop.
                    long count = (bytes - 64) / type.byteSize() + 3;
                    boolean finished;
                    if (byAllocation && quiet[i] >= QUIET_ROUNDS) {
                        // Looks compiled: prove it on a decode-sized tensor. If C2 speculated on
                        // the short loops, this call deoptimises (and allocates); the trap is
                        // recorded, so the next compilation does without that speculation.
                        long large = LARGE_BYTES / type.byteSize() + 5;
                        long before = counter.allocatedBytes();
                        reducer.reduce(type, op, dst, 0, src, offsets, sources, large);
                        finished = counter.allocatedBytes() - before == 0;
                        if (!finished) quiet[i] = 0;
                    } else {
                        long before = byAllocation ? counter.allocatedBytes() : 0;
                        for (int c = 0; c < CALLS_PER_ROUND; c++) {
                            // Every other call with a NaN in a vector step and in the tail: see "Which values".
                            boolean nan = (c & 1) == 1;
                            putNaNOrZero(src[0], type, 0, nan);
                            putNaNOrZero(src[0], type, count - 1, nan);
                            reducer.reduce(type, op, dst, 0, src, offsets, sources, count);
                            // Interpreted calls on an emulated CPU take milliseconds each: the
                            // budget is kept call by call, not round by round.
                            if (System.nanoTime() - deadline > 0) break;
                        }
                        calls[i] += CALLS_PER_ROUND;
                        if (byAllocation) {
                            quiet[i] = counter.allocatedBytes() - before == 0 ? quiet[i] + 1 : 0;
                            finished = false;
                        } else {
                            finished = calls[i] >= FALLBACK_CALLS;
                        }
                    }
                    if (finished) {
                        done[i] = true;
                        left--;
                    }
                }
            }
        }
        return done;
    }

    /**
     * Element {@code index} of {@code s}: a quiet NaN of {@code type} (the same bits as an integer
     * for the integer types, where they are just a value) or zero.
     */
    private static void putNaNOrZero(MemorySegment s, ElementType type, long index, boolean nan) {
        switch (type) {
            case FP32, INT32 -> s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, index, nan ? 0x7fc0_0000 : 0);
            case FP64, INT64 -> s.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, index, nan ? 0x7ff8_0000_0000_0000L : 0);
            case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index, nan ? (short) 0x7fc0 : 0);
            case FP16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index, nan ? (short) 0x7e00 : 0);
        }
    }

    private static boolean contains(List<ElementType> types, List<Combiner> ops, ElementType type, Combiner op) {
        for (int i = 0; i < types.size(); i++) {
            if (types.get(i) == type && ops.get(i) == op) return true;
        }
        return false;
    }

    private static int index(ElementType type, Combiner op) {
        return op.ordinal() * ElementType.values().length + type.ordinal();
    }

    /** The current thread's allocated-bytes counter, where the JVM offers one. */
    private record AllocationCounter(com.sun.management.ThreadMXBean threads) {

        static AllocationCounter forThisJvm() {
            if (ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                    && t.isThreadAllocatedMemorySupported()) {
                if (!t.isThreadAllocatedMemoryEnabled()) return null;
                return new AllocationCounter(t);
            }
            return null;
        }

        long allocatedBytes() {
            return threads.getCurrentThreadAllocatedBytes();
        }
    }
}
