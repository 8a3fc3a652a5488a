package ds.comm.reliability;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducers;
import ds.comm.ring.RingCollective;
import ds.comm.ring.RingEndpoint;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import ds.comm.testkit.ConnectionFlood;
import ds.comm.topology.JobSecret;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ring connections prove the job secret both ways (HMAC challenge-response in the handshake).
 * Strangers, hostile handshakes and impostor listeners are dropped or refused; the ring of the
 * job still forms and computes the right sums.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
class RingAuthTest {

    private static final JobSecret SECRET = JobSecret.of(JobSecret.generate());
    private static final String JOB = "abc123";
    /** Ring handshake protocol version (HandshakeDescriptor.VERSION), written by hand here as a stranger would. */
    private static final short HANDSHAKE_VERSION = 3;

    private static Settings settings() {
        return Settings.defaults().withTimeoutNanos(TimeUnit.SECONDS.toNanos(10));
    }

    /** A HELLO (data connection) of this job, from world rank 1 to world rank 0, group "w" of 2. */
    private static byte[] hello(String job) {
        byte[] token = job.getBytes(StandardCharsets.US_ASCII);
        byte[] name = "w".getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(28 + token.length + name.length).putInt(0x44535248).putShort(HANDSHAKE_VERSION)
                .putShort((short) 0).putShort((short) token.length).putShort((short) name.length)
                .putInt(1).putInt(1).putInt(0).putInt(2).put(token).put(name).array();
    }

    private static CompletableFuture<RingCollective> open(int rank, RingEndpoint[] endpoints,
                                                          List<InetSocketAddress> addresses) {
        return Jobs.onOwnThread(() -> RingCollective.open(new GroupSpec("w", JOB, new int[] {0, 1}, rank), settings(),
                Reducers.scalar(), endpoints[rank], addresses));
    }

    private static List<InetSocketAddress> addresses(RingEndpoint[] e) {
        List<InetSocketAddress> a = new ArrayList<>();
        for (RingEndpoint x : e) a.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), x.port()));
        return a;
    }

    @Test
    void strangersAndHostileHandshakesAtARingPortAreDroppedAndTheRingStillComputes() throws Exception {
        RingEndpoint[] endpoints = {RingEndpoint.bind(SECRET), RingEndpoint.bind(SECRET)};
        try {
            int port = endpoints[0].port();
            long seed = System.nanoTime();
            AtomicInteger sent = new AtomicInteger();
            AtomicInteger answeredWithAck = new AtomicInteger();
            List<Thread> fuzzers = new ArrayList<>();
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2000);
            for (int t = 0; t < 3; t++) {
                Random random = new Random(seed + t);
                fuzzers.add(Thread.ofPlatform().start(() -> {
                    while (System.nanoTime() < until) {
                        try (Socket s = new Socket("127.0.0.1", port)) {
                            s.setSoTimeout(300);
                            if (hostile(random, s)) answeredWithAck.incrementAndGet();
                            sent.incrementAndGet();
                        } catch (IOException e) {
                            // reset by the listener: its right
                        }
                    }
                }));
            }
            for (Thread f : fuzzers) f.join(TimeUnit.SECONDS.toMillis(20));
            System.out.println("RingAuthTest: " + sent.get() + " hostile connections, seed " + seed);
            assertTrue(sent.get() > 20, "the fuzzer barely ran: " + sent.get());
            assertEquals(0, answeredWithAck.get(), "a connection without the secret was accepted");
            var r0 = open(0, endpoints, addresses(endpoints));
            var r1 = open(1, endpoints, addresses(endpoints));
            RingCollective[] ring = {r0.join(), r1.join()};
            try (Arena arena = Arena.ofShared()) {
                MemorySegment[] bufs = new MemorySegment[2];
                List<CompletableFuture<Boolean>> calls = new ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    bufs[r] = arena.allocate(ValueLayout.JAVA_LONG, 1000);
                    for (int i = 0; i < 1000; i++) bufs[r].setAtIndex(ValueLayout.JAVA_LONG, i, i * (r + 1L));
                    int rank = r;
                    calls.add(Jobs.onOwnThread(() -> {
                        ring[rank].allReduce(bufs[rank], ElementType.INT64, Combiner.SUM);
                        return true;
                    }));
                }
                calls.forEach(CompletableFuture::join);
                for (int r = 0; r < 2; r++) {
                    for (int i = 0; i < 1000; i++) assertEquals(3L * i, bufs[r].getAtIndex(ValueLayout.JAVA_LONG, i));
                }
            } finally {
                for (RingCollective c : ring) c.close();
            }
        } finally {
            for (RingEndpoint e : endpoints) e.close();
        }
    }

    @Test
    void slowConnectionsFillingEveryHandshakeSlotDelayTheRingOnlyBriefly() throws Exception {
        ds.comm.testkit.LogCapture log = ds.comm.testkit.LogCapture.start();
        long floodStart = System.nanoTime();
        RingEndpoint[] endpoints = {RingEndpoint.bind(SECRET), RingEndpoint.bind(SECRET)};
        // 300 slow-loris connections (half a HELLO each, never finished), reopened as soon as
        // dropped: more than the listener's 256 handshakes in progress, each holding its slot
        // for the 10 s handshake bound unless evicted.
        ConnectionFlood flood = ConnectionFlood.start(endpoints[0].port(), 300, java.util.Arrays.copyOf(hello(JOB), 10));
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (flood.opened() < 300 && System.nanoTime() < deadline) Thread.sleep(10);
            long start = System.nanoTime();
            Settings quick = Settings.defaults().withTimeoutNanos(TimeUnit.SECONDS.toNanos(6));
            List<InetSocketAddress> addresses = addresses(endpoints);
            var r0 = Jobs.onOwnThread(() -> RingCollective.open(new GroupSpec("w", JOB, new int[] {0, 1}, 0), quick,
                    Reducers.scalar(), endpoints[0], addresses));
            var r1 = Jobs.onOwnThread(() -> RingCollective.open(new GroupSpec("w", JOB, new int[] {0, 1}, 1), quick,
                    Reducers.scalar(), endpoints[1], addresses));
            r0.join().close();
            r1.join().close();
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis < 5000, "the ring took " + millis + " ms to form under the flood");
        } finally {
            flood.close();
            for (RingEndpoint e : endpoints) e.close();
            log.close();
        }
        assertTrue(flood.opened() >= 300, "the flood did not fill the slots: " + flood.opened());
        // Issue 15 measured 85 MB in 28 s here; the bound is 1 MB per minute of flood.
        double seconds = Math.max(1, (System.nanoTime() - floodStart) / 1e9);
        assertTrue(log.bytes() < 1_000_000 / 60.0 * seconds, log.bytes() + " bytes of log in " + seconds + " s");
    }

    /** One hostile connection; true if the listener ever sent an ACK magic ("DSRA"). */
    private static boolean hostile(Random r, Socket s) throws IOException {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        switch (r.nextInt(6)) {
            case 0 -> {
                byte[] b = new byte[r.nextInt(3000)];
                r.nextBytes(b);
                out.write(b);
            }
            case 1 -> { // a HELLO of this job answered with a random RESPONSE
                out.write(hello(JOB));
                out.flush();
                in.readNBytes(36);
                byte[] resp = new byte[68];
                r.nextBytes(resp);
                ByteBuffer.wrap(resp).putInt(0, 0x44535252);
                out.write(resp);
            }
            case 2 -> { // a HELLO answered with a tag made with another secret
                byte[] hello = hello(JOB);
                out.write(hello);
                out.flush();
                byte[] challenge = in.readNBytes(36);
                byte[] nonce = java.util.Arrays.copyOfRange(challenge, 4, 36);
                byte[] mine = JobSecret.nonce();
                byte[] tag = JobSecret.of("not the secret").tag(
                        "ds-comm ring connector".getBytes(StandardCharsets.US_ASCII), nonce, mine, hello);
                out.write(ByteBuffer.allocate(68).putInt(0x44535252).put(mine).put(tag).array());
            }
            case 3 -> { // absurd lengths
                byte[] h = hello(JOB);
                ByteBuffer.wrap(h).putShort(8, (short) -1).putShort(10, (short) -1);
                out.write(h);
            }
            case 4 -> out.write(java.util.Arrays.copyOf(hello(JOB), 5 + r.nextInt(20))); // half a HELLO
            default -> out.write(hello("ffff")); // another job
        }
        out.flush();
        byte[] got = new byte[0];
        try {
            got = in.readAllBytes();
        } catch (IOException e) {
            // reset or read timeout
        }
        for (int i = 0; i + 4 <= got.length; i++) {
            if (ByteBuffer.wrap(got, i, 4).getInt() == 0x44535241) return true;
        }
        return false;
    }

    @Test
    void aListenerThatCannotProveTheSecretIsNotUsed() throws Exception {
        RingEndpoint mine = RingEndpoint.bind(SECRET);
        try (ServerSocket impostor = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            List<InetSocketAddress> addresses = List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), mine.port()),
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), impostor.getLocalPort()));
            // Rank 0 of a 2-ring connects to rank 1, which is the impostor: it challenges and
            // then "accepts" with a made-up tag.
            // Generous: the assertion is on the reason, and a loaded machine (the whole suite) can
            // take over a second for the two handshakes.
            Settings quick = Settings.defaults().withTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(5000));
            var opening = Jobs.onOwnThread(() -> RingCollective.open(new GroupSpec("w", JOB, new int[] {0, 1}, 0), quick,
                    Reducers.scalar(), mine, addresses));
            impostor.setSoTimeout(5000);
            Thread server = Thread.ofPlatform().daemon().start(() -> {
                while (!opening.isDone()) {
                    try (Socket s = impostor.accept()) {
                        s.setSoTimeout(2000);
                        s.getInputStream().readNBytes(28 + JOB.length() + 1);
                        s.getOutputStream().write(ByteBuffer.allocate(36).putInt(0x44535243).array());
                        s.getInputStream().readNBytes(68);
                        s.getOutputStream().write(ByteBuffer.allocate(40).putInt(0x44535241).putShort(HANDSHAKE_VERSION).array());
                        s.getOutputStream().flush();
                        Thread.sleep(100);
                    } catch (IOException | InterruptedException e) {
                        return;
                    }
                }
            });
            CompletionException e = assertThrows(CompletionException.class, opening::join);
            CommFailure f = assertInstanceOf(CommFailure.class, e.getCause());
            assertTrue(f.getMessage().contains("failed authentication"), f.getMessage());
            server.join(10_000);
        } finally {
            mine.close();
        }
    }
}
