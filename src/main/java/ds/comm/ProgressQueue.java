package ds.comm;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The non-blocking calls of one communicator, run one after the other in the order they were
 * issued, so futures complete in issue order and the backend (which is single-threaded) is only
 * ever called by one thread at a time.
 *
 * <h2>Who runs them</h2>
 * A daemon progress thread, {@code ds-comm-progress-<group>}, created with the first such call,
 * starts each operation as soon as it can. But a thread that waits for one ({@code join()},
 * {@code get()} without a timeout) or makes a blocking call (which drains the queue first)
 * while the progress thread is not running anything takes the operations still queued, up to
 * the one it waits for, and runs them itself. Why: when every core is busy (the caller's
 * compute threads, more ranks than cores) the progress thread, woken by the call, waits for a
 * core until the caller stops computing, and then every hand-over costs a wake-up (50-200 us on a virtual
 * machine), on both ranks and at every step of the collective: the 2-rank 64 KiB
 * "allReduceAsync, compute, join" of {@code bench --async} took 200-240 us against 37 us for a
 * blocking all-reduce followed by the same compute. A caller that waits anyway has a core; it
 * runs the collective at once, as a blocking call would. Which thread ran an operation changes
 * nothing else: one runs at a time ({@link #running}), in issue order.
 *
 * <h2>Memory ordering</h2>
 * Operations are taken from the queue and finished under this monitor, so everything one
 * operation did in the backend happens-before the next operation starts, whichever thread runs
 * it, and a drained queue is a happens-before edge to the caller's next blocking call.
 */
final class ProgressQueue {

    /** One issued operation: what to run, and its future. */
    static final class Op {
        final Result future = new Result(this);
        private final Runnable body;
        private final ProgressQueue queue;

        Op(ProgressQueue queue, Runnable body) {
            this.queue = queue;
            this.body = body;
        }

        /** Runs the body and completes the future; the caller holds the right to run ({@link #running}). */
        private void run() {
            try {
                body.run();
                future.complete(null);
            } catch (Throwable t) {
                future.completeExceptionally(t);
            } finally {
                queue.finished();
            }
        }
    }

    /**
     * The future of an operation: {@code join()} and {@code get()} first run, on the waiting
     * thread, what is still queued up to it (see the class comment), then wait as any future
     * does. {@code get(timeout, unit)} only waits: running a collective could outlast the
     * caller's bound.
     */
    static final class Result extends CompletableFuture<Void> {
        private final Op op;

        Result(Op op) {
            this.op = op;
        }

        @Override
        public Void join() {
            op.queue.helpUntil(op);
            return super.join();
        }

        @Override
        public Void get() throws InterruptedException, ExecutionException {
            op.queue.helpUntil(op);
            return super.get();
        }

    }

    private final String group;
    private final Thread thread;
    /** Operations issued and not yet taken; guarded by this. */
    private final ArrayDeque<Op> queued = new ArrayDeque<>();
    /** True while some thread runs an operation; guarded by this. */
    private boolean running;
    /** The thread running an operation, or null; guarded by this. */
    private Thread runner;
    /** Operations issued; guarded by this. */
    private long issued;
    /** Operations finished (completed or failed); guarded by this. */
    private long completed;
    /** Set by {@link #shutdown}: the progress thread ends, and with abandon queued operations have failed. */
    private boolean stopping;
    /** {@link System#nanoTime()} when the running operation began; 0 between operations. */
    private volatile long runningSince;

    /**
     * What {@link #submit} does after waking an idle progress thread: {@link Thread#yield()}
     * (see {@link #submit}); tests count the calls instead.
     */
    private final Runnable handOff;

    ProgressQueue(String group) {
        this(group, Thread::yield);
    }

    ProgressQueue(String group, Runnable handOff) {
        this.group = group;
        this.handOff = handOff;
        this.thread = new Thread(this::loop, "ds-comm-progress-" + group);
        thread.setDaemon(true);
        // Started now, so that callers can check their segments are accessible from it.
        thread.start();
    }

    /** The group whose calls this queue runs, for messages. */
    String group() {
        return group;
    }

    /** The progress thread. */
    Thread thread() {
        return thread;
    }

    /**
     * Queues {@code body} behind every operation issued before; returns its future.
     *
     * <p>When the progress thread was idle (nothing running, nothing queued) the caller then
     * yields its processor once, so that the woken thread starts the operation before the
     * caller goes back to its compute. Why: with every core busy (each rank's caller computing)
     * the woken thread otherwise waits for the caller's scheduler slice to end, and if the caller
     * joins before that it runs the operation itself, after its compute: no overlap at all. Measured on a
     * link whose time is the wire's, not the CPU's (2 ranks over the socket ring, loopback
     * capped at 1 Gbit/s, {@code bench/overlap-on-a-wire.sh}): 64 KiB "allReduceAsync, compute as
     * long as the all-reduce, join" took 1.25-1.45x the longer of the two without the yield and
     * 1.02-1.07x with it. A yield with nobody else queued on the processor returns within a
     * microsecond or two.
     */
    CompletableFuture<Void> submit(Runnable body) {
        Op op = new Op(this, body);
        boolean woke;
        synchronized (this) {
            if (stopping) throw new IllegalStateException("communicator " + group + " is closing");
            woke = !running && queued.isEmpty();
            issued++;
            queued.addLast(op);
            notifyAll();
        }
        if (woke) handOff.run();
        return op.future;
    }

    /**
     * Whether {@code t} is running one of this queue's operations now: the progress thread, or a
     * waiter helping, and a future's dependent action run by either before the operation counts
     * as finished.
     */
    synchronized boolean runBy(Thread t) {
        return running && runner == t;
    }

    /** Operations issued and not yet finished. */
    synchronized long outstanding() {
        return issued - completed;
    }

    /** The progress thread: takes and runs operations until {@link #shutdown}. */
    private void loop() {
        while (true) {
            Op op;
            synchronized (this) {
                while (!stopping && (running || queued.isEmpty())) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        // Only an abandoning shutdown interrupts, after setting stopping.
                    }
                }
                if (stopping && (queued.isEmpty() || running)) return;
                op = take();
            }
            op.run();
        }
    }

    /** Takes the next operation and the right to run it; the caller holds the monitor. */
    private Op take() {
        Op op = queued.pollFirst();
        running = true;
        runner = Thread.currentThread();
        runningSince = System.nanoTime();
        return op;
    }

    private synchronized void finished() {
        running = false;
        runner = null;
        runningSince = 0;
        completed++;
        notifyAll();
    }

    /**
     * On a thread about to wait for {@code target} (null: for everything issued, a blocking
     * call's drain): while no operation runs and {@code target} is still queued, runs the queued
     * operations up to it here. Returns when {@code target} is finished, or running (or about to
     * run) elsewhere, or was never queued; for null, when nothing is queued or something runs.
     */
    void helpUntil(Op target) {
        while (target == null || !target.future.isDone()) {
            Op op;
            synchronized (this) {
                if (running || queued.isEmpty() || (target != null && !queued.contains(target))) return;
                op = take();
            }
            op.run();
        }
    }

    /**
     * Before a blocking call: runs what is queued while nothing runs, then waits until every
     * issued operation finished, at most {@code nanos}.
     *
     * @return whether the queue is drained
     */
    boolean awaitIdle(long nanos) {
        helpUntil(null);
        return awaitFinished(nanos);
    }

    /** Waits until every issued operation finished, at most {@code nanos}; runs nothing itself. */
    private synchronized boolean awaitFinished(long nanos) {
        long deadline = System.nanoTime() + nanos;
        boolean interrupted = false;
        try {
            while (completed < issued) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            return true;
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /**
     * Waits before a close: up to {@code timeoutNanos} for every operation to finish, then, if
     * one is still running, until its own deadline has passed (its start plus
     * {@code timeoutNanos} plus {@code graceNanos}). Why the second wait: the running operation
     * is bounded by the same timeout, counted from when it began, which may be well after the
     * close began waiting (a progress thread started late on a loaded node); abandoning it at the
     * close's deadline would replace its own, informative failure (a timeout naming the rank
     * that did not come) with an anonymous "closed". At most 2 x timeout + grace. Unlike a
     * blocking call's drain it runs nothing on the closing thread, whose wait would otherwise
     * grow with every queued operation's timeout.
     *
     * @return whether the queue is drained
     */
    boolean awaitIdleForClose(long timeoutNanos, long graceNanos) {
        if (awaitFinished(timeoutNanos)) return true;
        long since = runningSince;
        if (since == 0) return false;
        long left = since + timeoutNanos + graceNanos - System.nanoTime();
        return left > 0 && awaitFinished(left);
    }

    /**
     * Stops the progress thread. With {@code abandon}, operations not yet started fail with an
     * {@link IllegalStateException} and a running one on the progress thread is interrupted (the
     * caller closes the backend under it, which makes it fail), unless the caller is that thread
     * (a callback closing the communicator); otherwise the thread ends once the queue is empty.
     */
    void shutdown(boolean abandon) {
        Op[] never;
        synchronized (this) {
            stopping = true;
            never = abandon ? queued.toArray(new Op[0]) : new Op[0];
            if (abandon) queued.clear();
            // Not when the progress thread closes from a callback: it would interrupt itself.
            if (abandon && runner == thread && thread != Thread.currentThread()) thread.interrupt();
            notifyAll();
        }
        // Completed outside the monitor: a future's dependent actions run here.
        for (Op op : never) {
            op.future.completeExceptionally(new IllegalStateException("communicator " + group
                    + " was closed before this operation ran"));
        }
        if (never.length > 0) {
            synchronized (this) {
                completed += never.length;
                notifyAll();
            }
        }
    }

    /** Waits, at most {@code nanos}, for the progress thread to end. */
    boolean awaitTermination(long nanos) {
        try {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)));
            return !thread.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
