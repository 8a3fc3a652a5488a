package ds.comm.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects what ds-comm logs in this JVM (System.Logger goes to java.util.logging here) while
 * open: the WARNING lines, and the bytes of every line, to bound log volume under attack.
 */
public final class LogCapture extends Handler implements AutoCloseable {

    private final List<String> warnings = new ArrayList<>();
    private final AtomicLong bytes = new AtomicLong();

    /** Starts capturing. */
    public static LogCapture start() {
        LogCapture c = new LogCapture();
        c.setLevel(Level.ALL);
        Logger.getLogger("").addHandler(c);
        return c;
    }

    @Override
    public void publish(LogRecord r) {
        if (r.getLoggerName() == null || !r.getLoggerName().startsWith("ds.comm")) return;
        String line = r.getLevel() + " " + r.getLoggerName() + ": " + r.getMessage();
        bytes.addAndGet(line.length() + 1);
        if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
            synchronized (warnings) {
                warnings.add(r.getMessage());
            }
        }
    }

    /** The WARNING messages so far. */
    public List<String> warnings() {
        synchronized (warnings) {
            return List.copyOf(warnings);
        }
    }

    /** Bytes of every ds-comm log line so far (message, level and logger name). */
    public long bytes() {
        return bytes.get();
    }

    /** Waits until a WARNING matches, up to {@code millis}; the match or null. */
    public String awaitWarning(Predicate<String> match, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            for (String w : warnings()) {
                if (match.test(w)) return w;
            }
            if (System.nanoTime() > deadline) return null;
            Thread.sleep(20);
        }
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        Logger.getLogger("").removeHandler(this);
    }
}
