package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A hand-driven peer that speaks the handshake correctly and then sends hostile frames. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RingHostilePeerTest {

    static final Settings SETTINGS = RingCluster.settings(256, 1024, 5_000);

    private static void sendHeader(SocketChannel ch, int kind, int dtype, int op, long count, int payloadLength)
            throws Exception {
        ByteBuffer h = ByteBuffer.allocate(FrameDescriptor.HEADER_LENGTH);
        FrameDescriptor.encode(h, 0, kind, dtype, op, 0, 0, 0, count, payloadLength, 0);
        ch.configureBlocking(true);
        while (h.hasRemaining()) {
            ch.write(h);
        }
    }

    @Test
    void aFrameAnnouncingTwoGibibytesIsRejectedAsMismatchBeforeAnyPayloadIsRead() throws Exception {
        FakeNeighbour.play(SETTINGS, (peer, collective) -> {
            SocketChannel toReal = peer.toReal;
            // The right header for an fp32 sum of 1000 elements, except for its length.
            sendHeader(toReal, FrameDescriptor.KIND_ALL_REDUCE_RING, ElementType.FP32.code(),
                    Combiner.SUM.code(), 1000, Integer.MAX_VALUE);
            CommFailure f = assertThrows(CommFailure.class, () -> collective.allReduce(
                    Elements.allocate(ElementType.FP32, 1000), ElementType.FP32, Combiner.SUM));
            assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
            assertEquals(1, f.peerRank());
            assertTrue(f.getMessage().contains("2147483647 payload bytes"), f.getMessage());
        });
    }

    @Test
    void anAbortFrameWithAnOversizedExplanationIsRejected() throws Exception {
        FakeNeighbour.play(SETTINGS, (peer, collective) -> {
            SocketChannel toReal = peer.toReal;
            sendHeader(toReal, FrameDescriptor.KIND_ABORT, 0, 0, 0, 1 << 20);
            CommFailure f = assertThrows(CommFailure.class, () -> collective.barrier());
            assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
            assertTrue(f.getMessage().contains("abort frame announces"), f.getMessage());
        });
    }

    @Test
    void openingTowardsAnUnresolvableAddressFailsAsSetupOrTimeoutNotAsARawException() {
        try (RingEndpoint real = RingEndpoint.bind()) {
            List<InetSocketAddress> addresses = List.of(new InetSocketAddress("127.0.0.1", real.port()),
                    InetSocketAddress.createUnresolved("no-such-host.invalid", 1));
            CommFailure f = assertThrows(CommFailure.class, () -> RingCollective.open(
                    new GroupSpec("w", RingCluster.JOB, new int[]{0, 1}, 0), RingCluster.settings(256, 1024, 500),
                    RingCluster.REDUCER, real, addresses));
            assertTrue(f.getMessage().contains("no-such-host.invalid"), f.getMessage());
        }
    }

    @Test
    void aPeerThatDisconnectsIsReportedLostByWorldRank() throws Exception {
        try (RingEndpoint real = RingEndpoint.bind(); RingEndpoint fake = RingEndpoint.bind()) {
            FakeNeighbour peer = FakeNeighbour.open(real, fake, SETTINGS);
            RingCollective collective = peer.real;
            try {
                peer.toReal.close();
                peer.fromReal.close();
                CommFailure f = assertThrows(CommFailure.class, () -> collective.allReduce(
                        Elements.allocate(ElementType.INT32, 10_000), ElementType.INT32, Combiner.SUM));
                assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
                assertEquals(1, f.peerRank());
            } finally {
                collective.close();
                peer.close();
            }
        }
    }
}
