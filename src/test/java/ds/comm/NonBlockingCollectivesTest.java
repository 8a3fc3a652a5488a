package ds.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-blocking calls' contract on a world of one (no peers needed for the queueing rules;
 * the multi-process tests cover them over real backends, with failures).
 */
@Timeout(60)
class NonBlockingCollectivesTest {

    private static Communicator solo() {
        return Communicator.init(CommConfig.builder().environment(Map.of("DSCOMM_WARMUP", "0")).build());
    }

    private static long progressThreads(String group) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("ds-comm-progress-" + group) && t.isAlive()).count();
    }

    @Test
    void nonBlockingCallsCompleteInIssueOrderAndABlockingCallRunsAfterThem() {
        try (Communicator comm = solo()) {
            ConcurrentLinkedQueue<Integer> order = new ConcurrentLinkedQueue<>();
            List<CompletableFuture<Void>> futures = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                int index = i;
                MemorySegment b = MemorySegment.ofArray(new float[1 + i % 7]);
                CompletableFuture<Void> f = switch (i % 4) {
                    case 0 -> comm.allReduceAsync(b, DType.FP32, ReduceOp.SUM);
                    case 1 -> comm.broadcastAsync(b, 0);
                    case 2 -> comm.allGatherAsync(b, MemorySegment.ofArray(new float[1 + i % 7]), DType.FP32);
                    default -> comm.reduceScatterAsync(b, MemorySegment.ofArray(new float[1 + i % 7]), DType.FP32, ReduceOp.MAX);
                };
                futures.add(f.thenRun(() -> order.add(index)));
            }
            comm.barrier(); // blocking: returns only after every earlier non-blocking call finished
            assertEquals(0, comm.outstandingAsync());
            CompletableFuture.allOf(futures.toArray(new CompletableFuture[0])).join();
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < 200; i++) expected.add(i);
            assertEquals(expected, new ArrayList<>(order));
        }
    }

    @Test
    void aBlockingCallFromTheCallbackOfANonBlockingOneFailsAtOnceInsteadOfWaitingForItself() {
        try (Communicator comm = Communicator.init(CommConfig.builder().environment(Map.of("DSCOMM_WARMUP", "0"))
                .timeout(java.time.Duration.ofSeconds(20)).build()); Arena arena = Arena.ofShared()) {
            // A 256 MiB all-gather (a copy, on a world of one) keeps the progress thread busy
            // while the callback is registered on the call queued behind it, so the callback
            // runs inside that call, on the progress thread.
            MemorySegment big = arena.allocate(256L << 20);
            CompletableFuture<Void> first = comm.allGatherAsync(big, arena.allocate(256L << 20), DType.INT32);
            CompletableFuture<Void> second = comm.allReduceAsync(MemorySegment.ofArray(new float[8]), DType.FP32, ReduceOp.SUM);
            String[] ranOn = new String[1];
            CompletableFuture<Void> callback = second.thenRun(() -> {
                ranOn[0] = Thread.currentThread().getName();
                comm.barrier();
            });
            long t0 = System.nanoTime();
            java.util.concurrent.CompletionException e = assertThrows(java.util.concurrent.CompletionException.class, callback::join);
            long millis = (System.nanoTime() - t0) / 1_000_000;
            first.join();
            assertEquals("ds-comm-progress-" + comm.name(), ranOn[0], "the callback ran inside the queued call");
            assertTrue(e.getCause() instanceof IllegalStateException && e.getCause().getMessage().contains("callback"),
                    String.valueOf(e.getCause()));
            assertTrue(millis < 10_000, "failed after " + millis + " ms; waiting for itself would take the 40 s bound");
            comm.barrier(); // the communicator is not broken: the failure was the callback's own
        }
    }

    @Test
    void closeFromTheCallbackOfANonBlockingCallClosesAtOnceAndFailsOnlyTheCallsQueuedBehindIt() throws Exception {
        Communicator comm = Communicator.init(CommConfig.builder().environment(Map.of("DSCOMM_WARMUP", "0"))
                .timeout(java.time.Duration.ofSeconds(20)).build());
        String group = comm.name();
        long before = progressThreads(group);
        try (Arena arena = Arena.ofShared()) {
            // As above: the 256 MiB all-gather keeps the progress thread busy while the callback
            // is registered, so the callback runs inside the second call, on the progress thread.
            MemorySegment big = arena.allocate(256L << 20);
            CompletableFuture<Void> first = comm.allGatherAsync(big, arena.allocate(256L << 20), DType.INT32);
            MemorySegment summed = arena.allocate(32);
            summed.setAtIndex(ValueLayout.JAVA_FLOAT, 7, 1.5f);
            CompletableFuture<Void> second = comm.allReduceAsync(summed, DType.FP32, ReduceOp.SUM);
            CompletableFuture<Void> third = comm.allReduceAsync(arena.allocate(32), DType.FP32, ReduceOp.SUM);
            String[] ranOn = new String[1];
            CompletableFuture<Void> callback = second.thenRun(() -> {
                ranOn[0] = Thread.currentThread().getName();
                comm.close();
            });
            long t0 = System.nanoTime();
            callback.get(15, java.util.concurrent.TimeUnit.SECONDS); // waiting for itself took 20 s + grace + 20 s
            long millis = (System.nanoTime() - t0) / 1_000_000;
            first.join();
            assertEquals("ds-comm-progress-" + group, ranOn[0], "the callback ran inside the queued call");
            assertTrue(millis < 10_000, "close() from the callback took " + millis + " ms");
            assertEquals(1.5f, summed.getAtIndex(ValueLayout.JAVA_FLOAT, 7), "the call it ran inside completed");
            java.util.concurrent.CompletionException e = assertThrows(java.util.concurrent.CompletionException.class, third::join);
            assertTrue(e.getCause() instanceof IllegalStateException && e.getCause().getMessage().contains("closed"),
                    String.valueOf(e.getCause()));
            assertThrows(IllegalStateException.class, () -> comm.allReduce(summed, DType.FP32, ReduceOp.SUM));
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (progressThreads(group) > before && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(before, progressThreads(group), "the progress thread ended after the callback returned");
        } finally {
            comm.close();
        }
    }

    @Test
    void badArgumentsThrowAtOnceOnTheCallersThreadAndStartNoThread() {
        try (Communicator comm = solo()) {
            String group = comm.name();
            long before = progressThreads(group);
            assertThrows(IllegalArgumentException.class,
                    () -> comm.allReduceAsync(MemorySegment.ofArray(new byte[6]), DType.FP32, ReduceOp.SUM));
            assertThrows(IllegalArgumentException.class,
                    () -> comm.allGatherAsync(MemorySegment.ofArray(new float[2]), MemorySegment.ofArray(new float[3]), DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> comm.broadcastAsync(MemorySegment.ofArray(new byte[4]), 1));
            assertThrows(NullPointerException.class, () -> comm.reduceScatterAsync(null, MemorySegment.ofArray(new float[1]),
                    DType.FP32, ReduceOp.SUM));
            assertEquals(before, progressThreads(group), "no progress thread before the first valid non-blocking call");
            comm.allReduce(MemorySegment.ofArray(new float[4]), DType.FP32, ReduceOp.SUM); // still usable
        }
    }

    @Test
    void oneDaemonProgressThreadIsStartedLazilyAndEndsWithClose() {
        Communicator comm = solo();
        String group = comm.name();
        long before = progressThreads(group);
        for (int i = 0; i < 50; i++) comm.allReduceAsync(MemorySegment.ofArray(new float[8]), DType.FP32, ReduceOp.SUM).join();
        assertEquals(before + 1, progressThreads(group));
        assertTrue(Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("ds-comm-progress-" + group)).allMatch(Thread::isDaemon));
        comm.close();
        assertEquals(before, progressThreads(group), "close() ends the progress thread");
    }

    @Test
    void aSegmentConfinedToTheCallerIsRefusedBecauseTheProgressThreadCannotUseIt() {
        try (Communicator comm = solo(); Arena confined = Arena.ofConfined()) {
            MemorySegment b = confined.allocate(64);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> comm.allReduceAsync(b, DType.FP32, ReduceOp.SUM));
            assertTrue(e.getMessage().contains("confined"), e.getMessage());
            try (Arena shared = Arena.ofShared()) {
                MemorySegment s = shared.allocate(64);
                s.setAtIndex(ValueLayout.JAVA_FLOAT, 3, 2.5f);
                comm.allReduceAsync(s, DType.FP32, ReduceOp.SUM).join();
                assertEquals(2.5f, s.getAtIndex(ValueLayout.JAVA_FLOAT, 3));
            }
        }
    }

    @Test
    void nonBlockingCallsOnAClosedCommunicatorAreRefused() {
        Communicator comm = solo();
        comm.allReduceAsync(MemorySegment.ofArray(new float[1]), DType.FP32, ReduceOp.SUM);
        comm.close();
        assertThrows(IllegalStateException.class,
                () -> comm.allReduceAsync(MemorySegment.ofArray(new float[1]), DType.FP32, ReduceOp.SUM));
        assertFalse(comm.toString().isEmpty());
    }

    @Test
    void pointToPointArgumentsAreCheckedBeforeAnyBackendIsUsed() {
        try (Communicator comm = solo()) {
            assertThrows(IllegalArgumentException.class, () -> comm.send(MemorySegment.ofArray(new byte[1]), 0));
            assertThrows(IllegalArgumentException.class, () -> comm.recv(MemorySegment.ofArray(new byte[1]), 1));
            assertThrows(IllegalArgumentException.class, () -> comm.recv(MemorySegment.ofArray(new byte[1]).asReadOnly(), 0));
            comm.barrier();
        }
    }
}
