package ds.comm.topology;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fixed records a job exchanges over MPI read back what was written, and reject what is out of range. */
class MpiMeetingRecordsTest {

    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @Test
    void gatheredRankRecordsGiveEveryRankTheSameTopology() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment all = arena.allocate(2L * FixedRankRecord.BYTES);
            all.asSlice(0, FixedRankRecord.BYTES).copyFrom(FixedRankRecord.of("node-a", new ShmView(1 << 30, 4 << 20), arena));
            all.asSlice(FixedRankRecord.BYTES, FixedRankRecord.BYTES).copyFrom(FixedRankRecord.of("node-b", ShmView.NONE, arena));
            MemorySegment token = FixedRankRecord.newToken(arena);
            Topology t0 = FixedRankRecord.topology(0, all, 2, token);
            Topology t1 = FixedRankRecord.topology(1, all, 2, token);
            assertEquals(t0.jobToken(), t1.jobToken());
            assertEquals(32, t0.jobToken().length());
            assertEquals("node-a", t0.nodeOf(0));
            assertEquals("node-b", t1.nodeOf(1));
            assertEquals(2, t0.nodes().size());
        }
    }

    @Test
    void aNodeIdLengthOutOfRangeNamesTheRank() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment all = arena.allocate(2L * FixedRankRecord.BYTES);
            all.asSlice(0, FixedRankRecord.BYTES).copyFrom(FixedRankRecord.of("a", ShmView.NONE, arena));
            all.asSlice(FixedRankRecord.BYTES, FixedRankRecord.BYTES).copyFrom(FixedRankRecord.of("b", ShmView.NONE, arena));
            all.set(BE_INT, FixedRankRecord.BYTES + 12, 5000);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> FixedRankRecord.topology(0, all, 2, FixedRankRecord.newToken(arena)));
            assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
        }
    }

    @Test
    void aMeetingRecordRoundTripsAndAMalformedOneIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            MeetingRecord m = new MeetingRecord("s3cret", "host-0.example", 45_123);
            MemorySegment wire = m.encode(arena);
            assertEquals(m, MeetingRecord.decode(wire));
            wire.set(BE_INT, 128, 70_000);
            assertThrows(IllegalStateException.class, () -> MeetingRecord.decode(wire));
            assertThrows(IllegalStateException.class, () -> MeetingRecord.requireFits("x".repeat(129), "h"));
            assertThrows(IllegalStateException.class, () -> MeetingRecord.requireFits("s", ""));
        }
    }
}
