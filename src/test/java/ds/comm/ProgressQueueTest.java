package ds.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How long a close waits for the progress thread's operations: the running one keeps its own
 * deadline even when it began after the close started waiting (CI once saw all three futures of
 * a close fail as "closed" because the first had started late and was abandoned at the close's
 * deadline, before its own timeout could name the missing rank).
 */
@Timeout(60)
class ProgressQueueTest {

    private static final long MS = 1_000_000L;

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aCloseWaitsForAnOperationThatStartedLateToReachItsOwnDeadline() {
        ProgressQueue q = new ProgressQueue("late-start");
        try {
            // The first keeps the thread busy past most of the close's timeout; the second then
            // runs for the whole timeout and fails with its own error, as a collective whose peer
            // never comes does.
            q.submit(() -> sleep(300));
            CompletableFuture<Void> second = q.submit(() -> {
                sleep(400);
                throw new IllegalArgumentException("its own timeout");
            });
            assertTrue(q.awaitIdleForClose(400 * MS, 400 * MS), "the running operation was abandoned before its deadline");
            assertTrue(second.isCompletedExceptionally());
            assertInstanceOf(IllegalArgumentException.class, second.exceptionNow());
        } finally {
            q.shutdown(true);
            q.awaitTermination(5_000 * MS);
        }
    }

    @Test
    void aCloseGivesUpOnAnOperationThatOutlivesItsDeadline() throws InterruptedException {
        ProgressQueue q = new ProgressQueue("stuck");
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        try {
            q.submit(() -> {
                started.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            CompletableFuture<Void> queued = q.submit(() -> { });
            assertTrue(started.await(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            assertFalse(q.awaitIdleForClose(200 * MS, 100 * MS));
            long waited = (System.nanoTime() - t0) / MS;
            // At least the timeout; at most the running one's start + timeout + grace (it started
            // before t0), with room for a slow machine.
            assertTrue(waited >= 200 && waited < 3_000, waited + " ms");
            q.shutdown(true);
            assertTrue(q.awaitTermination(5_000 * MS), "abandoning interrupts the running operation");
            assertInstanceOf(IllegalStateException.class, queued.exceptionNow());
        } finally {
            release.countDown();
            q.shutdown(true);
        }
    }
}
