package ds.comm.ring;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Liveness of a rank's two ring neighbours in one group, independent of what the application
 * thread does: a rank may compute for minutes between collectives without being declared lost,
 * and a neighbour that vanishes without FIN or RST (power loss, cable cut, frozen VM or
 * process: its kernel, or none, keeps the TCP connection open) is declared lost within the
 * silence bound instead of the collective's timeout.
 *
 * <h2>Protocol</h2>
 * Each pair of ring neighbours has, besides its data connection, a heartbeat connection opened
 * the same way (from the left neighbour, through the right one's {@link RingEndpoint}, with the
 * HMAC handshake; {@link HandshakeDescriptor#PURPOSE_HEARTBEAT}). It carries nothing but
 * single bytes {@link #BEAT}, in both directions, one every {@code silence / }{@link #BEATS_PER_SILENCE}.
 * One byte cannot be torn by a partial write, so the stream needs no framing, and a beat that
 * does not fit (the neighbour stopped reading long ago) is simply skipped.
 *
 * <h2>Thread</h2>
 * One daemon thread per group and rank ({@code dscomm-heartbeat-<group>-r<worldRank>}) sleeps
 * in a selector until the next beat is due, a neighbour's silence bound expires, or beats
 * arrive; it reads everything that arrived (nothing accumulates in a socket buffer) and sends a
 * beat to both neighbours. It allocates nothing per beat.
 *
 * <h2>Verdict</h2>
 * A neighbour is judged only once its first beat arrived (before that it may still be opening
 * the group; the collective's own timeout bounds that phase). Afterwards, no beat for longer
 * than the silence bound makes the thread publish a {@link Loss} naming the neighbour's world
 * rank, once (the first loss sticks: the group is broken); a byte that is not a beat does so at
 * once. End of stream or a reset on a heartbeat connection stops its beats, so the silence bound
 * runs out from there; it is deliberately not a loss by itself. A process that dies or closes
 * its collective ends its data connection too, and the {@link FramePump} reports that at once,
 * but only after reading every frame that arrived before it. A neighbour that finished its last
 * call and closed must not fail this rank's call that is still reading that neighbour's last
 * frames: the heartbeat connection's end can overtake them (another connection; over a network,
 * and as a reset when the closing side had unread beats), so an immediate verdict would be a
 * false loss. The {@link FramePump} reads it on every unproductive poll, so a collective
 * waiting for either neighbour fails within a poll of the verdict, and a call starting later
 * fails at once. Beats are drained before silence is judged, so a rank that was itself frozen
 * (SIGSTOP, a long GC pause) finds its neighbours' buffered beats when it resumes and does not
 * blame them for its own pause.
 */
final class Heartbeat implements AutoCloseable {

    /** The only byte a heartbeat connection carries. */
    static final byte BEAT = 0x42;
    /** Beats per silence bound: a neighbour is declared lost after missing about this many. */
    static final int BEATS_PER_SILENCE = 6;
    /** Shortest pause between beats, whatever the silence bound. */
    static final long MIN_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    /** How long close() waits for the thread to finish. */
    static final long JOIN_MILLIS = 2_000;

    /**
     * Why a neighbour is considered lost: made once, by the heartbeat thread.
     *
     * @param worldRank the neighbour's world rank, or -1 if this rank's own heartbeat thread failed
     * @param detail    what was seen, e.g. "world rank 2 (left neighbour) silent for 3.0 s (no heartbeat)"
     */
    record Loss(int worldRank, String detail) {
    }

    /** One neighbour's heartbeat connection; touched by the heartbeat thread only. */
    private static final class Side {
        final SocketChannel channel;
        final int worldRank;
        final String role;
        final SelectionKey key;
        /** nanoTime of the last beat received; meaningful once armed. */
        long lastBeatNanos;
        /** True once a first beat arrived: only then is silence held against the neighbour. */
        boolean armed;
        /** False after end of stream, a reset or garbage: nothing more is read. */
        boolean reading = true;
        /** True once this side was declared lost: judged once, whatever follows. */
        boolean judged;
        /** How the heartbeat connection ended (end of stream or reset), or null while it is open. */
        String ended;
        /** False after a write failed: the neighbour is gone, nothing more is sent. */
        boolean writing = true;

        Side(SocketChannel channel, int worldRank, String role, Selector selector) throws IOException {
            this.channel = channel;
            this.worldRank = worldRank;
            this.role = role;
            this.key = channel.register(selector, SelectionKey.OP_READ);
        }
    }

    private final Side left;
    private final Side right;
    private final long silenceNanos;
    private final long intervalNanos;
    private final Selector selector;
    private final Thread thread;
    private final ByteBuffer beat = ByteBuffer.allocateDirect(1).put(0, BEAT);
    private final ByteBuffer inbox = ByteBuffer.allocateDirect(256);
    /** Readiness needs no handling (every wake-up drains both sides); a field, so select allocates nothing. */
    private final Consumer<SelectionKey> ignoreReadyKey = key -> { };
    private volatile boolean closed;
    /** The first loss seen; written once by the heartbeat thread, polled by the calling thread. */
    private volatile Loss loss;

    private Heartbeat(SocketChannel toRight, int rightWorld, SocketChannel fromLeft, int leftWorld,
                      long silenceNanos, String threadName) throws IOException {
        this.silenceNanos = silenceNanos;
        this.intervalNanos = Math.max(MIN_INTERVAL_NANOS, silenceNanos / BEATS_PER_SILENCE);
        this.selector = Selector.open();
        try {
            toRight.configureBlocking(false);
            fromLeft.configureBlocking(false);
            this.right = new Side(toRight, rightWorld, "right neighbour", selector);
            this.left = new Side(fromLeft, leftWorld, "left neighbour", selector);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
        this.thread = Thread.ofPlatform().daemon().name(threadName).unstarted(this::run);
    }

    /**
     * Starts beating on both heartbeat connections and judging both neighbours.
     *
     * @param toRight      the heartbeat connection this rank opened to its right neighbour
     * @param rightWorld   the right neighbour's world rank, named when it is lost
     * @param fromLeft     the heartbeat connection the left neighbour opened to this rank
     * @param leftWorld    the left neighbour's world rank
     * @param silenceNanos a neighbour silent for longer than this is lost
     * @param group        the group's name, for the thread's name
     * @param myWorld      this rank's world rank, for the thread's name
     * @return the running heartbeat; close it to stop the thread and close both connections
     * @throws IOException if no selector can be opened or a channel cannot be registered
     */
    static Heartbeat start(SocketChannel toRight, int rightWorld, SocketChannel fromLeft, int leftWorld,
                           long silenceNanos, String group, int myWorld) throws IOException {
        if (silenceNanos <= 0) {
            throw new IllegalArgumentException("silence bound must be positive: " + silenceNanos);
        }
        Heartbeat h = new Heartbeat(toRight, rightWorld, fromLeft, leftWorld, silenceNanos,
                threadName(group, myWorld));
        h.thread.start();
        return h;
    }

    /** The heartbeat thread's name for {@code group} on world rank {@code myWorld}. */
    static String threadName(String group, int myWorld) {
        return "dscomm-heartbeat-" + group + "-r" + myWorld;
    }

    /** The first neighbour loss seen, or null while both neighbours are alive. Allocates nothing. */
    Loss lossAcquire() {
        return loss;
    }

    /** Stops the thread (waiting at most {@link #JOIN_MILLIS}) and closes both connections; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RingEndpoint.stopSelectorThread(selector, thread, JOIN_MILLIS);
        // Closing the selector also ends a thread that did not stop in time (ClosedSelectorException).
        RingEndpoint.closeQuietly(selector);
        RingEndpoint.closeQuietly(right.channel);
        RingEndpoint.closeQuietly(left.channel);
    }

    @Override
    public String toString() {
        return "Heartbeat[" + thread.getName() + ", every " + TimeUnit.NANOSECONDS.toMillis(intervalNanos)
                + " ms, lost after " + TimeUnit.NANOSECONDS.toMillis(silenceNanos) + " ms]";
    }

    // ---------------------------------------------------------------- heartbeat thread

    private void run() {
        long nextBeat = System.nanoTime();
        try {
            while (!closed) {
                drain(left);
                drain(right);
                long now = System.nanoTime();
                judge(left, now);
                judge(right, now);
                if (now - nextBeat >= 0) {
                    send(right);
                    send(left);
                    nextBeat = now + intervalNanos;
                }
                long wait = Math.min(nextBeat - now, untilSilent(left, now));
                wait = Math.min(wait, untilSilent(right, now));
                selector.select(ignoreReadyKey, Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait) + 1));
            }
        } catch (ClosedSelectorException e) {
            // close() gave up waiting and closed the selector: nothing left to do.
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                if (lossAcquire() == null) {
                    loss = new Loss(-1, "the heartbeat thread failed: " + e);
                }
            }
        }
    }

    /** Reads every byte that arrived from {@code side}; each proves the neighbour alive. */
    private void drain(Side side) {
        if (!side.reading) {
            return;
        }
        try {
            while (true) {
                inbox.clear();
                int n = side.channel.read(inbox);
                if (n == 0) {
                    return;
                }
                if (n < 0) {
                    ended(side, "closed");
                    return;
                }
                for (int i = 0; i < n; i++) {
                    if (inbox.get(i) != BEAT) {
                        // Not a ds-comm heartbeat: nothing benign sends this, so no grace.
                        stopReading(side);
                        side.judged = true;
                        declare(side, "world rank " + side.worldRank + " (" + side.role + ") sent byte 0x"
                                + Integer.toHexString(inbox.get(i) & 0xFF) + " on its heartbeat connection");
                        return;
                    }
                }
                side.lastBeatNanos = System.nanoTime();
                side.armed = true;
            }
        } catch (IOException e) {
            ended(side, "failed: " + e.getMessage());
        }
    }

    /**
     * The neighbour's heartbeat connection ended: no more beats, so silence is judged from the
     * last one (or from now, if none came yet).
     */
    private void ended(Side side, String how) {
        stopReading(side);
        side.ended = how;
        if (!side.armed) {
            side.armed = true;
            side.lastBeatNanos = System.nanoTime();
        }
    }

    private void stopReading(Side side) {
        side.reading = false;
        // End of stream stays readable: without this the selector would return at once, forever.
        side.key.interestOps(0);
    }

    /** Declares {@code side} lost if it was silent for longer than the bound. */
    private void judge(Side side, long now) {
        long silent = now - side.lastBeatNanos;
        if (side.armed && !side.judged && silent > silenceNanos) {
            declare(side, "world rank " + side.worldRank + " (" + side.role + ") silent for "
                    + String.format(Locale.ROOT, "%.1f", silent / 1e9) + " s (no heartbeat"
                    + (side.ended != null ? "; its heartbeat connection " + side.ended : "") + ")");
            side.judged = true;  // beats that resume are still drained, but the group is broken
        }
    }

    /** Nanoseconds until {@code side} would be silent for too long, or Long.MAX_VALUE if it is not judged. */
    private long untilSilent(Side side, long now) {
        return side.armed && !side.judged ? side.lastBeatNanos + silenceNanos - now + 1 : Long.MAX_VALUE;
    }

    private void send(Side side) {
        if (!side.writing) {
            return;
        }
        try {
            beat.clear();
            // 0 bytes written: the send buffer is full because the neighbour has not read for a
            // long time; its own silence tells the neighbour's other side, so skip this beat.
            side.channel.write(beat);
        } catch (IOException e) {
            // Reset or closed: reading the same connection reports it.
            side.writing = false;
        }
    }

    private void declare(Side side, String detail) {
        if (lossAcquire() == null) {
            loss = new Loss(side.worldRank, detail);
        }
    }
}
