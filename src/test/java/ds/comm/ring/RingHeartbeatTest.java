package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ring's heartbeat: a neighbour that goes silent without closing its connections is
 * declared lost within the silence bound (not the call's timeout); a neighbour that merely does
 * not call is not; closing a collective stops its heartbeat thread and closes its connections.
 * (A real frozen process: {@code ds.comm.reliability.RankFreezeTest}.)
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RingHeartbeatTest {

    /** The call timeout is far beyond every bound asserted here: only the heartbeat can explain a prompt failure. */
    static final long TIMEOUT_MS = 30_000;
    /** Long enough that a test thread starved by a loaded 2-core machine does not look silent. */
    static final long SILENCE_MS = 1_000;
    static final Settings SETTINGS = RingCluster.settings(256, 1024, TIMEOUT_MS)
            .withPeerLostNanos(TimeUnit.MILLISECONDS.toNanos(SILENCE_MS));

    /** Beats like a live neighbour for {@code millis}, then stops: returns the nanoTime of the last beat. */
    private static long beatFor(FakeNeighbour peer, long millis) throws Exception {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        long last;
        do {
            peer.beat();
            last = System.nanoTime();
            Thread.sleep(SILENCE_MS / 6);
        } while (System.nanoTime() - end < 0);
        return last;
    }

    @Test
    void aNeighbourThatFallsSilentWithItsConnectionsOpenIsDeclaredLostWithinTheSilenceBound() throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            try (peer) {
                long lastBeat = beatFor(peer, 2 * SILENCE_MS);
                // The fake is silent from here on, like a frozen process: its sockets stay open.
                CommFailure f = assertThrows(CommFailure.class, () -> peer.real.allReduce(
                        Elements.allocate(ElementType.FP32, 1000), ElementType.FP32, Combiner.SUM));
                long afterLastBeatMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastBeat);
                assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                assertEquals(1, f.peerRank(), f.getMessage());
                assertTrue(f.getMessage().contains("world rank 1") && f.getMessage().contains("no heartbeat"),
                        f.getMessage());
                assertTrue(afterLastBeatMs >= SILENCE_MS - 50 && afterLastBeatMs < SILENCE_MS + 2_000,
                        "declared lost " + afterLastBeatMs + " ms after the last beat, bound " + SILENCE_MS + " ms");
                // The group is unusable afterwards.
                assertEquals(CommFailure.Kind.ABORTED, assertThrows(CommFailure.class, peer.real::barrier).kind());
            } finally {
                peer.real.close();
            }
        }
    }

    @Test
    void aCallStartedAfterTheNeighbourWasDeclaredLostFailsAtOnce() throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            try (peer) {
                beatFor(peer, SILENCE_MS);
                Thread.sleep(SILENCE_MS + 300);  // no call runs while the heartbeat declares the loss
                long start = System.nanoTime();
                CommFailure f = assertThrows(CommFailure.class, peer.real::barrier);
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                assertEquals(1, f.peerRank(), f.getMessage());
                assertTrue(ms < 100, "the call took " + ms + " ms to fail");
            } finally {
                peer.real.close();
            }
        }
    }

    @Test
    void aHeartbeatConnectionThatEndsWhileTheDataConnectionStaysOpenAndSilentIsALossAfterTheSilenceBound()
            throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            try (peer) {
                peer.beat();
                // FIN, not RST (a close with unread beats would reset); the data connections stay open and silent.
                peer.beatsToReal.shutdownOutput();
                long start = System.nanoTime();
                CommFailure f = assertThrows(CommFailure.class, () -> peer.real.allReduce(
                        Elements.allocate(ElementType.INT32, 100), ElementType.INT32, Combiner.SUM));
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                assertEquals(1, f.peerRank(), f.getMessage());
                assertTrue(f.getMessage().contains("its heartbeat connection closed"), f.getMessage());
                assertTrue(ms < SILENCE_MS + 2_000, "took " + ms + " ms, bound " + SILENCE_MS + " ms");
            } finally {
                peer.real.close();
            }
        }
    }

    @Test
    void framesThatArriveAfterTheNeighboursHeartbeatConnectionEndedAreStillReceived() throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            // A long bound: the frames below must not race the silence clock on a loaded machine.
            FakeNeighbour peer = FakeNeighbour.open(real, fake,
                    SETTINGS.withPeerLostNanos(TimeUnit.MILLISECONDS.toNanos(5 * SILENCE_MS)));
            try (peer) {
                // A neighbour that finished its last call and closed: its heartbeat connections
                // end (with a reset: the real rank's beats are unread) before its last frame,
                // which a network may deliver later, is read here.
                peer.beat();
                peer.beatsToReal.close();
                peer.beatsFromReal.close();
                Thread.sleep(SILENCE_MS / 3);
                var barrier = java.util.concurrent.CompletableFuture.runAsync(() -> peer.real.barrier());
                Thread.sleep(SILENCE_MS / 3);  // the real rank waits, the heartbeat having ended
                ByteBuffer frame = ByteBuffer.allocate(FrameDescriptor.HEADER_LENGTH);
                FrameDescriptor.encode(frame, 0, FrameDescriptor.KIND_BARRIER, FrameDescriptor.NONE,
                        FrameDescriptor.NONE, 0, 0, 0, 0, 0, 0);
                peer.send(frame);
                barrier.get(SILENCE_MS, TimeUnit.MILLISECONDS);
            } finally {
                peer.real.close();
            }
        }
    }

    @Test
    void aByteThatIsNotABeatOnTheHeartbeatConnectionIsALoss() throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            try (peer) {
                ByteBuffer junk = ByteBuffer.wrap(new byte[]{Heartbeat.BEAT, 0x17});
                while (junk.hasRemaining()) {
                    peer.beatsFromReal.write(junk);
                }
                CommFailure f = assertThrows(CommFailure.class, peer.real::barrier);
                assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                assertEquals(1, f.peerRank(), f.getMessage());
                assertTrue(f.getMessage().contains("0x17"), f.getMessage());
            } finally {
                peer.real.close();
            }
        }
    }

    @Test
    void aRankThatComputesForTwiceTheSilenceBoundBetweenCollectivesIsNotDeclaredLost() throws Exception {
        int n = 3;
        int slow = 1;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] world = cluster.openWorld(SETTINGS);
            try {
                List<MemorySegment> results = cluster.runAllOk(n, rank -> {
                    if (rank == slow) {
                        // Outside any call: only its heartbeat thread speaks for it meanwhile,
                        // while the others already wait for it inside the all-reduce.
                        Thread.sleep(2 * SILENCE_MS);
                    }
                    MemorySegment buf = Elements.exactInput(ElementType.INT64, 5000, rank, 1);
                    world[rank].allReduce(buf, ElementType.INT64, Combiner.SUM);
                    return buf;
                });
                for (int rank = 0; rank < n; rank++) {
                    for (long i = 0; i < 5000; i += 499) {
                        assertEquals(Elements.exactReduction(Combiner.SUM, n, i, 1),
                                Elements.get(ElementType.INT64, results.get(rank), i));
                    }
                }
                // Everyone idle for twice the bound, then a call: still nobody lost.
                Thread.sleep(2 * SILENCE_MS);
                cluster.runAllOk(n, rank -> {
                    world[rank].barrier();
                    return null;
                });
            } finally {
                RingCluster.closeAll(world);
            }
        }
    }

    @Test
    void closeStopsTheHeartbeatThreadOfEveryRankAndClosesItsConnections() throws Exception {
        int n = 3;
        try (RingCluster cluster = new RingCluster(n)) {
            RingCollective[] group = cluster.open("hbclose", new int[]{0, 1, 2}, SETTINGS);
            for (int rank = 0; rank < n; rank++) {
                assertTrue(heartbeatThreadAlive("hbclose", rank), "no heartbeat thread for rank " + rank);
            }
            RingCluster.closeAll(group);
            for (int rank = 0; rank < n; rank++) {
                assertFalse(heartbeatThreadAlive("hbclose", rank), "heartbeat thread of rank " + rank
                        + " still runs after close");
            }
        }
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            try (peer) {
                peer.real.close();
                assertFalse(heartbeatThreadAlive("w", 0), "heartbeat thread still runs after close");
                assertTrue(closedByPeer(peer.beatsToReal), "heartbeat connection from the fake left open");
                assertTrue(closedByPeer(peer.beatsFromReal), "heartbeat connection to the fake left open");
            }
        }
    }

    @Test
    void theHeartbeatThreadAllocatesNothingPerBeat() throws Exception {
        // Reflection: the tests are compiled into module ds.comm, which does not read java.management.
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean")
                .invoke(null);
        java.lang.reflect.Method allocatedBytes = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        Settings beatsOften = SETTINGS.withPeerLostNanos(TimeUnit.MILLISECONDS.toNanos(600));  // a beat per 100 ms
        try (RingCluster cluster = new RingCluster(2)) {
            RingCollective[] group = cluster.open("hballoc", new int[]{0, 1}, beatsOften);
            try {
                Thread beating = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals(Heartbeat.threadName("hballoc", 0))).findFirst().orElseThrow();
                Thread.sleep(300);  // first passes: class loading, lazy selector structures
                long before = (long) allocatedBytes.invoke(threads, beating.threadId());
                long start = System.nanoTime();
                Thread.sleep(2_000);
                long after = (long) allocatedBytes.invoke(threads, beating.threadId());
                long beats = (System.nanoTime() - start) / TimeUnit.MILLISECONDS.toNanos(100);
                assertTrue(before >= 0 && after - before < 64, (after - before) + " bytes allocated over about " + beats
                        + " beats (both ways) by " + beating.getName());
            } finally {
                RingCluster.closeAll(group);
            }
        }
    }

    private static boolean heartbeatThreadAlive(String group, int worldRank) {
        String name = Heartbeat.threadName(group, worldRank);
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.isAlive() && t.getName().equals(name));
    }

    /** True once the other end closed {@code ch} (beats sent before are skipped), within 5 s. */
    private static boolean closedByPeer(SocketChannel ch) throws Exception {
        ch.configureBlocking(true);
        ch.socket().setSoTimeout(5_000);
        java.io.InputStream in = ch.socket().getInputStream();
        try {
            int b;
            while ((b = in.read()) == Heartbeat.BEAT) {
                // a beat sent before the close
            }
            return b < 0;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.io.IOException reset) {
            return true;
        }
    }
}
