package ds.comm.topology;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A flood of warnings becomes a few lines and one summary per period. */
class WarningThrottleTest {

    /** Records what is logged. */
    private static final class Recorder implements System.Logger {
        final List<String> lines = new ArrayList<>();

        @Override
        public String getName() {
            return "test";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            lines.add(msg);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            lines.add(format);
        }

        @Override
        public void log(Level level, Supplier<String> msgSupplier) {
            lines.add(msgSupplier.get());
        }
    }

    @Test
    void aHundredThousandWarningsInOnePeriodLogTheBurstAndOneSummary() {
        Recorder r = new Recorder();
        WarningThrottle t = new WarningThrottle(r, "listener", 5, TimeUnit.HOURS.toNanos(1));
        for (int i = 0; i < 100_000; i++) t.warn("refused connection " + i);
        assertEquals(5, r.lines.size());
        assertEquals(99_995, t.suppressed());
        t.flush();
        assertEquals(6, r.lines.size());
        String summary = r.lines.getLast();
        assertTrue(summary.startsWith("listener: 99995 more such warnings") && summary.contains("refused connection 99999"),
                summary);
        t.flush();
        assertEquals(6, r.lines.size(), "nothing suppressed, nothing to summarize");
    }

    @Test
    void eachNewPeriodLogsItsBurstAgainAfterTheLastOnesSummary() throws InterruptedException {
        Recorder r = new Recorder();
        WarningThrottle t = new WarningThrottle(r, "listener", 2, TimeUnit.MILLISECONDS.toNanos(50));
        for (int i = 0; i < 10; i++) t.warn("a" + i);
        Thread.sleep(80);
        t.tick();
        for (int i = 0; i < 10; i++) t.warn("b" + i);
        assertEquals(List.of("listener: a0", "listener: a1"), r.lines.subList(0, 2));
        assertTrue(r.lines.get(2).startsWith("listener: 8 more such warnings"), r.lines.get(2));
        assertEquals(List.of("listener: b0", "listener: b1"), r.lines.subList(3, 5));
        assertEquals(5, r.lines.size());
    }
}
