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
            // Chunks large enough for payloads to be sent straight from tensor memory.
            RingCollective[] big = cluster.open("w.big", new int[]{0, 1, 2}, RingCluster.settings(4096, 64 << 10, 20_000));
            try {
                List<Long> allocated = cluster.runAllOk(n, rank -> {
                    MemorySegment small = Elements.exactInput(ElementType.FP32, 16, rank, 0);
                    MemorySegment large = Elements.exactInput(ElementType.BF16, 5000, rank, 0);
                    // Exchanges (between the small limit and exchangeMaxBytes): staged segments, a
                    // heap buffer through the working copy, and segments sent from tensor memory.
                    MemorySegment exchanged = Elements.exactInput(ElementType.FP32, 600, rank, 0);
                    MemorySegment exchangedHeap = MemorySegment.ofArray(new float[600]);
                    MemorySegment exchangedBig = Elements.exactInput(ElementType.FP32, 30_000, rank, 0);
                    MemorySegment in = Elements.exactInput(ElementType.INT32, 300, rank, 0);
                    MemorySegment gathered = Elements.allocate(ElementType.INT32, 300L * n);
                    MemorySegment scattered = Elements.allocate(ElementType.INT32, 100);
                    MemorySegment huge = Elements.exactInput(ElementType.FP32, 100_000, rank, 0);
                    MemorySegment hugeIn = Elements.exactInput(ElementType.INT32, 20_000, rank, 0);
                    MemorySegment hugeOut = Elements.allocate(ElementType.INT32, 20_000L * n);
                    // Point-to-point, rank 0 to rank 1: a message that travels with its header and one that does not.
                    MemorySegment message = Elements.allocate(ElementType.FP32, 16);
                    MemorySegment bigMessage = Elements.allocate(ElementType.FP32, 100_000);
                    // Pairwise all-to-all (3 ranks: blocks of at least 8 KiB): native blocks, heap
                    // ones (through the mirrors), and blocks sent straight from tensor memory.
                    MemorySegment a2aIn = Elements.exactInput(ElementType.INT32, 2250L * n, rank, 0);
                    MemorySegment a2aOut = Elements.allocate(ElementType.INT32, 2250L * n);
                    MemorySegment a2aHeapIn = MemorySegment.ofArray(new int[2250 * n]);
                    MemorySegment a2aHeapOut = MemorySegment.ofArray(new int[2250 * n]);
                    MemorySegment a2aBigOut = Elements.allocate(ElementType.INT32, 20_000L * n);
                    // The composed calls (3 ranks: all-to-all blocks under 8 KiB, all-to-all-v,
                    // gather, scatter, reduce), through the compositions' scratch.
                    MemorySegment composedOut = Elements.allocate(ElementType.INT32, 300);
                    long[] counts = {40, 0, 60};
                    long[] recvCounts = {counts[rank], counts[rank], counts[rank]};
                    MemorySegment vOut = Elements.allocate(ElementType.INT32, 3L * counts[rank]);
                    MemorySegment rooted = Elements.allocate(ElementType.INT32, 100L * n);
                    // A pairwise all-to-all-v (largest pair 12 000 bytes), native and heap.
                    long[] bigCounts = {3000, 0, 2500};
                    long[] bigRecvCounts = {bigCounts[rank], bigCounts[rank], bigCounts[rank]};
                    MemorySegment vBigIn = Elements.exactInput(ElementType.INT32, 5500, rank, 0);
                    MemorySegment vBigOut = Elements.allocate(ElementType.INT32, 3L * bigCounts[rank]);
                    MemorySegment vHeapIn = MemorySegment.ofArray(new int[5500]);
                    MemorySegment vHeapOut = MemorySegment.ofArray(new int[3 * (int) bigCounts[rank]]);
                    Runnable calls = () -> {
                        world[rank].allReduce(small, ElementType.FP32, Combiner.MAX);
                        world[rank].allReduce(large, ElementType.BF16, Combiner.MAX);
                        world[rank].allReduce(exchanged, ElementType.FP32, Combiner.MAX);
                        world[rank].allReduce(exchangedHeap, ElementType.FP32, Combiner.MAX);
                        big[rank].allReduce(exchangedBig, ElementType.FP32, Combiner.MAX);
                        world[rank].allGather(in, gathered, ElementType.INT32);
                        world[rank].reduceScatter(in, scattered, ElementType.INT32, Combiner.MAX);
                        world[rank].broadcast(in, 1);
                        world[rank].barrier();
                        big[rank].allReduce(huge, ElementType.FP32, Combiner.MAX);
                        big[rank].allGather(hugeIn, hugeOut, ElementType.INT32);
                        big[rank].broadcast(hugeIn, 2);
                        world[rank].allToAll(a2aIn, a2aOut, ElementType.INT32);
                        world[rank].allToAll(a2aHeapIn, a2aHeapOut, ElementType.INT32);
                        big[rank].allToAll(hugeOut, a2aBigOut, ElementType.INT32);
                        world[rank].allToAll(in, composedOut, ElementType.INT32);
                        world[rank].allToAllV(in, counts, vOut, recvCounts, ElementType.INT32);
                        world[rank].gather(scattered, rooted, 0);
                        world[rank].scatter(rooted, scattered, 1);
                        world[rank].reduce(in, ElementType.INT32, Combiner.MAX, 2);
                        world[rank].allToAllV(vBigIn, bigCounts, vBigOut, bigRecvCounts, ElementType.INT32);
                        world[rank].allToAllV(vHeapIn, bigCounts, vHeapOut, bigRecvCounts, ElementType.INT32);
                        if (rank == 0) {
                            world[0].send(message, 1);
                            world[0].send(bigMessage, 1);
                        } else if (rank == 1) {
                            world[1].recv(message, 0);
                            world[1].recv(bigMessage, 0);
                        }
                    };
                    for (int i = 0; i < 200; i++) {
                        calls.run();   // warm up: JIT compilation (of the compositions too), lazy JDK initialisation
                    }
                    long before = (Long) allocatedBytes.invoke(threads);
                    for (int i = 0; i < 30; i++) {
                        calls.run();
                    }
                    return (Long) allocatedBytes.invoke(threads) - before;
                });
                for (int rank = 0; rank < n; rank++) {
                    // 660 calls (720 on ranks 0 and 1); one small object per call would already be ~10 KiB.
                    assertTrue(allocated.get(rank) < 2048, "rank " + rank + " allocated " + allocated.get(rank)
                            + " bytes in 660-720 calls");
                }
            } finally {
                RingCluster.closeAll(world);
                RingCluster.closeAll(big);
            }
        }
    }
}
