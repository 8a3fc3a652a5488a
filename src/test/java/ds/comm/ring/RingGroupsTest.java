package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingGroupsTest {

    static final Settings TINY = RingCluster.settings(256, 1024, 20_000);

    @Test
    void worldAndSplitSubGroupsShareEndpointsOpenedInAnyOrderAndUsedAlternately() throws Exception {
        int n = 4;
        // Sub-group of rank r: the ranks of its parity, as a split by color = rank % 2 would give.
        int[][] subs = {{0, 2}, {1, 3}};
        try (RingCluster cluster = new RingCluster(n)) {
            List<RingCollective[]> opened = cluster.runAllOk(n, world -> {
                int[] all = {0, 1, 2, 3};
                int[] mine = subs[world % 2];
                List<InetSocketAddress> worldAddresses = List.of(cluster.address(0), cluster.address(1),
                        cluster.address(2), cluster.address(3));
                List<InetSocketAddress> subAddresses = List.of(cluster.address(mine[0]), cluster.address(mine[1]));
                GroupSpec worldSpec = new GroupSpec("w", RingCluster.JOB, all, world);
                GroupSpec subSpec = new GroupSpec("w.s1c" + (world % 2), RingCluster.JOB, mine, world / 2);
                RingEndpoint endpoint = cluster.endpoints[world];
                // Ranks 2 and 3 open their sub-group first: its connection waits at the peer's
                // listener until the peer gets round to opening the sub-group.
                if (world >= 2) {
                    RingCollective sub = RingCollective.open(subSpec, TINY, RingCluster.REDUCER, endpoint, subAddresses);
                    RingCollective w = RingCollective.open(worldSpec, TINY, RingCluster.REDUCER, endpoint, worldAddresses);
                    return new RingCollective[]{w, sub};
                }
                RingCollective w = RingCollective.open(worldSpec, TINY, RingCluster.REDUCER, endpoint, worldAddresses);
                RingCollective sub = RingCollective.open(subSpec, TINY, RingCluster.REDUCER, endpoint, subAddresses);
                return new RingCollective[]{w, sub};
            });
            try {
                for (long count : new long[]{10, 5000}) {
                    List<MemorySegment[]> results = cluster.runAllOk(n, world -> {
                        RingCollective w = opened.get(world)[0];
                        RingCollective sub = opened.get(world)[1];
                        MemorySegment a = Elements.exactInput(ElementType.INT32, count, world, 1);
                        MemorySegment b = Elements.exactInput(ElementType.INT32, count, world, 2);
                        MemorySegment c = Elements.exactInput(ElementType.INT32, count, world, 3);
                        w.allReduce(a, ElementType.INT32, Combiner.SUM);
                        sub.allReduce(b, ElementType.INT32, Combiner.SUM);
                        w.allReduce(c, ElementType.INT32, Combiner.MAX);
                        sub.barrier();
                        return new MemorySegment[]{a, b, c};
                    });
                    for (int world = 0; world < n; world++) {
                        int[] mine = subs[world % 2];
                        for (long i = 0; i < count; i++) {
                            assertEquals(Elements.exactReduction(Combiner.SUM, n, i, 1),
                                    Elements.get(ElementType.INT32, results.get(world)[0], i));
                            long subSum = Elements.exactValue(mine[0], i, 2) + Elements.exactValue(mine[1], i, 2);
                            assertEquals(subSum, Elements.get(ElementType.INT32, results.get(world)[1], i),
                                    "sub-group sum, world rank " + world + " element " + i);
                            assertEquals(Elements.exactReduction(Combiner.MAX, n, i, 3),
                                    Elements.get(ElementType.INT32, results.get(world)[2], i));
                        }
                    }
                }
            } finally {
                for (RingCollective[] pair : opened) {
                    RingCluster.closeAll(pair);
                }
            }
        }
    }
}
