package ds.comm;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The non-blocking calls of one communicator: one daemon progress thread,
 * {@code ds-comm-progress-<group>}, created with the first such call, runs them one after the
 * other in the order they were issued, so futures complete in issue order and the backend (which
 * is single-threaded) is only ever called by one thread at a time.
 *
 * <p>The caller's thread issues ({@link #submit}) and drains ({@link #awaitIdle}) and is the
 * only one to touch {@link #issued}; the progress thread counts {@link #completed} under the
 * monitor. A drained queue is a happens-before edge from everything the progress thread did in
 * the backend to the caller's next blocking call, which may then use the backend itself.
 */
final class ProgressQueue {

    /** One issued operation: what to run and the future it completes. */
    static final class Op implements Runnable {
        final CompletableFuture<Void> future = new CompletableFuture<>();
        private final Runnable body;
        private final ProgressQueue queue;

        Op(ProgressQueue queue, Runnable body) {
            this.queue = queue;
            this.body = body;
        }

        @Override
        public void run() {
            try {
                if (queue.cancelled) {
                    future.completeExceptionally(new IllegalStateException("communicator " + queue.group
                            + " was closed before this operation ran"));
                } else {
                    queue.runningSince = System.nanoTime();
                    body.run();
                    future.complete(null);
                }
            } catch (Throwable t) {
                future.completeExceptionally(t);
            } finally {
                queue.runningSince = 0;
                queue.done();
            }
        }
    }

    private final String group;
    private final ThreadPoolExecutor executor;
    /** Operations issued; written and read by the caller's thread only. */
    private long issued;
    /** Operations finished (completed or failed); guarded by this. */
    private long completed;
    /** Set by {@link #shutdown} when operations are abandoned: those not yet started fail. */
    private volatile boolean cancelled;
    /** {@link System#nanoTime()} when the running operation's body began; 0 between operations. */
    private volatile long runningSince;
    /** The progress thread, started with the queue. */
    private volatile Thread thread;

    ProgressQueue(String group) {
        this.group = group;
        this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.NANOSECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "ds-comm-progress-" + group);
            t.setDaemon(true);
            thread = t;
            return t;
        });
        // Started now, so that callers can check their segments are accessible from it.
        executor.prestartCoreThread();
    }

    /** The progress thread. */
    Thread thread() {
        return thread;
    }

    /** Queues {@code body} behind every operation issued before; returns its future. */
    CompletableFuture<Void> submit(Runnable body) {
        Op op = new Op(this, body);
        issued++;
        executor.execute(op);
        return op.future;
    }

    /** Operations issued and not yet finished. */
    synchronized long outstanding() {
        return issued - completed;
    }

    private synchronized void done() {
        completed++;
        notifyAll();
    }

    /**
     * Waits until every issued operation finished, at most {@code nanos}.
     *
     * @return whether the queue is drained
     */
    synchronized boolean awaitIdle(long nanos) {
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
     * is bounded by the same timeout, counted from when its body began, which may be well after
     * the close began waiting (a progress thread started late on a loaded node); abandoning it
     * at the close's deadline would replace its own, informative failure (a timeout naming the
     * rank that did not come) with an anonymous "closed". At most 2 x timeout + grace.
     *
     * @return whether the queue is drained
     */
    boolean awaitIdleForClose(long timeoutNanos, long graceNanos) {
        if (awaitIdle(timeoutNanos)) return true;
        long since = runningSince;
        if (since == 0) return false;
        long left = since + timeoutNanos + graceNanos - System.nanoTime();
        return left > 0 && awaitIdle(left);
    }

    /**
     * Stops the progress thread. With {@code abandon}, operations not yet started fail with an
     * {@link IllegalStateException} and the running one is interrupted (the caller closes the
     * backend under it, which makes it fail); otherwise the thread ends once the queue is empty.
     */
    void shutdown(boolean abandon) {
        if (abandon) {
            cancelled = true;
            List<Runnable> never = executor.shutdownNow();
            for (Runnable r : never) r.run(); // fails each (cancelled is set) and counts it
        } else {
            executor.shutdown();
        }
    }

    /** Waits, at most {@code nanos}, for the progress thread to end. */
    boolean awaitTermination(long nanos) {
        long deadline = System.nanoTime() + nanos;
        try {
            if (!executor.awaitTermination(nanos, TimeUnit.NANOSECONDS)) return false;
            // The pool terminates while its worker is still on its way out: wait for the thread too.
            Thread t = thread;
            if (t != null) t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            return t == null || !t.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
