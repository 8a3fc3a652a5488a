package ds.comm;

import ds.comm.testkit.TwoShmRanks;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The warm-up's touches: all-reduces of every element type and every operation, made while the
 * path is profiled, so that the path C2 compiles has seen them all (a kind it never saw deoptimised the
 * compiled path at a job's first call of it).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WarmUpTouchTest {

    @Test
    void theWarmUpsTouchesCycleThroughEveryTypeAndEveryOperationWithAnOddCount(@TempDir Path dir) throws Exception {
        Path jfr = dir.resolve("touch.jfr");
        Path shm = Files.createDirectories(dir.resolve("shm"));
        int kinds = WarmUp.TOUCH_KINDS;
        List<Integer> calls;
        try (Recording recording = new Recording()) {
            recording.enable("ds.comm.Collective").withThreshold(Duration.ZERO);
            recording.start();
            calls = TwoShmRanks.run(shm, "warm-up-touch-test", (world, rank) -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment buffer = arena.allocate(WarmUp.LARGE_BYTES, 64);
                    for (int i = 0; i < 2 * kinds; i++) WarmUp.touch(world, buffer, i);
                    return 2 * kinds;
                }
            });
            recording.stop();
            recording.dump(jfr);
        }
        assertEquals(DType.values().length + ReduceOp.values().length - 1, kinds);
        assertEquals(List.of(2 * kinds, 2 * kinds), calls);
        List<RecordedEvent> events = RecordingFile.readAllEvents(jfr).stream()
                .filter(e -> e.getEventType().getName().equals("ds.comm.Collective")).toList();
        for (int rank = 0; rank < 2; rank++) {
            int r = rank;
            List<String> seen = new ArrayList<>();
            for (RecordedEvent e : events) {
                // init()'s own agreement (an int32 MIN of one element) is not the warm-up's.
                if (e.getInt("worldRank") != r || e.getLong("bytes") == Integer.BYTES) continue;
                assertEquals("allReduce", e.getString("operation"));
                DType type = DType.valueOf(e.getString("dtype").toUpperCase(Locale.ROOT));
                assertEquals((long) WarmUp.TOUCH_ELEMENTS * type.byteSize(), e.getLong("bytes"), e.toString());
                seen.add(type + " " + e.getString("reduceOp"));
            }
            assertEquals(2 * kinds, seen.size(), "rank " + r + " touched " + seen);
            assertEquals(kinds, new HashSet<>(seen).size(), "rank " + r + " touched " + seen);
            for (DType type : DType.values()) {
                assertTrue(seen.contains(type + " sum"), "rank " + r + " never touched " + type + ": " + seen);
            }
            for (ReduceOp op : ReduceOp.values()) {
                assertTrue(seen.contains("FP32 " + op.name().toLowerCase(Locale.ROOT)), "rank " + r + " never touched " + op);
            }
            assertEquals(seen.subList(0, kinds), seen.subList(kinds, 2 * kinds), "one cycle, then the same again");
        }
        assertEquals(1, WarmUp.TOUCH_ELEMENTS % 2, "an odd count, so the scalar tail runs");
    }
}
