package ds.comm.spi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Whether some thread of this machine is waiting for a processor right now: the signal that
 * tells a spinning waiter its spin is taking a core from somebody.
 *
 * <h2>Why the machine's run queue</h2>
 * On a node with as many ranks as processors, two ranks spinning hold every core. Whatever else
 * becomes runnable (the JIT compiling the application's code, a garbage collector, an unrelated
 * busy process, the peer rank itself after being preempted) waits for a scheduler slice, and the
 * rank waiting for it keeps spinning on the core it needs: measured, every second call of a
 * fresh process's first thousand took 1.4 ms instead of 10 us, with 1.3 ms of the peer
 * runnable but not running, while C2 compiled the caller's loop. No count of our own ranks sees
 * this; the kernel's count of runnable threads ({@code /proc/loadavg}, fourth field: running
 * and runnable entities, machine-wide, at this instant) does: above the processor count,
 * somebody is queued.
 *
 * <p>Read with one {@code pread} of a file kept open into a buffer kept for the purpose: no
 * allocation, a few microseconds, so a waiter looks only every few tens of microseconds of its
 * spin. One instance per JVM ({@link #machine()}, one file descriptor for the JVM's life, reads
 * serialised: waiters look rarely). Not Linux, or the file cannot be read: {@link #machine()}
 * returns null and waiting keeps its other signals.
 */
public final class RunQueue {

    private static final Path LOADAVG = Path.of("/proc/loadavg");

    private final FileChannel file;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(128);
    private final int processors;

    private RunQueue(FileChannel file, int processors) {
        this.file = file;
        this.processors = processors;
    }

    /** The JVM's probe, compared against {@link Runtime#availableProcessors()}; null where there is none. */
    public static RunQueue machine() {
        return Shared.INSTANCE;
    }

    /** Opened on first use only: a JVM whose waiters never spin long never opens the file. */
    private static final class Shared {
        static final RunQueue INSTANCE = open(Runtime.getRuntime().availableProcessors());
    }

    /**
     * Opens a probe for a machine of {@code processors} processors (the JVM's
     * {@link Runtime#availableProcessors()}: in a container limited to fewer processors than the
     * host has, the host's runnable threads count against the few we may use, which errs towards
     * yielding the core), or returns null when this system has no such file.
     */
    static RunQueue open(int processors) {
        if (processors < 1) throw new IllegalArgumentException("processors < 1: " + processors);
        try {
            FileChannel ch = FileChannel.open(LOADAVG, StandardOpenOption.READ);
            RunQueue q = new RunQueue(ch, processors);
            if (q.runnable() < 0) {
                ch.close();
                return null;
            }
            return q;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    /** Whether more threads are runnable on the machine than there are processors. */
    public boolean oversubscribed() {
        return runnable() > processors;
    }

    /** Runnable threads on the machine now, or -1 when the file cannot be read or parsed. */
    public synchronized int runnable() {
        try {
            buf.clear();
            int n = file.read(buf, 0);
            return n <= 0 ? -1 : parseRunnable(buf, n);
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * The number before the '/' of the fourth space-separated field of a {@code /proc/loadavg}
     * line ({@code "0.52 0.58 0.59 3/467 12345"}), or -1 when the text is not of that form.
     * Bounded by {@code length}: every index is checked before use.
     */
    static int parseRunnable(ByteBuffer text, int length) {
        int i = 0;
        int spaces = 0;
        while (i < length && spaces < 3) {
            if (text.get(i++) == ' ') spaces++;
        }
        if (spaces < 3) return -1;
        int value = 0;
        int digits = 0;
        while (i < length) {
            byte b = text.get(i++);
            if (b == '/') return digits == 0 ? -1 : value;
            if (b < '0' || b > '9' || digits == 9) return -1;
            value = value * 10 + (b - '0');
            digits++;
        }
        return -1;
    }
}
