package ds.comm;

import ds.comm.testkit.ThreadAllocation;
import ds.comm.testkit.TwoShmRanks;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JFR events of the public API, end to end with two SHM ranks in one JVM: every call is one
 * event with its fields, groups opening and closing and failures are events too, and without a
 * recording the calls allocate nothing (the event objects are scalar-replaced).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FlightRecorderEventsTest {

    /** Runs {@code body} as rank 0 and rank 1 of a two-rank SHM world, each on its own thread. */
    private static <T> List<T> twoRanks(Path shmDir, BiFunction<Communicator, Integer, T> body) throws Exception {
        return TwoShmRanks.run(shmDir, "flight-recorder-events-test", body);
    }

    private static List<RecordedEvent> events(Path file, String name) throws Exception {
        return RecordingFile.readAllEvents(file).stream().filter(e -> e.getEventType().getName().equals(name)).toList();
    }

    @Test
    void everyCallGroupAndFailureIsAnEventWithItsFields(@TempDir Path dir) throws Exception {
        Path jfr = dir.resolve("events.jfr");
        Path shm = dir.resolve("shm");
        java.nio.file.Files.createDirectories(shm);
        try (Recording recording = new Recording()) {
            for (String name : List.of("ds.comm.Collective", "ds.comm.GroupOpen", "ds.comm.GroupClose", "ds.comm.Failure")) {
                recording.enable(name).withThreshold(Duration.ZERO);
            }
            recording.start();
            twoRanks(shm, (world, rank) -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment v = arena.allocate(ValueLayout.JAVA_FLOAT, 1024);
                    for (int i = 0; i < 3; i++) world.allReduce(v, DType.BF16, ReduceOp.MAX);
                    MemorySegment in = arena.allocate(ValueLayout.JAVA_INT, 8);
                    MemorySegment out = arena.allocate(ValueLayout.JAVA_INT, 16);
                    world.allGather(in, out, DType.INT32);
                    world.reduceScatter(out, in, DType.INT32, ReduceOp.SUM);
                    world.broadcast(out, 1);
                    world.barrier();
                    // Rank 1 sleeps before arriving, so rank 0's barrier waits for it.
                    if (rank == 1) sleep(50);
                    world.barrier();
                    // Mismatched calls: every rank fails, and says so.
                    MemorySegment small = arena.allocate(ValueLayout.JAVA_INT, 4);
                    assertThrows(CommException.class, () -> world.allReduce(small, rank == 0 ? DType.FP32 : DType.INT32,
                            ReduceOp.SUM));
                }
                return null;
            });
            recording.stop();
            recording.dump(jfr);
        }
        List<RecordedEvent> calls = events(jfr, "ds.comm.Collective");
        // Per rank: init()'s own agreement (one int32 MIN all-reduce, see WarmUp.finish), then the
        // test's 3 + 1 + 1 + 1 + 2; the mismatched call failed and is a Failure instead.
        assertEquals(18, calls.size(), calls.toString());
        for (int rank = 0; rank < 2; rank++) {
            int r = rank;
            List<RecordedEvent> all = calls.stream().filter(e -> e.getInt("worldRank") == r).toList();
            RecordedEvent agreement = all.getFirst();
            assertEquals(List.of("allReduce", "int32", "min", 4L), List.of(agreement.getString("operation"),
                    agreement.getString("dtype"), agreement.getString("reduceOp"), agreement.getLong("bytes")));
            List<RecordedEvent> mine = all.subList(1, all.size());
            assertEquals(List.of("allReduce", "allReduce", "allReduce", "allGather", "reduceScatter", "broadcast",
                    "barrier", "barrier"), mine.stream().map(e -> e.getString("operation")).toList());
            for (RecordedEvent e : mine) {
                assertEquals("w", e.getString("group"));
                assertEquals(2, e.getInt("groupSize"));
                assertEquals(r, e.getInt("rank"));
                assertEquals("shm", e.getString("backend"));
                assertTrue(e.getDuration().toNanos() > 0, e.toString());
                long wait = e.getLong("peerWait");
                assertTrue(wait >= 0 && wait <= e.getDuration().toNanos(), "peer wait within the call: " + e);
            }
            RecordedEvent allReduce = mine.getFirst();
            assertEquals("bf16", allReduce.getString("dtype"));
            assertEquals("max", allReduce.getString("reduceOp"));
            assertEquals(4096, allReduce.getLong("bytes"));
            assertEquals(-1, allReduce.getInt("root"));
            assertEquals(64, mine.get(3).getLong("bytes"), "allGather counts its whole output");
            assertEquals("int32", mine.get(3).getString("dtype"));
            assertEquals(null, mine.get(3).getString("reduceOp"));
            assertEquals(64, mine.get(4).getLong("bytes"), "reduceScatter counts its whole input");
            assertEquals("sum", mine.get(4).getString("reduceOp"));
            assertEquals(1, mine.get(5).getInt("root"));
            assertEquals(null, mine.get(5).getString("dtype"));
            assertEquals(0, mine.get(6).getLong("bytes"));
        }
        RecordedEvent waited = calls.stream().filter(e -> e.getInt("worldRank") == 0).toList().get(8);
        assertTrue(waited.getLong("peerWait") >= 30_000_000L, "rank 0 waited ~50 ms for rank 1 in the barrier: " + waited);

        List<RecordedEvent> opens = events(jfr, "ds.comm.GroupOpen");
        assertEquals(2, opens.size(), opens.toString());
        for (RecordedEvent e : opens) {
            assertEquals("w", e.getString("group"));
            assertEquals("shm", e.getString("backend"));
            assertFalse(e.getString("reason").isBlank());
        }
        List<RecordedEvent> closes = events(jfr, "ds.comm.GroupClose");
        assertEquals(2, closes.size(), closes.toString());
        assertTrue(closes.stream().allMatch(e -> e.getBoolean("aborted")), "both closed after the mismatch aborted them");

        List<RecordedEvent> failures = events(jfr, "ds.comm.Failure");
        assertFalse(failures.isEmpty());
        for (RecordedEvent e : failures) {
            assertEquals("w", e.getString("group"));
            assertTrue(e.getString("operation").startsWith("allReduce"), e.toString());
            assertFalse(e.getString("message").isBlank());
            assertTrue(e.getString("exception").endsWith("Exception"), e.toString());
        }
        assertTrue(failures.stream().anyMatch(e -> e.getString("kind").equals("mismatch")
                && e.getString("exception").equals("CollectiveMismatchException")
                && e.getInt("blamedRank") == 1 - e.getInt("worldRank")), failures.toString());
    }

    @Test
    void withoutARecordingSteadyStateAllReducesAllocateNothing(@TempDir Path shm) throws Exception {
        List<Long> allocated = twoRanks(shm, (world, rank) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment v = arena.allocate(ValueLayout.JAVA_FLOAT, 256);
                MemorySegment quiet = arena.allocate(ValueLayout.JAVA_INT);
                long last = -1;
                // Until both ranks' call paths are compiled (the interpreter allocates the event
                // objects that C2's escape analysis removes); the ranks agree after every round,
                // outside the measurement.
                for (int round = 0; round < 400; round++) {
                    for (int i = 0; i < 500; i++) world.allReduce(v, DType.FP32, ReduceOp.SUM);
                    long before = ThreadAllocation.allocatedBytes();
                    for (int i = 0; i < 1000; i++) world.allReduce(v, DType.FP32, ReduceOp.SUM);
                    last = ThreadAllocation.allocatedBytes() - before;
                    quiet.set(ValueLayout.JAVA_INT, 0, last == 0 ? 1 : 0);
                    world.allReduce(quiet, DType.INT32, ReduceOp.MIN);
                    if (quiet.get(ValueLayout.JAVA_INT, 0) == 1) break;
                }
                return last;
            }
        });
        assertEquals(List.of(0L, 0L), allocated, "bytes allocated by 1000 all-reduces, per rank");
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
