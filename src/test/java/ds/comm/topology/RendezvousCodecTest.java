package ds.comm.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

class RendezvousCodecTest {

    private static final RankRecord V4 = new RankRecord(1, "node-ä", new InetSocketAddress(
            InetAddress.getLoopbackAddress(), 65_535), new ProcessIdentity(4242, 1_790_000_000_123L, 4_026_531_836L),
            ByteOrder.LITTLE_ENDIAN, 3, new ShmView(123_456_789L, 4L << 20));

    private static ByteBuffer body(ByteBuffer frame) {
        return frame.slice(RendezvousDescriptor.HEADER_BYTES, frame.limit() - RendezvousDescriptor.HEADER_BYTES);
    }

    @Test
    void helloRoundTripsAndIsBigEndianOnTheWire() throws Exception {
        ByteBuffer frame = RendezvousCodec.hello(4, V4);
        assertEquals(0x44, frame.get(0), "magic starts with 'D' in network order");
        RendezvousCodec.Header h = RendezvousCodec.header(frame.slice(0, RendezvousDescriptor.HEADER_BYTES), 1 << 20);
        assertEquals(RendezvousDescriptor.TYPE_HELLO, h.type());
        assertEquals(frame.limit() - RendezvousDescriptor.HEADER_BYTES, h.bodyLength());
        assertEquals(4, frame.getInt(RendezvousDescriptor.HEADER_BYTES), "world size, big-endian");
        RendezvousCodec.Hello hello = RendezvousCodec.decodeHello(body(frame));
        assertEquals(4, hello.worldSize());
        assertEquals(V4, hello.record(), "pid, start time and pid namespace survive the trip");
    }

    @Test
    void tableRoundTripsWithIpv6Addresses() throws Exception {
        RankRecord v6 = new RankRecord(0, "n", new InetSocketAddress(InetAddress.getByName("::1"), 1), 1,
                ByteOrder.BIG_ENDIAN, -1);
        byte[] token = new byte[16];
        token[15] = 7;
        RankRecord v4 = new RankRecord(1, V4.nodeId(), V4.ringAddress(), V4.process(), V4.byteOrder(), 2);
        ByteBuffer frame = RendezvousCodec.table(token, List.of(v6, v4));
        RendezvousCodec.Table t = RendezvousCodec.decodeTable(body(frame), 2);
        assertArrayEquals(token, t.token());
        assertEquals(List.of(v6, v4), t.records());
    }

    @Test
    void shmViewCodesSurviveTheTableAndUnknownCodesAreRefused() throws Exception {
        for (long code : new long[]{ShmView.MISSING, ShmView.NOT_WRITABLE, ShmView.UNREADABLE, ShmView.DISABLED,
                ShmView.UNKNOWN, 0, Long.MAX_VALUE}) {
            RankRecord r = new RankRecord(0, "n", V4.ringAddress(), V4.process(), V4.byteOrder(), 1, new ShmView(code, 65_536));
            ByteBuffer frame = RendezvousCodec.table(new byte[16], List.of(r));
            assertEquals(r.shmView(), RendezvousCodec.decodeTable(body(frame), 1).records().get(0).shmView());
        }
        ByteBuffer hello = RendezvousCodec.hello(4, V4);
        // The view is the entry's last 16 bytes: free bytes, then segment bytes.
        hello.putLong(hello.limit() - 16, ShmView.UNKNOWN - 1);
        var e = assertThrows(RendezvousCodec.MalformedFrameException.class, () -> RendezvousCodec.decodeHello(body(hello)));
        assertTrue(e.getMessage().contains("shared-memory view"), e.getMessage());
        hello.putLong(hello.limit() - 16, 0).putLong(hello.limit() - 8, -1);
        assertThrows(RendezvousCodec.MalformedFrameException.class, () -> RendezvousCodec.decodeHello(body(hello)));
        hello.putLong(hello.limit() - 8, ShmView.MAX_SEGMENT_BYTES + 1);
        assertThrows(RendezvousCodec.MalformedFrameException.class, () -> RendezvousCodec.decodeHello(body(hello)));
    }

    @Test
    void errorReasonIsCutAtACharacterBoundary() throws Exception {
        String reason = "é".repeat(3000); // 6000 bytes of two-byte characters
        String decoded = RendezvousCodec.decodeError(body(RendezvousCodec.error(reason)));
        assertTrue(decoded.length() > 1000 && reason.startsWith(decoded), "prefix of the reason");
    }

    private static RendezvousCodec.MalformedFrameException headerFailure(int magic, short version, short type, int len) {
        ByteBuffer h = ByteBuffer.allocate(RendezvousDescriptor.HEADER_BYTES);
        h.putInt(magic).putShort(version).putShort(type).putInt(len).flip();
        return assertThrows(RendezvousCodec.MalformedFrameException.class, () -> RendezvousCodec.header(h, 1 << 20));
    }

    private static final short V = RendezvousDescriptor.VERSION;

    @Test
    void headerBoundsAreCheckedBeforeAnyAllocation() {
        var foreign = headerFailure(0x47455420, (short) 1, (short) 1, 10); // "GET "
        assertTrue(foreign.foreign);
        var version = headerFailure(RendezvousDescriptor.MAGIC, (short) 1, (short) 1, 10);
        assertFalse(version.foreign);
        assertTrue(version.getMessage().contains("version 1"), version.getMessage());
        assertTrue(headerFailure(RendezvousDescriptor.MAGIC, V, (short) 9, 10).getMessage()
                .contains("unknown frame type 9"));
        assertTrue(headerFailure(RendezvousDescriptor.MAGIC, V, (short) 1, RendezvousDescriptor.MAX_HELLO_BYTES + 1)
                .getMessage().contains("body length"));
        assertTrue(headerFailure(RendezvousDescriptor.MAGIC, V, (short) 2, -5).getMessage().contains("-5"));
        assertTrue(headerFailure(RendezvousDescriptor.MAGIC, V, (short) 2, 2 << 20).getMessage()
                .contains("body length"), "a table larger than the reader allows");
    }

    private static String helloFailure(ByteBuffer body) {
        return assertThrows(RendezvousCodec.MalformedFrameException.class,
                () -> RendezvousCodec.decodeHello(body.flip())).getMessage();
    }

    private static ByteBuffer validHelloBody() {
        return body(RendezvousCodec.hello(4, V4));
    }

    @Test
    void helloFieldsOutOfBoundsAreRejected() {
        ByteBuffer b = validHelloBody();
        ByteBuffer bigWorld = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).putInt(0, 65_537);
        assertTrue(helloFailure(bigWorld.position(bigWorld.limit())).contains("world size 65537"));

        ByteBuffer badRank = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).putInt(4, 4);
        assertTrue(helloFailure(badRank.position(badRank.limit())).contains("rank 4 outside 0..3"));

        ByteBuffer badOrder = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).put(36, (byte) 7);
        assertTrue(helloFailure(badOrder.position(badOrder.limit())).contains("byte order code 7"));

        ByteBuffer badStart = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).putLong(16, -1);
        assertTrue(helloFailure(badStart.position(badStart.limit())).contains("negative start time"));

        ByteBuffer badAddr = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).put(37, (byte) 5);
        assertTrue(helloFailure(badAddr.position(badAddr.limit())).contains("address of 5 bytes"));

        // node id length field (after the 4-byte address and the port) claims more than the bound
        ByteBuffer longId = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).putShort(46, (short) 1025);
        assertTrue(helloFailure(longId.position(longId.limit())).contains("1025 bytes"));

        ByteBuffer shortBody = ByteBuffer.allocate(b.remaining() - 1).put(b.duplicate().limit(b.limit() - 1));
        assertTrue(helloFailure(shortBody).contains("ends early"));

        ByteBuffer trailing = ByteBuffer.allocate(b.remaining() + 1).put(b.duplicate()).put((byte) 0);
        assertTrue(helloFailure(trailing).contains("1 trailing bytes"));

        ByteBuffer badUtf8 = ByteBuffer.allocate(b.remaining()).put(b.duplicate()).put(48, (byte) 0xFF);
        assertTrue(helloFailure(badUtf8.position(badUtf8.limit())).contains("not valid UTF-8"));
    }

    @Test
    void tableOfAnotherWorldSizeIsRejected() {
        ByteBuffer frame = RendezvousCodec.table(new byte[16], List.of(
                new RankRecord(0, "n", new InetSocketAddress(InetAddress.getLoopbackAddress(), 1), 1, ByteOrder.BIG_ENDIAN, -1)));
        var e = assertThrows(RendezvousCodec.MalformedFrameException.class, () -> RendezvousCodec.decodeTable(body(frame), 2));
        assertTrue(e.getMessage().contains("TABLE of 1 ranks, expected 2"));
    }
}
