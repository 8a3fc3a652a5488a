package ds.comm.shm;

import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Test scaffolding: a private segment directory (under /dev/shm when there is one) and "ranks"
 * as threads, each with its own {@link ShmCollective} and its own mapping of every file, as
 * separate processes would have.
 */
final class ShmRanks implements AutoCloseable {

    /** Area of 4096 bytes, chunks of 1024, one-step all-reduce up to 256 bytes: every path is cheap to reach. */
    static final long SMALL_SHM_BYTES = SegmentDescriptor.MIN_SEGMENT_BYTES;
    static final long SMALL_MESSAGE_BYTES = 256;
    static final long CHUNK_BYTES = 1024;

    final Path dir;
    final String job = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());

    ShmRanks() throws IOException {
        Path shm = Path.of("/dev/shm");
        dir = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "dscomm-test-") : Files.createTempDirectory("dscomm-test-");
    }

    /** Small segments and chunks, a short back-off (2 cores run up to 8 ranks), the given timeout. */
    Settings settings(long timeoutMillis) {
        return new Settings(timeoutMillis * 1_000_000L, () -> new BackoffIdleStrategy(50, 20, 1_000, 200_000),
                dir, SMALL_SHM_BYTES, SMALL_MESSAGE_BYTES, CHUNK_BYTES, 5_000_000_000L);
    }

    Settings settings() {
        return settings(20_000);
    }

    /** Group {@code name} over world ranks {@code members}, seen by group rank {@code index}. */
    GroupSpec group(String name, int[] members, int index) {
        return new GroupSpec(name, job, members, index);
    }

    /** Group {@code name} of world ranks 0..n-1, seen by rank {@code index}. */
    GroupSpec world(String name, int n, int index) {
        int[] members = new int[n];
        for (int i = 0; i < n; i++) members[i] = i;
        return group(name, members, index);
    }

    /** What one rank does. */
    interface RankBody<T> {
        T run(int rank) throws Exception;
    }

    /**
     * Runs {@code body} for ranks 0..n-1 on n threads and returns their results by rank; the
     * first failure (by rank) is rethrown. Threads are daemons so that a hung rank cannot keep
     * the test JVM alive after the test's own timeout.
     */
    static <T> List<T> onThreads(int n, long timeoutMillis, RankBody<T> body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "shm-rank");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                futures.add(pool.submit(() -> body.run(rank)));
            }
            long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            List<T> results = new ArrayList<>();
            Throwable first = null;
            for (int r = 0; r < n; r++) {
                Throwable failure;
                try {
                    results.add(futures.get(r).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
                    continue;
                } catch (ExecutionException e) {
                    failure = e.getCause();
                } catch (TimeoutException e) {
                    failure = new AssertionError("rank " + r + " did not finish within " + timeoutMillis + " ms", e);
                }
                // Keep every rank's failure: the first by rank is often a consequence of another's.
                if (first == null) first = failure;
                else first.addSuppressed(failure);
            }
            if (first instanceof Exception x) throw x;
            if (first instanceof Error x) throw x;
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Files currently in the directory. */
    List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    /** Removes the directory; fails if a segment file was left behind. */
    @Override
    public void close() throws IOException {
        List<Path> left = files();
        for (Path p : left) Files.deleteIfExists(p);
        Files.deleteIfExists(dir);
        if (!left.isEmpty()) throw new AssertionError("segment files left behind: " + left);
    }
}
