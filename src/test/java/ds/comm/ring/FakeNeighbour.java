package ds.comm.ring;

import ds.comm.topology.JobSecret;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A hand-driven world rank 1 of a 2-rank group "w" whose rank 0 is a real {@link RingCollective}:
 * it speaks the handshake for its data and heartbeat connections and then does only what the
 * test tells it (send hostile frames, beat, fall silent, disconnect).
 */
final class FakeNeighbour implements AutoCloseable {

    final RingCollective real;
    /** Data: fake -> real (the fake is the real rank's left neighbour). */
    final SocketChannel toReal;
    /** Data: real -> fake. */
    final SocketChannel fromReal;
    /** Heartbeats both ways, the connection the fake opened. */
    final SocketChannel beatsToReal;
    /** Heartbeats both ways, the connection the real rank opened. */
    final SocketChannel beatsFromReal;
    private final ByteBuffer beat = ByteBuffer.allocate(1);

    private FakeNeighbour(RingCollective real, SocketChannel toReal, SocketChannel fromReal, SocketChannel beatsToReal,
                          SocketChannel beatsFromReal) {
        this.real = real;
        this.toReal = toReal;
        this.fromReal = fromReal;
        this.beatsToReal = beatsToReal;
        this.beatsFromReal = beatsFromReal;
    }

    /** Opens world rank 0 of "w" through {@code realEndpoint} with {@code settings}, against a fake rank 1. */
    static FakeNeighbour open(RingEndpoint realEndpoint, RingEndpoint fakeEndpoint, Settings settings)
            throws Exception {
        List<InetSocketAddress> addresses = List.of(new InetSocketAddress("127.0.0.1", realEndpoint.port()),
                new InetSocketAddress("127.0.0.1", fakeEndpoint.port()));
        CompletableFuture<RingCollective> opening = CompletableFuture.supplyAsync(() -> RingCollective.open(
                new GroupSpec("w", RingCluster.JOB, new int[]{0, 1}, 0), settings, RingCluster.REDUCER, realEndpoint,
                addresses));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        SocketChannel toReal = RingConnector.connect(addresses.get(0),
                HandshakeDescriptor.hello(RingCluster.JOB, "w", 1, 1, 0, 2), deadline, JobSecret.unauthenticated());
        SocketChannel beatsToReal = RingConnector.connect(addresses.get(0),
                HandshakeDescriptor.hello(RingCluster.JOB, "w", 1, 1, 0, 2, HandshakeDescriptor.PURPOSE_HEARTBEAT),
                deadline, JobSecret.unauthenticated());
        RingEndpoint.Inbound fromReal = fakeEndpoint.claim(RingCluster.JOB, "w", 0, 1, deadline);
        RingEndpoint.Inbound beatsFromReal = fakeEndpoint.claim(RingCluster.JOB, "w", 0, 1,
                HandshakeDescriptor.PURPOSE_HEARTBEAT, deadline);
        RingCollective real = opening.get(5, TimeUnit.SECONDS);
        return new FakeNeighbour(real, toReal, fromReal.channel(), beatsToReal, beatsFromReal.channel());
    }

    /** What a test does with a real rank 0 and its fake rank 1. */
    interface Scene {
        void play(FakeNeighbour peer, RingCollective real) throws Exception;
    }

    /**
     * Opens a real rank 0 with {@code settings} against a fake rank 1 on endpoints of their own,
     * plays {@code scene}, then closes both sides and the endpoints whatever happened.
     */
    static void play(Settings settings, Scene scene) throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = open(real, fake, settings);
            try (peer) {
                scene.play(peer, peer.real);
            } finally {
                peer.real.close();
            }
        }
    }

    /** Sends one beat on both heartbeat connections, as a live neighbour's heartbeat thread does. */
    void beat() throws Exception {
        for (SocketChannel ch : new SocketChannel[]{beatsToReal, beatsFromReal}) {
            beat.clear().put(0, Heartbeat.BEAT);
            while (beat.hasRemaining()) {
                ch.write(beat);
            }
        }
    }

    /** Writes {@code bytes} completely to the data connection, blocking. */
    void send(ByteBuffer bytes) throws Exception {
        toReal.configureBlocking(true);
        while (bytes.hasRemaining()) {
            toReal.write(bytes);
        }
    }

    /** Closes the fake's four connections (the real collective is closed separately). */
    @Override
    public void close() {
        RingEndpoint.closeQuietly(toReal);
        RingEndpoint.closeQuietly(fromReal);
        RingEndpoint.closeQuietly(beatsToReal);
        RingEndpoint.closeQuietly(beatsFromReal);
    }
}
