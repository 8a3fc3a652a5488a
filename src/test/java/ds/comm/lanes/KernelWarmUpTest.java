package ds.comm.lanes;

import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The warm-up leaves a kernel compiled: its very next call, on buffers of another size, allocates
 * nothing (an interpreted or C1 Vector API kernel allocates on every vector operation).
 */
class KernelWarmUpTest {

    @Test
    @Timeout(120)
    void aWarmedKernelAllocatesNothingOnItsFirstRealCall() {
        // Fresh kernel classes: no earlier test in this JVM compiled them.
        Reducer reducer = Reducers.newVectorReducer(Math.max(64, Reducers.preferredBits()));
        assertTrue(!KernelWarmUp.isWarm(reducer, ElementType.BF16, Combiner.SUM));
        KernelWarmUp.Report report = KernelWarmUp.run(reducer, List.of(ElementType.BF16), List.of(Combiner.SUM),
                90_000_000_000L);
        assertTrue(report.complete(), report.toString());
        assertEquals(List.of("BF16 SUM"), report.compiled());
        assertTrue(KernelWarmUp.isWarm(reducer, ElementType.BF16, Combiner.SUM));

        int count = 8191;   // a decode-sized tensor, not the warm-up's size
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] src = {arena.allocate(2L * count, 64), arena.allocate(2L * count, 64)};
            SplittableRandom rnd = new SplittableRandom(3);
            for (MemorySegment s : src) VectorReducerTest.fill(s, ElementType.BF16, rnd);
            MemorySegment dst = arena.allocate(2L * count, 64);
            long[] offsets = new long[2];
            long before = ThreadAllocation.allocatedBytes();
            for (int i = 0; i < 10; i++) reducer.reduce(ElementType.BF16, Combiner.SUM, dst, 0, src, offsets, 2, count);
            long allocated = ThreadAllocation.allocatedBytes() - before;
            assertEquals(0, allocated, "bytes allocated by the first 10 calls after the warm-up");
        }
        // A second warm-up finds it warm and does nothing.
        KernelWarmUp.Report again = KernelWarmUp.run(reducer, List.of(ElementType.BF16), List.of(Combiner.SUM), 1_000_000_000L);
        assertEquals(1, again.alreadyWarm());
        assertTrue(again.compiled().isEmpty());
    }

    /**
     * The collectives hand a kernel segments of several session kinds at once: the SHM areas
     * belong to a shared arena (no owner thread), a caller's tensor to whatever arena it chose,
     * often a confined one. C2 compiles the segment checks from what the warm-up showed it, so a
     * warm-up on one kind only left a kernel that deoptimised at the first call with the other
     * and then ran interpreted, allocating, for thousands of calls (measured: 64 KiB fp32 at
     * ~800 us per call for the first 20 000 calls after a confined-only warm-up).
     */
    @Test
    @Timeout(120)
    void aWarmedKernelStaysCompiledForSegmentsOfEverySessionKind() {
        Reducer reducer = Reducers.newVectorReducer(Math.max(64, Reducers.preferredBits()));
        KernelWarmUp.Report report = KernelWarmUp.run(reducer, List.of(ElementType.FP32), List.of(Combiner.SUM),
                90_000_000_000L);
        assertTrue(report.complete(), report.toString());

        int count = 16_387;   // 64 KiB and a tail
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            Arena auto = Arena.ofAuto();
            Arena[][] kinds = {{shared, shared, shared}, {confined, shared, confined}, {shared, confined, Arena.global()},
                {auto, shared, confined}};
            String[] names = {"shared, shared -> shared", "confined, shared -> confined", "shared, confined -> global",
                "auto, shared -> confined"};
            long[] offsets = new long[2];
            for (int k = 0; k < kinds.length; k++) {
                Arena[] kind = kinds[k];
                MemorySegment[] src = {kind[0].allocate(4L * count, 64), kind[1].allocate(4L * count, 64)};
                MemorySegment dst = kind[2].allocate(4L * count, 64);
                long before = ThreadAllocation.allocatedBytes();
                for (int i = 0; i < 10; i++) reducer.reduce(ElementType.FP32, Combiner.SUM, dst, 0, src, offsets, 2, count);
                long allocated = ThreadAllocation.allocatedBytes() - before;
                assertEquals(0, allocated, "bytes allocated by 10 calls on segments of " + names[k]);
            }
        }
    }

    @Test
    void thisTestJvmHasTheOptimizingCompilerTheWarmUpNeeds() {
        // Surefire's JVM runs with C2; the multi-process tests' ranks run with C1 only and skip.
        assertEquals(null, KernelWarmUp.whyNoOptimizingCompiler());
    }

    @Test
    void typesAndOpsMustPairUp() {
        assertThrows(IllegalArgumentException.class, () -> KernelWarmUp.run(Reducers.scalar(), List.of(ElementType.FP32),
                List.of(), 1_000_000L));
    }
}
