package ds.comm.topology;

import java.util.concurrent.TimeUnit;

/**
 * Keeps a flood from turning into a flood of log lines: the first few warnings of each period
 * are logged as they come, the rest are counted and reported as one summary line when the
 * period ends. A listener under attack thus logs a few kilobytes a minute however many
 * connections it refuses, and the summary still names the last offender.
 *
 * <p>Thread-safe (its owner's selector thread logs, a closing thread flushes); cheap enough for
 * connection set-up, never used on a data path.
 */
public final class WarningThrottle {

    /** Warnings logged in full per period. */
    public static final int DEFAULT_BURST = 8;
    /** Length of a period. */
    public static final long DEFAULT_PERIOD_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final System.Logger log;
    private final String subject;
    private final int burst;
    private final long periodNanos;
    private long periodStart;
    private int logged;
    private long suppressed;
    private String lastSuppressed;

    /**
     * @param log         where the lines go
     * @param subject     prefix of every line, e.g. "rendezvous" or "ring listener on port 4711"
     * @param burst       lines logged in full per period
     * @param periodNanos length of a period
     */
    public WarningThrottle(System.Logger log, String subject, int burst, long periodNanos) {
        if (burst < 1 || periodNanos <= 0) {
            throw new IllegalArgumentException("burst " + burst + " and period " + periodNanos + " ns must be positive");
        }
        this.log = log;
        this.subject = subject;
        this.burst = burst;
        this.periodNanos = periodNanos;
        this.periodStart = System.nanoTime();
    }

    /** With {@link #DEFAULT_BURST} lines per {@link #DEFAULT_PERIOD_NANOS}. */
    public WarningThrottle(System.Logger log, String subject) {
        this(log, subject, DEFAULT_BURST, DEFAULT_PERIOD_NANOS);
    }

    /** Logs {@code message} as a WARNING, or counts it when this period's burst is spent. */
    public synchronized void warn(String message) {
        roll(System.nanoTime());
        if (logged < burst) {
            logged++;
            log.log(System.Logger.Level.WARNING, subject + ": " + message);
        } else {
            suppressed++;
            lastSuppressed = message;
        }
    }

    /** Ends the period if it is over (call it from the owner's loop, so that a summary is not delayed). */
    public synchronized void tick() {
        roll(System.nanoTime());
    }

    /** Logs the summary of the current period now, if anything was suppressed (on close). */
    public synchronized void flush() {
        summarize();
        periodStart = System.nanoTime();
        logged = 0;
    }

    /** Warnings counted but not logged in the current period. */
    public synchronized long suppressed() {
        return suppressed;
    }

    private void roll(long now) {
        if (now - periodStart >= periodNanos) {
            summarize();
            periodStart = now;
            logged = 0;
        }
    }

    private void summarize() {
        if (suppressed > 0) {
            log.log(System.Logger.Level.WARNING, subject + ": " + suppressed + " more such warnings in the last "
                    + TimeUnit.NANOSECONDS.toSeconds(Math.max(periodNanos, System.nanoTime() - periodStart))
                    + " s not logged one by one (a flood of connections?); the last: " + lastSuppressed);
            suppressed = 0;
            lastSuppressed = null;
        }
    }
}
