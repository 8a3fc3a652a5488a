package ds.comm.tool;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The bench's own decode-loop code, and the warm-up {@code --cold} gives it before {@code init()}. */
@Timeout(60)
class BenchOwnCodeTest {

    @Test
    void refillRestoresTheActivationsAndTheWideSendSideOnlyWhenItHasASpan() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pristine = arena.allocate(64).fill((byte) 7);
            MemorySegment b = arena.allocate(64);
            MemorySegment widePristine = arena.allocate(128).fill((byte) 9);
            MemorySegment wideIn = arena.allocate(128);
            Bench.OwnCode.refill(b, pristine, widePristine, wideIn, 0);
            assertEquals(-1, b.mismatch(pristine));
            assertEquals(0, wideIn.get(ValueLayout.JAVA_BYTE, 0), "no span: the wide side is left alone");
            Bench.OwnCode.refill(b, pristine, widePristine, wideIn, 96);
            assertEquals(9, wideIn.get(ValueLayout.JAVA_BYTE, 95));
            assertEquals(0, wideIn.get(ValueLayout.JAVA_BYTE, 96), "exactly the span is copied");
        }
    }

    @Test
    void recordStoresMicrosecondsAtTheCallsIndex() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment times = arena.allocate(ValueLayout.JAVA_DOUBLE, 4);
            Bench.OwnCode.record(times, 2, 1_000, 3_500);
            assertEquals(2.5, times.getAtIndex(ValueLayout.JAVA_DOUBLE, 2));
            assertEquals(0.0, times.getAtIndex(ValueLayout.JAVA_DOUBLE, 1));
        }
    }

    @Test
    void coldWarmUpRunsWithoutACommunicatorAndLeavesNoTemporaryFile() throws IOException {
        Bench.Options o = Bench.parse(new String[] {"--pattern", "decode", "--cold", "--sizes", "4K,16K",
                "--dtype", "fp32,bf16", "--compute-us", "0"});
        Bench.OwnCode.warm(o);
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        try (Stream<Path> left = Files.list(tmp)) {
            List<Path> mine = left.filter(p -> p.getFileName().toString().startsWith("dscomm-bench-warm")).toList();
            assertEquals(List.of(), mine);
        }
    }
}
