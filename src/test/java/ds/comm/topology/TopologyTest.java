package ds.comm.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TopologyTest {

    /** Ranks 0,2,4 on node "x", 1,3 on node "y": interleaved, as a round-robin launcher would place them. */
    private static Topology interleaved(int me, int hintOfMe) {
        List<RankRecord> recs = new ArrayList<>();
        for (int r = 0; r < 5; r++) {
            recs.add(new RankRecord(r, r % 2 == 0 ? "x" : "y",
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 9000 + r), 100 + r,
                    r == 3 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN, r == me ? hintOfMe : -1));
        }
        return new Topology(me, "00ff", recs);
    }

    /**
     * Four ranks on two simulated nodes ("x", "y") of one machine: this JVM (rank 0), a live child
     * process (rank 1), the child's pid with another start time (a reused pid, rank 2) and a pid
     * known without namespace and start time (rank 3). Two of them certainly share this machine's
     * processors, although the node table puts only rank 0 and rank 2 on rank 0's node.
     */
    @Test
    void ranksRunningHereCountsLiveProcessesOfThisMachineWhateverTheirNodeIds() throws Exception {
        Process child = new ProcessBuilder("sleep", "30").start();
        try {
            ProcessIdentity me = ProcessIdentity.current();
            ProcessHandle h = child.toHandle();
            long start = ProcessIdentity.startMillisOf(h);
            ProcessIdentity live = new ProcessIdentity(h.pid(), start, ProcessIdentity.ownPidNamespace());
            ProcessIdentity reused = new ProcessIdentity(h.pid(), start - 60_000, ProcessIdentity.ownPidNamespace());
            assertTrue(me.runsHere());
            assertFalse(new ProcessIdentity(me.pid(), me.startMillis() - 60_000, me.pidNamespace()).runsHere(),
                    "this process's pid with another start time is a process of another machine");
            assertTrue(live.runsHere());
            assertFalse(reused.runsHere(), "a pid that started a minute after its record is another process");
            assertFalse(ProcessIdentity.ofPid(h.pid()).runsHere(), "unknown namespace and start time prove nothing");
            InetSocketAddress a = new InetSocketAddress(InetAddress.getLoopbackAddress(), 9000);
            List<RankRecord> recs = List.of(new RankRecord(0, "x", a, me, ByteOrder.LITTLE_ENDIAN, -1),
                    new RankRecord(1, "y", a, live, ByteOrder.LITTLE_ENDIAN, -1),
                    new RankRecord(2, "x", a, reused, ByteOrder.LITTLE_ENDIAN, -1),
                    new RankRecord(3, "y", a, ProcessIdentity.ofPid(1), ByteOrder.LITTLE_ENDIAN, -1));
            Topology t = new Topology(0, "00ff", recs);
            assertEquals(2, t.localSize(0));
            assertEquals(2, t.ranksRunningHere());
            assertEquals(2, new Topology(3, "00ff", recs).ranksRunningHere(), "at least the node's own ranks");
        } finally {
            child.destroyForcibly();
            child.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void nodesAreOrderedByTheirLowestRankAndRanksAreSorted() {
        Topology t = interleaved(3, -1);
        assertEquals(List.of("x", "y"), t.nodes());
        assertArrayEquals(new int[] {0, 2, 4}, t.ranksOn("x"));
        assertArrayEquals(new int[] {1, 3}, t.ranksOn("y"));
        assertArrayEquals(new int[0], t.ranksOn("z"));
        assertEquals(1, t.nodeLeader("y"));
        assertEquals("y", t.myNode());
    }

    @Test
    void localRankIsThePositionOnTheNode() {
        Topology t = interleaved(0, -1);
        assertEquals(0, t.localRank(0));
        assertEquals(2, t.localRank(4));
        assertEquals(1, t.localRank(3));
        assertEquals(3, t.localSize(2));
        assertEquals(2, t.localSize(1));
    }

    @Test
    void localityOfSubGroupsFollowsNodeIdentity() {
        Topology t = interleaved(0, -1);
        assertTrue(t.isNodeLocal(new int[] {0, 2, 4}));
        assertTrue(t.isNodeLocal(new int[] {3}));
        assertFalse(t.isNodeLocal(new int[] {0, 1}));
        assertFalse(t.isNodeLocal(new int[] {0, 1, 2, 3, 4}));
        assertEquals(2, t.nodeCount(new int[] {4, 3, 2}));
        assertEquals(1, t.nodeCount(new int[] {2, 2}));
        assertThrows(IllegalArgumentException.class, () -> t.nodeCount(new int[0]));
        assertThrows(IndexOutOfBoundsException.class, () -> t.isNodeLocal(new int[] {0, 5}));
    }

    @Test
    void byteOrderAndPidArePerRank() {
        Topology t = interleaved(0, -1);
        assertEquals(ByteOrder.BIG_ENDIAN, t.byteOrderOf(3));
        assertEquals(ByteOrder.LITTLE_ENDIAN, t.byteOrderOf(2));
        assertFalse(t.uniformByteOrder());
        assertEquals(104, t.pidOf(4));
        assertEquals(9004, t.ringAddress(4).getPort());
    }

    @Test
    void localSizeHintDisagreementIsDetected() {
        assertTrue(interleaved(0, 4).localSizeHintDisagrees(), "hint 4 vs 3 ranks on x");
        assertFalse(interleaved(0, 3).localSizeHintDisagrees());
        assertFalse(interleaved(0, -1).localSizeHintDisagrees(), "no hint, nothing to disagree with");
        assertEquals(4, interleaved(0, 4).localSizeHint(0));
    }

    @Test
    void digestIsTheSameFromEveryRankAndChangesWithTheTable() {
        assertEquals(interleaved(0, -1).digest(), interleaved(4, -1).digest());
        assertFalse(interleaved(0, -1).digest().equals(interleaved(0, 3).digest().replace("00ff", "00fe")));
        assertTrue(interleaved(0, -1).digest().startsWith("size=5 token=00ff nodes=[x:[0, 2, 4]; y:[1, 3]]"));
    }

    @Test
    void recordsOutOfOrderAreRejected() {
        var loop = new InetSocketAddress(InetAddress.getLoopbackAddress(), 1);
        List<RankRecord> swapped = List.of(new RankRecord(1, "a", loop, 1, ByteOrder.BIG_ENDIAN, -1),
                new RankRecord(0, "a", loop, 2, ByteOrder.BIG_ENDIAN, -1));
        assertThrows(IllegalArgumentException.class, () -> new Topology(0, "ab", swapped));
        assertThrows(IllegalArgumentException.class, () -> new Topology(0, "AB", List.of(swapped.get(1))));
        assertThrows(IllegalArgumentException.class, () -> new Topology(1, "ab", List.of(swapped.get(1))));
    }

    @Test
    void singleWorldIsItsOwnNode() {
        Topology t = Topology.single("me", 0);
        assertEquals(1, t.worldSize());
        assertEquals(ProcessHandle.current().pid(), t.pidOf(0));
        assertEquals(ByteOrder.nativeOrder(), t.byteOrderOf(0));
        assertTrue(t.jobToken().matches("[0-9a-f]{32}"));
        assertFalse(t.localSizeHintDisagrees());
    }
}
