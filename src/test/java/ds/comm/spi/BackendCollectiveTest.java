package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendCollectiveTest {

    /** A backend whose only collective fails on demand, recording what the skeleton asks of it. */
    private static final class Probe extends BackendCollective {
        final List<String> events = new ArrayList<>();
        CommFailure next;

        Probe() {
            super("probe", "g1", 1, 3);
        }

        @Override
        public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
            checkUsable("allReduce(fp32,sum,4)");
            if (next != null) throw recordFailure(next);
        }

        @Override
        public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void broadcast(MemorySegment buf, int root) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void barrier() {
            checkUsable("barrier");
        }

        @Override
        public void send(MemorySegment buf, int peer) {
            throw new UnsupportedOperationException();
        }

        public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void recv(MemorySegment buf, int peer) {
            throw new UnsupportedOperationException();
        }

        public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void gather(MemorySegment in, MemorySegment out, int root) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void scatter(MemorySegment in, MemorySegment out, int root) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
            throw new UnsupportedOperationException();
        }

        @Override
        protected void onFailure(CommFailure f) {
            events.add("failed:" + f.kind());
        }

        @Override
        protected void release() {
            events.add("released");
        }
    }

    private static final MemorySegment BUF = MemorySegment.ofArray(new float[4]);

    @Test
    void onlyTheFirstFailureIsKeptAndPeersAreToldOnce() {
        Probe p = new Probe();
        CommFailure lost = new CommFailure(CommFailure.Kind.PEER_LOST, 2, "g1", "allReduce", "rank 2 died", null);
        p.next = lost;
        assertSame(lost, assertThrows(CommFailure.class, () -> p.allReduce(BUF, ElementType.FP32, Combiner.SUM)));
        assertEquals(BackendCollective.State.FAILED, p.state());
        CommFailure later = new CommFailure(CommFailure.Kind.TIMEOUT, -1, "g1", "x", "late", null);
        assertSame(later, p.recordFailure(later));
        assertEquals(List.of("failed:PEER_LOST"), p.events);
    }

    @Test
    void aFailedGroupRefusesLaterCallsNamingTheRankTheGroupTheCallAndTheBlamedPeer() {
        Probe p = new Probe();
        p.next = new CommFailure(CommFailure.Kind.PEER_LOST, 2, "g1", "allReduce", "rank 2 died", null);
        assertThrows(CommFailure.class, () -> p.allReduce(BUF, ElementType.FP32, Combiner.SUM));
        CommFailure refused = assertThrows(CommFailure.class, p::barrier);
        assertEquals(CommFailure.Kind.ABORTED, refused.kind());
        assertEquals(2, refused.peerRank());
        assertEquals("g1", refused.group());
        assertEquals("barrier", refused.operation());
        assertTrue(refused.getMessage().contains("rank 1 refused the call: the group failed earlier"), refused.getMessage());
        assertTrue(refused.getMessage().contains("rank 2 died"), refused.getMessage());
    }

    @Test
    void closeReleasesOnceAndLaterCallsAreRefusedAsClosed() {
        Probe p = new Probe();
        p.close();
        p.close();
        assertEquals(List.of("released"), p.events);
        assertEquals(BackendCollective.State.CLOSED, p.state());
        CommFailure refused = assertThrows(CommFailure.class, () -> p.allReduce(BUF, ElementType.FP32, Combiner.SUM));
        assertEquals(CommFailure.Kind.ABORTED, refused.kind());
        assertTrue(refused.getMessage().contains("rank 1 refused the call: the communicator is closed"), refused.getMessage());
    }

    @Test
    void aRetainedCollectiveIsReleasedOnlyWhenEveryOwnerClosedIt() {
        Probe p = new Probe();
        assertSame(p, p.retain());
        p.close();
        assertEquals(BackendCollective.State.OPEN, p.state(), "one owner still holds it");
        p.barrier();
        p.close();
        assertEquals(List.of("released"), p.events);
        assertEquals(BackendCollective.State.CLOSED, p.state());
        assertThrows(IllegalStateException.class, p::retain);
    }

    @Test
    void aFailureAfterCloseIsNotRecordedAndTellsNobody() {
        Probe p = new Probe();
        p.close();
        p.recordFailure(new CommFailure(CommFailure.Kind.TIMEOUT, -1, "g1", "x", "late", null));
        assertEquals(List.of("released"), p.events);
        assertEquals(BackendCollective.State.CLOSED, p.state());
    }

    @Test
    void describesItselfWithBackendGroupRankAndState() {
        Probe p = new Probe();
        assertEquals("probe group g1 rank 1/3 (open)", p.toString());
        p.close();
        assertEquals("probe group g1 rank 1/3 (closed)", p.toString());
    }

    @Test
    void aRankOutsideTheGroupIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BackendCollective("x", "g", 3, 3) {
            @Override public void allReduce(MemorySegment b, ElementType t, Combiner o) { }
            @Override public void allGather(MemorySegment i, MemorySegment o, ElementType t) { }
            @Override public void reduceScatter(MemorySegment i, MemorySegment o, ElementType t, Combiner c) { }
            @Override public void broadcast(MemorySegment b, int r) { }
            @Override public void barrier() { }
            @Override public void send(MemorySegment b, int p) { }
            @Override public void recv(MemorySegment b, int p) { }
            @Override public void allToAll(MemorySegment i, MemorySegment o, ElementType t) { }
            @Override public void allToAllV(MemorySegment i, long[] s, MemorySegment o, long[] r, ElementType t) { }
            @Override public void gather(MemorySegment i, MemorySegment o, int r) { }
            @Override public void scatter(MemorySegment i, MemorySegment o, int r) { }
            @Override public void reduce(MemorySegment b, ElementType t, Combiner c, int r) { }
            @Override protected void release() { }
        });
    }
}
