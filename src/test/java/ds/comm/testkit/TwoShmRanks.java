package ds.comm.testkit;

import ds.comm.CommConfig;
import ds.comm.Communicator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * Two ranks of a real SHM world in one JVM, each on its own daemon thread with its own
 * {@code Communicator.init()} (rendezvous on a free loopback port, segments in {@code shmDir}):
 * for public-API tests that need peers but not processes.
 */
public final class TwoShmRanks {

    private TwoShmRanks() {
    }

    /**
     * Runs {@code body} as rank 0 and rank 1 and returns their results by rank. A result counts
     * once the rank's communicator is closed, so the close is part of what the caller sees.
     *
     * @param secret the job secret (distinct per test class, so that concurrent tests never meet)
     * @throws AssertionError naming the rank whose body or communicator failed
     */
    public static <T> List<T> run(Path shmDir, String secret, BiFunction<Communicator, Integer, T> body) throws Exception {
        int port = ds.comm.topology.MasterPort.free();
        List<CompletableFuture<T>> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = env(r, port, shmDir, secret);
            int rank = r;
            CompletableFuture<T> f = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("rank-" + r).start(() -> {
                try {
                    T result;
                    try (Communicator world = Communicator.init(CommConfig.builder().environment(env).build())) {
                        result = body.apply(world, rank);
                    }
                    f.complete(result);
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
            ranks.add(f);
        }
        List<T> out = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            try {
                out.add(ranks.get(r).get(90, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                throw new AssertionError("rank " + r + " failed", e.getCause());
            }
        }
        return out;
    }

    private static Map<String, String> env(int rank, int port, Path shmDir, String secret) {
        Map<String, String> env = new HashMap<>();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", "2");
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", Integer.toString(port));
        env.put("DSCOMM_TIMEOUT", "20s");
        env.put("DSCOMM_JOB_SECRET", secret);
        env.put("DSCOMM_SHM_DIR", shmDir.toString());
        env.put("DSCOMM_NODE_ID", "one-node");
        env.put("DSCOMM_BACKEND", "shm");
        // init()'s JIT warm-up (on by default) would add thousands of calls to what tests count.
        env.put("DSCOMM_WARMUP", "0");
        return env;
    }
}
