package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A frame with a small payload is read together with its header (one system call instead of
 * two; see {@link FramePump#EAGER_PAYLOAD_BYTES}). These tests drive a real rank 0 with a
 * hand-written rank 1 whose bytes arrive the awkward ways a stream may deliver them: two frames
 * in one segment (the read must stop at the first frame's end), one byte at a time, and an abort
 * frame whose explanation arrives with its header.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RingFrameReadingTest {

    /** Small all-reduces up to 1 KiB, one frame per block: 100 floats are one 400-byte frame. */
    static final Settings SETTINGS = RingCluster.settings(1024, 1024, 5_000);
    static final int COUNT = 100;

    /** Rank 1's frame of call {@code sequence} of a 2-rank small all-reduce of COUNT floats, all {@code value}. */
    private static ByteBuffer gatherFrame(int sequence, float value) {
        int payload = COUNT * Float.BYTES;
        ByteBuffer frame = ByteBuffer.allocate(FrameDescriptor.HEADER_LENGTH + payload);
        FrameDescriptor.encode(frame, 0, FrameDescriptor.KIND_ALL_REDUCE_GATHER, ElementType.FP32.code(),
                Combiner.SUM.code(), 0, sequence, 0, COUNT, payload, 0);
        ByteBuffer body = frame.duplicate().position(FrameDescriptor.HEADER_LENGTH).slice().order(ByteOrder.nativeOrder());
        for (int i = 0; i < COUNT; i++) {
            body.putFloat(i * Float.BYTES, value);
        }
        return frame;
    }

    private static MemorySegment filled(float value) {
        MemorySegment seg = Elements.allocate(ElementType.FP32, COUNT);
        for (int i = 0; i < COUNT; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, value);
        }
        return seg;
    }

    private static void assertAll(MemorySegment seg, float expected, String what) {
        for (int i = 0; i < COUNT; i++) {
            assertEquals(expected, seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), what + ", element " + i);
        }
    }

    @Test
    void smallFramesAreReadWholeWhetherTheyArriveWithTheNextFrameOrByteByByte() throws Exception {
        FakeNeighbour.play(SETTINGS, (peer, collective) -> {
            // Calls 0 and 1 in one write: reading call 0's frame must not take call 1's bytes.
            ByteBuffer two = ByteBuffer.allocate(2 * (FrameDescriptor.HEADER_LENGTH + COUNT * Float.BYTES));
            two.put(gatherFrame(0, 10f)).put(gatherFrame(1, 20f)).flip();
            peer.send(two);
            MemorySegment first = filled(1f);
            collective.allReduce(first, ElementType.FP32, Combiner.SUM);
            assertAll(first, 11f, "call 0");
            MemorySegment second = filled(2f);
            collective.allReduce(second, ElementType.FP32, Combiner.SUM);
            assertAll(second, 22f, "call 1");

            // Call 2 trickles in one byte at a time: the header itself arrives in pieces.
            MemorySegment third = filled(3f);
            CompletableFuture<Void> call = CompletableFuture.runAsync(
                    () -> collective.allReduce(third, ElementType.FP32, Combiner.SUM));
            peer.toReal.setOption(StandardSocketOptions.TCP_NODELAY, true);
            ByteBuffer frame = gatherFrame(2, 30f);
            for (int i = 0; i < frame.limit(); i++) {
                peer.send(frame.duplicate().position(i).limit(i + 1));
                if (i % 16 == 0) Thread.sleep(1);
            }
            call.get(10, TimeUnit.SECONDS);
            assertAll(third, 33f, "call 2");
        });
    }

    @Test
    void anAbortWhoseExplanationArrivesWithItsHeaderIsReportedWithItsText() throws Exception {
        FakeNeighbour.play(SETTINGS, (peer, collective) -> {
            byte[] why = "rank 1 lost its disk".getBytes(StandardCharsets.US_ASCII);
            ByteBuffer abort = ByteBuffer.allocate(FrameDescriptor.HEADER_LENGTH + why.length);
            FrameDescriptor.encode(abort, 0, FrameDescriptor.KIND_ABORT, FrameDescriptor.NONE, FrameDescriptor.NONE,
                    CommFailure.Kind.TIMEOUT.code(), 0, 0, 0, why.length, 1);
            abort.put(FrameDescriptor.HEADER_LENGTH, why);
            // Shorter than the 400-byte payload the call expects: the read takes it all at once.
            peer.send(abort);
            CommFailure f = assertThrows(CommFailure.class,
                    () -> collective.allReduce(filled(1f), ElementType.FP32, Combiner.SUM));
            assertEquals(CommFailure.Kind.TIMEOUT, f.kind(), f.getMessage());
            assertEquals(1, f.peerRank(), f.getMessage());
            assertTrue(f.getMessage().contains("[rank 1 lost its disk]"), f.getMessage());
        });
    }
}
