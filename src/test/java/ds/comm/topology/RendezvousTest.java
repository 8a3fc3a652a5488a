package ds.comm.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** In-process rendezvous: each rank is a thread, so failures can be staged precisely. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class RendezvousTest {

    private static final long SHORT = TimeUnit.SECONDS.toNanos(2);

    static int freePort() {
        return MasterPort.free();
    }

    private static LaunchEnv env(int rank, int size, int port, long timeoutNanos) {
        return new LaunchEnv(LauncherKind.DSCOMM, rank, size, -1, -1, "127.0.0.1", port,
                Duration.ofNanos(timeoutNanos), null);
    }

    /** Starts one rank on its own thread; the future holds its topology or its failure. */
    private static CompletableFuture<Topology> rank(LaunchEnv env, String node, int ringPort) {
        CompletableFuture<Topology> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("rank-" + env.rank()).start(() -> {
            try {
                f.complete(Rendezvous.join(env, node, ringPort, env.timeoutNanos(), JobSecret.unauthenticated()));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static RendezvousException failureOf(CompletableFuture<Topology> f) {
        CompletionException e = assertThrows(CompletionException.class, f::join);
        return assertInstanceOf(RendezvousException.class, e.getCause());
    }

    @Test
    void fourRanksOnTwoNodesAgreeOnOneTable() throws Exception {
        int port = freePort();
        String[] nodes = {"hostA", "hostA", "hostB", "hostB"};
        List<CompletableFuture<Topology>> ranks = new ArrayList<>();
        for (int r = 3; r >= 0; r--) { // rank 0 last: the others must retry until it listens
            ranks.add(0, rank(env(r, 4, port, SHORT * 2), nodes[r], 7000 + r));
        }
        String digest = ranks.get(0).join().digest();
        for (int r = 0; r < 4; r++) {
            Topology t = ranks.get(r).join();
            assertEquals(r, t.rank());
            assertEquals(digest, t.digest(), "rank " + r + " sees another table");
            assertEquals(List.of("hostA", "hostB"), t.nodes());
            assertArrayEquals(new int[] {2, 3}, t.ranksOn("hostB"));
            assertEquals(2, t.nodeLeader("hostB"));
            assertEquals(r % 2, t.localRank(r));
            assertEquals(7000 + r, t.ringAddress(r).getPort());
            assertTrue(t.ringAddress(r).getAddress().isLoopbackAddress(), "ring host is the route to rank 0");
            assertEquals(ProcessHandle.current().pid(), t.pidOf(r));
            assertEquals(32, t.jobToken().length());
        }
        try (Socket s = new Socket()) {
            assertThrows(ConnectException.class, () -> s.connect(new InetSocketAddress("127.0.0.1", port), 1000),
                    "rank 0 closes its listener after the rendezvous");
        }
    }

    @Test
    void twoJobsDrawDifferentTokens() throws Exception {
        String first = twoRankJob().digest();
        String second = twoRankJob().digest();
        assertFalse(first.equals(second), "two rendezvous produced the same token");
    }

    private static Topology twoRankJob() throws IOException {
        int port = freePort();
        var a = rank(env(0, 2, port, SHORT), "n", 0);
        var b = rank(env(1, 2, port, SHORT), "n", 0);
        assertEquals(a.join().digest(), b.join().digest());
        return a.join();
    }

    @Test
    void rankArrivingTwiceFailsEveryRankPromptly() throws Exception {
        int port = freePort();
        long timeout = TimeUnit.SECONDS.toNanos(10);
        long start = System.nanoTime();
        var zero = rank(env(0, 3, port, timeout), "n", 0);
        var one = rank(env(1, 3, port, timeout), "n", 0);
        var impostor = rank(env(1, 3, port, timeout), "m", 0);
        for (var f : List.of(zero, one, impostor)) {
            String m = failureOf(f).getMessage();
            assertTrue(m.contains("rank 1 arrived twice"), m);
        }
        assertTrue(System.nanoTime() - start < timeout / 2, "duplicate ranks must fail at once, not at the timeout");
    }

    @Test
    void rankWithAnotherWorldSizeFailsEveryRank() throws Exception {
        int port = freePort();
        var zero = rank(env(0, 2, port, SHORT), "n", 0);
        var one = rank(env(1, 3, port, SHORT), "n", 0);
        for (var f : List.of(zero, one)) {
            String m = failureOf(f).getMessage();
            assertTrue(m.contains("arrived with world size 3 but rank 0 has world size 2"), m);
        }
    }

    @Test
    void rankThatNeverArrivesIsNamedOnEveryRankWithinTheTimeout() throws Exception {
        int port = freePort();
        long start = System.nanoTime();
        var zero = rank(env(0, 3, port, SHORT), "n", 0);
        var two = rank(env(2, 3, port, SHORT), "n", 0);
        for (var f : List.of(zero, two)) {
            String m = failureOf(f).getMessage();
            assertTrue(m.contains("ranks [1] of 3 never arrived"), m);
        }
        long elapsed = System.nanoTime() - start;
        assertTrue(elapsed < SHORT + TimeUnit.MILLISECONDS.toNanos(1500), "took " + elapsed / 1_000_000 + " ms");
    }

    @Test
    void aRankArrivingAfterAnotherWasLostIsToldWhichRankWasLost() throws Exception {
        int port = freePort();
        long patient = TimeUnit.SECONDS.toNanos(10);
        var zero = rank(env(0, 3, port, patient), "n", 0);
        // Rank 2 says HELLO, then gives up (its own short deadline) and disconnects: lost.
        var two = rank(env(2, 3, port, TimeUnit.MILLISECONDS.toNanos(600)), "n", 0);
        failureOf(two);
        // Rank 1 arrives after the loss, inside rank 0's grace: it must not blame rank 0.
        var one = rank(env(1, 3, port, patient), "n", 0);
        for (var f : List.of(zero, one)) {
            String m = failureOf(f).getMessage();
            assertTrue(m.contains("rank 2") && m.contains("disconnected before all 3 ranks arrived"), m);
        }
    }

    @Test
    void aRankZeroThatResetsTheConnectionAfterTheHelloIsReportedWithTheSecretHint() throws Exception {
        // What a rank with another DSCOMM_JOB_SECRET sees when rank 0 refuses its proof and hangs
        // up before reading all of it: a reset, not an orderly end of stream.
        try (ServerSocket fake = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            var one = rank(env(1, 2, fake.getLocalPort(), TimeUnit.SECONDS.toNanos(5)), "n", 0);
            try (Socket s = fake.accept()) {
                ByteBuffer challenge = RendezvousCodec.challenge(JobSecret.nonce());
                s.getOutputStream().write(challenge.array(), challenge.arrayOffset() + challenge.position(),
                        challenge.remaining());
                s.getOutputStream().flush();
                s.setSoTimeout(300);
                try {
                    while (s.getInputStream().read() >= 0) {
                        // take the HELLO and proof until the rank waits for an answer
                    }
                } catch (java.net.SocketTimeoutException waiting) {
                    // the rank has sent everything and waits
                }
                s.setSoLinger(true, 0);   // close with a reset
            }
            // The next attempt is reset before any challenge: it must not hide what the first one showed.
            try (Socket s = fake.accept()) {
                s.setSoLinger(true, 0);
            }
            fake.close();
            String m = failureOf(one).getMessage();
            assertTrue(m.contains("broke before rank 0's authenticated answer") && m.contains(JobSecret.ENV), m);
        }
    }

    /** Starts one rank on its own thread, reading the launcher's ledger of exits. */
    private static CompletableFuture<Topology> rank(LaunchEnv env, LaunchLedger ledger) {
        CompletableFuture<Topology> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("rank-" + env.rank()).start(() -> {
            try {
                f.complete(Rendezvous.join(env, "n", 0, env.timeoutNanos(), JobSecret.fromEnvironment(Map.of()), ledger));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    @Test
    void aRankTheLauncherSawExitBeforeItsHelloIsNamedOnEveryRankLongBeforeTheTimeout(@TempDir Path tmp) throws Exception {
        Path exits = LaunchLedger.create(tmp);
        LaunchLedger ledger = LaunchLedger.fromEnvironment(Map.of(LaunchLedger.ENV, exits.toString()));
        int port = freePort();
        long patient = TimeUnit.SECONDS.toNanos(15);
        var zero = rank(env(0, 4, port, patient), ledger);
        var one = rank(env(1, 4, port, patient), ledger);
        Thread.sleep(300);
        long start = System.nanoTime();
        LaunchLedger.append(exits, 0, 0); // rank 0 is running: a line about it must not matter while it serves
        LaunchLedger.append(exits, 2, 137);
        // Rank 3 starts after the loss (a slow JVM): it must hear who was lost, not time out.
        var three = rank(env(3, 4, port, patient), ledger);
        for (var f : List.of(zero, one, three)) {
            RendezvousException e = failureOf(f);
            assertEquals(RendezvousException.Cause.LOST, e.kind(), e.getMessage());
            assertEquals(2, e.rank(), e.getMessage());
            assertTrue(e.getMessage().contains("rank 2 exited with code 137"), e.getMessage());
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 4_000, "named after " + millis + " ms; the timeout was 15 s");
    }

    @Test
    void aRankZeroTheLauncherSawExitIsNamedByARankStillTryingToReachIt(@TempDir Path tmp) throws Exception {
        Path exits = LaunchLedger.create(tmp);
        LaunchLedger.append(exits, 0, 1);
        long start = System.nanoTime();
        RendezvousException e = failureOf(rank(env(1, 2, freePort(), TimeUnit.SECONDS.toNanos(15)),
                LaunchLedger.fromEnvironment(Map.of(LaunchLedger.ENV, exits.toString()))));
        assertEquals(RendezvousException.Cause.LOST, e.kind(), e.getMessage());
        assertEquals(0, e.rank());
        assertTrue(e.getMessage().contains("rank 0 exited with code 1"), e.getMessage());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(3), "not at once");
    }

    @Test
    void rankZeroThatNeverListensFailsTheOthersAtTheirDeadline() throws Exception {
        int port = freePort();
        long start = System.nanoTime();
        String m = failureOf(rank(env(1, 2, port, TimeUnit.MILLISECONDS.toNanos(800)), "n", 0)).getMessage();
        assertTrue(m.contains("could not reach rank 0's rendezvous at 127.0.0.1:" + port), m);
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(800), "gave up before its deadline");
    }

    @Test
    void strayConnectionDoesNotDisturbTheRendezvous() throws Exception {
        int port = freePort();
        var zero = rank(env(0, 2, port, SHORT * 2), "n", 0);
        // A health check that speaks another protocol and hangs up.
        long deadline = System.nanoTime() + SHORT;
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                break;
            } catch (ConnectException e) {
                assertTrue(System.nanoTime() < deadline, "rank 0 never listened");
                Thread.sleep(10);
            }
        }
        var one = rank(env(1, 2, port, SHORT * 2), "n", 0);
        assertEquals(zero.join().digest(), one.join().digest());
    }

    @Test
    void malformedHelloFromAnUnauthenticatedPeerIsDroppedAndTheJobCarriesOn() throws Exception {
        int port = freePort();
        var zero = rank(env(0, 2, port, SHORT * 2), "n", 0);
        ByteBuffer frame = ByteBuffer.allocate(RendezvousDescriptor.HEADER_BYTES + 8);
        frame.putInt(RendezvousDescriptor.MAGIC).putShort(RendezvousDescriptor.VERSION)
                .putShort(RendezvousDescriptor.TYPE_HELLO).putInt(8).putInt(70_000).putInt(0);
        long deadline = System.nanoTime() + SHORT;
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(5000);
                OutputStream out = s.getOutputStream();
                out.write(frame.array());
                // A PROOF whose tag is wrong, as from a peer that does not know the secret.
                out.write(RendezvousCodec.proof(new byte[32], new byte[32]).array(), 0,
                        RendezvousDescriptor.HEADER_BYTES + RendezvousDescriptor.PROOF_BYTES);
                out.flush();
                // Rank 0 drops the connection and tells it nothing but its challenge.
                byte[] all = s.getInputStream().readAllBytes();
                assertEquals(RendezvousDescriptor.HEADER_BYTES + RendezvousDescriptor.CHALLENGE_BYTES, all.length);
                assertEquals(RendezvousDescriptor.TYPE_CHALLENGE, ByteBuffer.wrap(all).getShort(6));
                break;
            } catch (ConnectException e) {
                assertTrue(System.nanoTime() < deadline, "rank 0 never listened");
                Thread.sleep(10);
            }
        }
        var one = rank(env(1, 2, port, SHORT * 2), "n", 0);
        assertEquals(zero.join().digest(), one.join().digest());
    }

    @Test
    void occupiedMasterPortIsReportedByRankZero() throws Exception {
        try (ServerSocket other = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String m = failureOf(rank(env(0, 2, other.getLocalPort(), SHORT), "n", 0)).getMessage();
            assertTrue(m.contains("rank 0 cannot listen for the rendezvous"), m);
        }
    }

    @Test
    void worldOfOneNeedsNoRendezvous() {
        Topology t = Rendezvous.join(LaunchEnv.single(), "solo", 4242, SHORT, JobSecret.unauthenticated());
        assertEquals(1, t.worldSize());
        assertEquals(0, t.rank());
        assertEquals(List.of("solo"), t.nodes());
        assertEquals(4242, t.ringAddress(0).getPort());
        assertTrue(t.isNodeLocal(new int[] {0}));
    }

    @Test
    void loopbackLiteralsListenOnLoopbackAndNamesOnEveryInterface() {
        assertTrue(Rendezvous.bindAddress(env(0, 2, 5000, SHORT)).getAddress().isLoopbackAddress());
        LaunchEnv named = new LaunchEnv(LauncherKind.TORCHRUN, 0, 2, -1, -1, "some-host-name", 5000, Duration.ofSeconds(1),
                null);
        assertTrue(Rendezvous.bindAddress(named).getAddress().isAnyLocalAddress());
        LaunchEnv routed = new LaunchEnv(LauncherKind.TORCHRUN, 0, 2, -1, -1, "10.1.2.3", 5000, Duration.ofSeconds(1),
                null);
        assertTrue(Rendezvous.bindAddress(routed).getAddress().isAnyLocalAddress());
        assertEquals(5000, Rendezvous.bindAddress(routed).getPort());
    }

    /** A non-loopback IPv4 address of this machine, if it has one. */
    private static java.util.Optional<InetAddress> siteAddress() throws IOException {
        return java.net.NetworkInterface.networkInterfaces().filter(i -> {
                    try {
                        return i.isUp() && !i.isLoopback();
                    } catch (java.net.SocketException e) {
                        return false;
                    }
                }).flatMap(java.net.NetworkInterface::inetAddresses)
                .filter(a -> a instanceof java.net.Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress())
                .findFirst();
    }

    @Test
    void loopbackRingAddressesOnRankZerosNodeAreReplacedByTheAddressRemoteRanksUsed() throws Exception {
        InetAddress site = siteAddress().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(site != null, "no non-loopback IPv4 interface");
        int port = freePort();
        // Rank 0 listens on every interface (MASTER_ADDR is not a loopback literal) and, like rank 1
        // on the same node, reaches itself through loopback; rank 2 "on another node" comes via the
        // site address.
        LaunchEnv zero = new LaunchEnv(LauncherKind.DSCOMM, 0, 3, -1, -1, "0.0.0.0", port, Duration.ofNanos(SHORT), null);
        LaunchEnv two = new LaunchEnv(LauncherKind.DSCOMM, 2, 3, -1, -1, site.getHostAddress(), port,
                Duration.ofNanos(SHORT), null);
        var f0 = rank(zero, "A", 100);
        var f1 = rank(env(1, 3, port, SHORT), "A", 101);
        var f2 = rank(two, "B", 102);
        Topology t = f2.join();
        assertEquals(f0.join().digest(), t.digest());
        assertEquals(f1.join().digest(), t.digest());
        for (int r = 0; r < 3; r++) {
            assertEquals(site, t.ringAddress(r).getAddress(), "rank " + r + " must be reachable from node B");
            assertEquals(100 + r, t.ringAddress(r).getPort());
        }
    }

    @Test
    void helloArrivingInPiecesIsReassembled() throws Exception {
        int port = freePort();
        var zero = rank(env(0, 2, port, SHORT * 2), "n", 0);
        RankRecord me = new RankRecord(1, "slow-node", new InetSocketAddress(InetAddress.getLoopbackAddress(), 9),
                77, java.nio.ByteOrder.BIG_ENDIAN, -1);
        byte[] hello = RendezvousCodec.hello(2, me).array();
        int length = RendezvousDescriptor.HEADER_BYTES + ByteBuffer.wrap(hello).getInt(RendezvousDescriptor.BODY_LENGTH_OFFSET);
        hello = java.util.Arrays.copyOf(hello, length);
        JobSecret secret = JobSecret.fromEnvironment(System.getenv());
        long deadline = System.nanoTime() + SHORT;
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setTcpNoDelay(true);
                s.setSoTimeout(5000);
                byte[] challenge = s.getInputStream().readNBytes(RendezvousDescriptor.HEADER_BYTES
                        + RendezvousDescriptor.CHALLENGE_BYTES);
                byte[] serverNonce = java.util.Arrays.copyOfRange(challenge, RendezvousDescriptor.HEADER_BYTES,
                        challenge.length);
                byte[] clientNonce = JobSecret.nonce();
                OutputStream out = s.getOutputStream();
                // header in two pieces, then the body in two pieces, each sent on its own
                int[] cuts = {5, RendezvousDescriptor.HEADER_BYTES, RendezvousDescriptor.HEADER_BYTES + 7, length};
                int from = 0;
                for (int cut : cuts) {
                    out.write(hello, from, cut - from);
                    out.flush();
                    from = cut;
                    Thread.sleep(60);
                }
                ByteBuffer proof = RendezvousCodec.proof(clientNonce,
                        MutualProof.RENDEZVOUS.connectorTag(secret, clientNonce, serverNonce, hello));
                out.write(proof.array(), 0, proof.limit());
                out.flush();
                byte[] header = s.getInputStream().readNBytes(RendezvousDescriptor.HEADER_BYTES);
                assertEquals(RendezvousDescriptor.TYPE_TABLE, ByteBuffer.wrap(header).getShort(RendezvousDescriptor.TYPE_OFFSET));
                break;
            } catch (ConnectException e) {
                assertTrue(System.nanoTime() < deadline, "rank 0 never listened");
                Thread.sleep(10);
            }
        }
        Topology t = zero.join();
        assertEquals("slow-node", t.nodeOf(1));
        assertEquals(77, t.pidOf(1));
        assertEquals(java.nio.ByteOrder.BIG_ENDIAN, t.byteOrderOf(1));
    }

    @Test
    void sixtyFourRanksOnEightNodesAgree() throws Exception {
        int port = freePort();
        List<CompletableFuture<Topology>> ranks = new ArrayList<>();
        for (int r = 0; r < 64; r++) {
            ranks.add(rank(env(r, 64, port, TimeUnit.SECONDS.toNanos(10)), "node" + (r % 8), 0));
        }
        String digest = ranks.getFirst().join().digest();
        for (var f : ranks) {
            assertEquals(digest, f.join().digest());
        }
        Topology t = ranks.get(13).join();
        assertEquals(8, t.nodes().size());
        assertArrayEquals(new int[] {5, 13, 21, 29, 37, 45, 53, 61}, t.ranksOn("node5"));
        assertEquals(1, t.localRank(13));
        assertTrue(t.isNodeLocal(new int[] {5, 61}));
        assertEquals(2, t.nodeCount(new int[] {5, 6, 13}));
    }

    @Test
    void aListenerOpenedAheadServesRankZeroOnThePortTheSystemChose() throws Exception {
        JobSecret secret = JobSecret.of(JobSecret.generate());
        Rendezvous.Listener listener = Rendezvous.listen(3, secret);
        int port = listener.port();
        assertTrue(port > 0, "an ephemeral port is bound before anyone is told of it");
        List<CompletableFuture<Topology>> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            LaunchEnv e = env(r, 3, port, SHORT * 2);
            CompletableFuture<Topology> f = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("rank-" + r).start(() -> {
                try {
                    f.complete(e.rank() == 0 ? Rendezvous.join(e, "hostA", 7100, e.timeoutNanos(), listener)
                            : Rendezvous.join(e, "hostA", 7100 + e.rank(), e.timeoutNanos(), secret, LaunchLedger.none()));
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
            ranks.add(f);
        }
        String digest = ranks.get(0).join().digest();
        for (int r = 0; r < 3; r++) assertEquals(digest, ranks.get(r).join().digest(), "rank " + r);
        // The listener closed with the rendezvous: nothing listens on its port any more.
        assertThrows(ConnectException.class, () -> new Socket(InetAddress.getLoopbackAddress(), port).close());
    }

    @Test
    void aListenerIsRefusedForAnotherRankWorldOrPortAndClosed() throws Exception {
        Rendezvous.Listener listener = Rendezvous.listen(2, JobSecret.unauthenticated());
        int port = listener.port();
        var e = assertThrows(IllegalArgumentException.class,
                () -> Rendezvous.join(env(0, 3, port, SHORT), "hostA", 0, SHORT, listener));
        assertTrue(e.getMessage().contains("serves rank 0 of 2 ranks on port " + port), e.getMessage());
        assertThrows(ConnectException.class, () -> new Socket(InetAddress.getLoopbackAddress(), port).close());
    }
}
