package ds.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who runs a communicator's non-blocking operations and how long a close waits for them: a
 * thread that waits for an operation runs what is queued up to it while nothing runs, never two
 * at once and always in issue order; the running one keeps its own deadline even when it began
 * after the close started waiting (CI once saw all three futures of a close fail as "closed"
 * because the first had started late and was abandoned at the close's deadline, before its own
 * timeout could name the missing rank).
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

    /*
     * The two tests below hold the queue's monitor while they issue and wait: the progress
     * thread needs it to take an operation, so it cannot start any, and the operations can only
     * run if the waiting thread runs them itself (without that, the join would wait forever:
     * the first test runs on a thread of its own, which its timeout abandons; the drain's wait
     * is bounded).
     */

    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aJoinWhileNothingRunsRunsTheQueuedOperationsUpToItsOwnOnTheJoiningThread() {
        ProgressQueue q = new ProgressQueue("join-helps");
        try {
            List<String> ran = java.util.Collections.synchronizedList(new ArrayList<>());
            List<String> beforeRelease;
            CompletableFuture<Void> third;
            synchronized (q) {
                q.submit(() -> ran.add("first on " + Thread.currentThread().getName()));
                q.submit(() -> ran.add("second on " + Thread.currentThread().getName()));
                third = q.submit(() -> ran.add("third on " + Thread.currentThread().getName()));
                q.submit(() -> ran.add("fourth"));
                third.join();
                assertEquals(1, q.outstanding(), "the fourth, issued after the joined one, is left to the progress thread");
                beforeRelease = List.copyOf(ran);
            }
            String me = Thread.currentThread().getName();
            assertEquals(List.of("first on " + me, "second on " + me, "third on " + me), beforeRelease);
            assertTrue(q.awaitIdle(5_000 * MS));
            assertEquals("fourth", ran.get(3));
        } finally {
            q.shutdown(false);
            q.awaitTermination(5_000 * MS);
        }
    }

    @Test
    @Timeout(10)
    void aBlockingCallsDrainRunsTheQueuedOperationsWhileNothingRuns() {
        ProgressQueue q = new ProgressQueue("drain-helps");
        try {
            AtomicInteger onCaller = new AtomicInteger();
            Thread me = Thread.currentThread();
            synchronized (q) {
                for (int i = 0; i < 3; i++) q.submit(() -> onCaller.addAndGet(Thread.currentThread() == me ? 1 : 0));
                assertTrue(q.awaitIdle(5_000 * MS));
            }
            assertEquals(3, onCaller.get());
        } finally {
            q.shutdown(false);
            q.awaitTermination(5_000 * MS);
        }
    }

    @Test
    @Timeout(10)
    void aCallThatWakesTheIdleProgressThreadHandsItTheProcessorOnceAndOthersDoNot() throws InterruptedException {
        AtomicInteger handOffs = new AtomicInteger();
        ProgressQueue q = new ProgressQueue("hand-off", handOffs::incrementAndGet);
        try {
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<Void> first = q.submit(() -> {
                started.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertEquals(1, handOffs.get(), "the first call woke an idle progress thread");
            assertTrue(started.await(5, TimeUnit.SECONDS));
            q.submit(() -> { });
            q.submit(() -> { });
            assertEquals(1, handOffs.get(), "calls issued while one runs leave the caller's processor alone");
            release.countDown();
            first.join();
            assertTrue(q.awaitIdle(5_000 * MS));
            q.submit(() -> { }).join();
            assertEquals(2, handOffs.get(), "idle again: the next call hands over again");
        } finally {
            q.shutdown(false);
            q.awaitTermination(5_000 * MS);
        }
    }

    @Test
    @Timeout(60)
    void operationsRunOneAtATimeInIssueOrderWhicheverThreadRunsThem() throws InterruptedException {
        ProgressQueue q = new ProgressQueue("order");
        try {
            AtomicInteger inside = new AtomicInteger();
            ConcurrentLinkedQueue<Integer> order = new ConcurrentLinkedQueue<>();
            ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
            SplittableRandom random = new SplittableRandom(3);
            List<CompletableFuture<Void>> futures = new ArrayList<>();
            int n = 4_000;
            for (int i = 0; i < n; i++) {
                int index = i;
                long spin = random.nextInt(3) * 2_000L;
                futures.add(q.submit(() -> {
                    if (inside.incrementAndGet() != 1) problems.add("operation " + index + " ran beside another");
                    long end = System.nanoTime() + spin;
                    while (System.nanoTime() < end) Thread.onSpinWait();
                    order.add(index);
                    inside.decrementAndGet();
                }));
                // Join some at once, some later, some never: the progress thread and this one
                // both run operations.
                if (random.nextInt(4) == 0) futures.get(random.nextInt(futures.size())).join();
            }
            assertTrue(q.awaitIdle(30_000 * MS));
            for (CompletableFuture<Void> f : futures) f.join();
            assertTrue(problems.isEmpty(), String.valueOf(problems.peek()));
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < n; i++) expected.add(i);
            assertEquals(expected, new ArrayList<>(order));
        } finally {
            q.shutdown(false);
            q.awaitTermination(5_000 * MS);
        }
    }
}
