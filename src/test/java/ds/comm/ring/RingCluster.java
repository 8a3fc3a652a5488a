package ds.comm.ring;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Reducer;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * N ranks as threads of one JVM, each with its own {@link RingEndpoint} on 127.0.0.1, the way
 * N processes on N nodes would be wired after rendezvous.
 */
final class RingCluster implements AutoCloseable {

    static final String JOB = "c0ffee";
    static final Reducer REDUCER = Reducers.scalar();

    /** What one rank's task did: a value or the failure it threw. */
    record Outcome<T>(T value, Throwable failure) {
    }

    @FunctionalInterface
    interface RankTask<T> {
        T run(int rank) throws Exception;
    }

    final int worldSize;
    final RingEndpoint[] endpoints;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ring-test-rank");
        t.setDaemon(true);
        return t;
    });

    RingCluster(int worldSize) {
        this.worldSize = worldSize;
        this.endpoints = new RingEndpoint[worldSize];
        for (int i = 0; i < worldSize; i++) {
            endpoints[i] = RingEndpoint.bind();
        }
    }

    static Settings settings(long smallMessageBytes, long chunkBytes, long timeoutMillis) {
        return new Settings(TimeUnit.MILLISECONDS.toNanos(timeoutMillis),
                () -> new BackoffIdleStrategy(200, 20, 1_000, 200_000), Path.of("/dev/shm"), 1L << 20,
                smallMessageBytes, chunkBytes, 5_000_000_000L);
    }

    /** The failure of group rank {@code rank}'s outcome, asserting that the rank failed with a {@link CommFailure}. */
    static CommFailure failureOf(Outcome<?> outcome, int rank) {
        assertNull(outcome.value(), "rank " + rank + " should have failed");
        return assertInstanceOf(CommFailure.class, outcome.failure(), "rank " + rank);
    }

    InetSocketAddress address(int worldRank) {
        return new InetSocketAddress("127.0.0.1", endpoints[worldRank].port());
    }

    /** Opens group {@code name} of the given world ranks on all of them at once; index = group rank. */
    RingCollective[] open(String name, int[] members, Settings settings) throws Exception {
        return open(name, members, settings, REDUCER);
    }

    /** As {@link #open(String, int[], Settings)}, reducing with {@code reducer}. */
    RingCollective[] open(String name, int[] members, Settings settings, Reducer reducer) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int m : members) {
            addresses.add(address(m));
        }
        List<Outcome<RingCollective>> opened = runAll(members.length, i -> RingCollective.open(
                new GroupSpec(name, JOB, members, i), settings, reducer, endpoints[members[i]], addresses));
        RingCollective[] result = new RingCollective[members.length];
        for (int i = 0; i < members.length; i++) {
            if (opened.get(i).failure() != null) {
                throw new AssertionError("open of " + name + " failed on group rank " + i, opened.get(i).failure());
            }
            result[i] = opened.get(i).value();
        }
        return result;
    }

    RingCollective[] openWorld(Settings settings) throws Exception {
        int[] all = new int[worldSize];
        for (int i = 0; i < worldSize; i++) {
            all[i] = i;
        }
        return open("w", all, settings);
    }

    /** Runs {@code task} for ranks 0..n-1 concurrently; waits at most 30 s in all. */
    <T> List<Outcome<T>> runAll(int n, RankTask<T> task) throws InterruptedException {
        List<Future<T>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int rank = i;
            futures.add(threads.submit(() -> task.run(rank)));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        List<Outcome<T>> outcomes = new ArrayList<>();
        for (Future<T> f : futures) {
            try {
                outcomes.add(new Outcome<>(f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS),
                        null));
            } catch (ExecutionException e) {
                outcomes.add(new Outcome<>(null, e.getCause()));
            } catch (TimeoutException e) {
                f.cancel(true);
                outcomes.add(new Outcome<>(null, e));
            }
        }
        return outcomes;
    }

    /**
     * Runs {@code task} on every rank but {@code victim}, whose collective is closed 100 ms in
     * (the others are inside their call by then), as a rank that dies would; then asserts that
     * every survivor failed with PEER_LOST naming the victim, with {@code text} in its message,
     * within half of {@code timeoutMillis}.
     */
    void assertSurvivorsNameALostRank(RingCollective[] world, int victim, String text, long timeoutMillis,
                                      RankTask<Object> task) throws InterruptedException {
        long start = System.nanoTime();
        List<Outcome<Object>> outcomes = runAll(world.length, rank -> {
            if (rank == victim) {
                Thread.sleep(100);
                world[rank].close();
                return null;
            }
            return task.run(rank);
        });
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        for (int rank = 0; rank < world.length; rank++) {
            if (rank == victim) continue;
            Outcome<Object> o = outcomes.get(rank);
            assertNull(o.value(), "rank " + rank + " should have failed");
            CommFailure f = assertInstanceOf(CommFailure.class, o.failure(), "rank " + rank);
            assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), "rank " + rank + ": " + f.getMessage());
            assertEquals(victim, f.peerRank(), "rank " + rank + ": " + f.getMessage());
            assertTrue(f.getMessage().contains(text), f.getMessage());
        }
        assertTrue(elapsedMs < timeoutMillis / 2, "survivors took " + elapsedMs + " ms");
    }

    /**
     * Runs {@code task} on every rank, then asserts that every rank failed with {@code kind}
     * naming another rank, within half of {@code timeoutMillis}: a failure that every rank learns
     * of promptly, not by waiting for its own deadline.
     */
    void assertEveryRankFailsNamingAnother(int n, CommFailure.Kind kind, long timeoutMillis, RankTask<Object> task)
            throws InterruptedException {
        long start = System.nanoTime();
        List<Outcome<Object>> outcomes = runAll(n, task);
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        for (int rank = 0; rank < n; rank++) {
            CommFailure f = failureOf(outcomes.get(rank), rank);
            assertEquals(kind, f.kind(), "rank " + rank + ": " + f.getMessage());
            assertTrue(f.peerRank() >= 0 && f.peerRank() != rank, "rank " + rank + ": " + f.getMessage());
        }
        assertTrue(elapsedMs < timeoutMillis / 2, "ranks took " + elapsedMs + " ms");
    }

    /** Like {@link #runAll} but fails the test if any rank failed. */
    <T> List<T> runAllOk(int n, RankTask<T> task) throws InterruptedException {
        List<T> values = new ArrayList<>();
        List<Outcome<T>> outcomes = runAll(n, task);
        for (int i = 0; i < n; i++) {
            if (outcomes.get(i).failure() != null) {
                throw new AssertionError("rank " + i + " failed", outcomes.get(i).failure());
            }
            values.add(outcomes.get(i).value());
        }
        return values;
    }

    static void closeAll(RingCollective[] group) {
        if (group != null) {
            for (RingCollective c : group) {
                if (c != null) {
                    c.close();
                }
            }
        }
    }

    @Override
    public void close() {
        threads.shutdownNow();
        for (RingEndpoint e : endpoints) {
            e.close();
        }
    }
}
