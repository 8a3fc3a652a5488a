package ds.comm.hier;

import ds.comm.lanes.ElementType;
import ds.comm.spi.Collective;
import ds.comm.spi.CommFailure;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The hierarchical composite on layouts HierExchangeTest's contiguous two-node split does not
 * cover: the whole exchange contract with ranks interleaved over two nodes (rank r on node
 * r mod 2), and the hierarchical all-to-all ({@link HierCollective#allToAll}) on three nodes of
 * uneven size, nodes of one and one node. Nodes are simulated in one JVM: each node's members
 * share a shared-memory group, and the leaders a shared-memory group standing in for the
 * network between nodes.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HierAllToAllTest extends HierExchangeTest {

    /** Node of each group rank, per layout: interleaved, uneven, singletons, one node. */
    private static final int[][] LAYOUTS = {
        {0, 1, 0, 1},
        {0, 1, 2, 0, 1},
        {2, 2, 0, 1, 1, 1},
        {0, 1, 2},
        {0, 0, 0},
        {1, 0, 0, 2, 1, 0, 2},
    };

    @ParameterizedTest(name = "layout {0}")
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void everyBlockArrivesFromEveryRankWhateverTheLayout(int layoutNo) throws Exception {
        int[] nodes = LAYOUTS[layoutNo];
        int n = nodes.length;
        Collective[] group = open("a2a" + layoutNo, nodes);
        try {
            runAllOk(n, rank -> {
                // Blocks of 0 and 1 word, odd, and larger than the shared-memory chunk (1 KiB);
                // odd ranks pass heap buffers.
                long[] blocks = {0, 4, 12, 3000};
                int caseNo = 0;
                try (Arena arena = Arena.ofConfined()) {
                    for (long block : blocks) {
                        caseNo++;
                        boolean heap = rank % 2 == 1;
                        MemorySegment in = heap ? MemorySegment.ofArray(new byte[(int) (n * block)])
                                : arena.allocate(Math.max(1, n * block)).asSlice(0, n * block);
                        MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) (n * block)])
                                : arena.allocate(Math.max(1, n * block)).asSlice(0, n * block);
                        for (int j = 0; j < n; j++) in.asSlice(j * block, block).copyFrom(payload(caseNo, rank, j, block));
                        group[rank].allToAll(in, out, ElementType.INT32);
                        for (int i = 0; i < n; i++) {
                            assertEquals(-1, out.asSlice(i * block, block).mismatch(payload(caseNo, i, rank, block)),
                                    "rank " + rank + ", block from " + i + ", " + block + " bytes, layout " + layoutNo);
                        }
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @Test
    void aRankOnAnotherNodeWithAnotherBlockSizeFailsEveryRank() throws Exception {
        int[] nodes = LAYOUTS[1];
        int n = nodes.length;
        Collective[] group = open("a2asize", nodes);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                int block = rank == 2 ? 16 : 8; // rank 2 is alone on its node: only the leaders can tell
                group[rank].allToAll(MemorySegment.ofArray(new byte[n * block]), MemorySegment.ofArray(new byte[n * block]),
                        ElementType.INT32);
                return null;
            });
            for (int rank = 0; rank < n; rank++) {
                Outcome o = outcomes.get(rank);
                assertNull(o.value(), "rank " + rank + " should have failed");
                CommFailure f = assertInstanceOf(CommFailure.class, o.failure(), "rank " + rank);
                assertEquals(CommFailure.Kind.MISMATCH, f.kind(), "rank " + rank + ": " + f.getMessage());
            }
        } finally {
            closeAll(group);
        }
    }

    @Test
    void steadyStateAllToAllAndAllGatherAllocateNothing() throws Exception {
        int[] nodes = LAYOUTS[1];
        int n = nodes.length;
        Collective[] group = open("a2aalloc", nodes);
        try {
            // Reflection: the tests are compiled into module ds.comm, which does not read java.management.
            Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            java.lang.reflect.Method allocatedBytes = Class.forName("com.sun.management.ThreadMXBean")
                    .getMethod("getCurrentThreadAllocatedBytes");
            List<Outcome> results = runAll(n, rank -> {
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment in = arena.allocate(n * 4096L);
                    MemorySegment out = arena.allocate(n * 4096L);
                    MemorySegment heapIn = MemorySegment.ofArray(new byte[n * 256]);
                    MemorySegment heapOut = MemorySegment.ofArray(new byte[n * 256]);
                    MemorySegment gathered = arena.allocate(n * 4096L);
                    MemorySegment gatherIn = in.asSlice(0, 4096);
                    Runnable calls = () -> {
                        group[rank].allToAll(in, out, ElementType.INT32);
                        group[rank].allToAll(heapIn, heapOut, ElementType.INT32);
                        group[rank].allGather(gatherIn, gathered, ElementType.INT32);
                    };
                    for (int i = 0; i < 2000; i++) calls.run();   // warm up: the JIT, lazy JDK initialisation
                    long before = (Long) allocatedBytes.invoke(threads);
                    for (int i = 0; i < 50; i++) calls.run();
                    return (Long) allocatedBytes.invoke(threads) - before;
                }
            });
            for (int rank = 0; rank < n; rank++) {
                if (results.get(rank).failure() != null) throw new AssertionError("rank " + rank, results.get(rank).failure());
                // 150 calls: one small object per call would already be ~6 KiB.
                long bytes = (Long) results.get(rank).value();
                org.junit.jupiter.api.Assertions.assertTrue(bytes < 1024, "rank " + rank + " allocated " + bytes + " bytes in 150 calls");
            }
        } finally {
            closeAll(group);
        }
    }

    /** The contract on ranks interleaved over two nodes: rank r on node r mod 2. */
    @Override
    protected Collective[] openGroup(String name, int n, long timeoutMillis) throws Exception {
        int[] nodes = new int[n];
        for (int r = 0; r < n; r++) nodes[r] = r % 2;
        return open(name, nodes, timeoutMillis);
    }
}
