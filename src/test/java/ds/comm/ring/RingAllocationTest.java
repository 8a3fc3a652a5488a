package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingAllocationTest {

    @Test
    void steadyStateCallsAllocateNothingOnTheCallingThread() throws Exception {
        // Reflection: the tests are compiled into module ds.comm, which does not read java.management.
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean")
                .invoke(null);
        java.lang.reflect.Method allocatedBytes = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getCurrentThreadAllocatedBytes");
        int n = 3;
        Settings settings = RingCluster.settings(256, 1024, 20_000);
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(settings);
            try {
                List<Long> allocated = cluster.runAllOk(n, rank -> {
                    MemorySegment small = Elements.exactInput(ElementType.FP32, 16, rank, 0);
                    MemorySegment large = Elements.exactInput(ElementType.BF16, 5000, rank, 0);
                    MemorySegment in = Elements.exactInput(ElementType.INT32, 300, rank, 0);
                    MemorySegment gathered = Elements.allocate(ElementType.INT32, 300L * n);
                    MemorySegment scattered = Elements.allocate(ElementType.INT32, 100);
                    Runnable calls = () -> {
                        world[rank].allReduce(small, ElementType.FP32, Combiner.MAX);
                        world[rank].allReduce(large, ElementType.BF16, Combiner.MAX);
                        world[rank].allGather(in, gathered, ElementType.INT32);
                        world[rank].reduceScatter(in, scattered, ElementType.INT32, Combiner.MAX);
                        world[rank].broadcast(in, 1);
                        world[rank].barrier();
                    };
                    for (int i = 0; i < 150; i++) {
                        calls.run();   // warm up: JIT compilation, lazy JDK initialisation
                    }
                    long before = (Long) allocatedBytes.invoke(threads);
                    for (int i = 0; i < 50; i++) {
                        calls.run();
                    }
                    return (Long) allocatedBytes.invoke(threads) - before;
                });
                for (int rank = 0; rank < n; rank++) {
                    // 300 calls; one small object per call would already be ~5 KiB.
                    assertTrue(allocated.get(rank) < 2048, "rank " + rank + " allocated " + allocated.get(rank)
                            + " bytes in 300 calls");
                }
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }
}
