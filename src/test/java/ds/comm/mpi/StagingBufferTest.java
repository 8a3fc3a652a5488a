package ds.comm.mpi;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pooled native staging area is reused, grows geometrically, and is native and aligned. */
class StagingBufferTest {

    @Test
    void smallerOrEqualRequestsReuseTheSameSegment() {
        try (StagingBuffer b = new StagingBuffer()) {
            MemorySegment first = b.ensure(10_000);
            assertTrue(first.isNative());
            assertEquals(0, first.address() % 64, "cache-line aligned");
            assertSame(first, b.ensure(10_000));
            assertSame(first, b.ensure(1));
        }
    }

    @Test
    void growthDoublesSoManySmallIncrementsReallocateRarely() {
        try (StagingBuffer b = new StagingBuffer()) {
            int reallocations = 0;
            MemorySegment current = b.ensure(4096);
            for (long need = 4096; need <= 4L << 20; need += 4096) {
                MemorySegment s = b.ensure(need);
                if (s != current) reallocations++;
                current = s;
                assertTrue(s.byteSize() >= need);
            }
            assertTrue(reallocations <= 11, "reallocated " + reallocations + " times for 1024 growing requests");
        }
    }
}
