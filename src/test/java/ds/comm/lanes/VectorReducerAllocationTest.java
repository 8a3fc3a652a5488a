package ds.comm.lanes;

import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Once C2 has compiled them, the vector kernels must not allocate: a Vector API call that C2
 * failed to intrinsify or inline boxes its vectors, which shows up here as allocated bytes long
 * before it shows up in a benchmark.
 *
 * <p>The allocation counter is reached reflectively because the tests are compiled into module
 * ds.comm, which does not read java.management (they run on the class path, where it is readable).
 */
class VectorReducerAllocationTest {

    @Test
    @Timeout(90)
    void compiledReductionsAllocateNothing() throws Throwable {
        // Fresh kernel classes: what is measured must not depend on which tests ran before in this JVM.
        Reducer reducer = Reducers.newVectorReducer(Math.max(64, Reducers.preferredBits()));
        int count = 1031;
        long deadline = System.nanoTime() + 60_000_000_000L;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] src = new MemorySegment[3];
            SplittableRandom rnd = new SplittableRandom(1);
            for (int j = 0; j < src.length; j++) {
                src[j] = arena.allocate(8L * count, 8);
                VectorReducerTest.fill(src[j], ElementType.INT64, rnd);
            }
            MemorySegment dst = arena.allocate(8L * count, 8);
            long[] offsets = new long[src.length];
            // One kernel of each shape (wide float, bf16 pairs, fp16 through arrays, 64-bit integer),
            // each with another combiner; fewer kernels to compile keeps the warm-up short.
            ElementType[] types = {ElementType.FP32, ElementType.BF16, ElementType.FP16, ElementType.INT64};
            Combiner[] ops = {Combiner.SUM, Combiner.MAX, Combiner.MIN, Combiner.PROD};
            long lastAllocated = -1;
            while (System.nanoTime() < deadline) {
                long before = ThreadAllocation.allocatedBytes();
                for (int round = 0; round < 100; round++) {
                    for (int i = 0; i < types.length; i++) {
                        reducer.reduce(types[i], ops[i], dst, 0, src, offsets, 2 + i % 2, count);
                    }
                }
                lastAllocated = ThreadAllocation.allocatedBytes() - before;
                // A boxed vector is at least 64 bytes, so 400 boxing reductions allocate megabytes.
                if (lastAllocated < 1024) {
                    return;
                }
            }
            assertTrue(false, reducer + " still allocated " + lastAllocated + " bytes per 400 reductions after 60 s");
        }
    }
}
