package ds.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * End to end through {@link Communicator#init(CommConfig)} with two ranks in one JVM that see
 * different shared-memory directories (rank 1's is missing, as a racing allocator's full
 * /dev/shm would look to one rank only): both must take the same backend, for the world and for
 * a split, and say which rank's view decided it. Before one decision per group, rank 0 took SHM
 * and rank 1 the ring, and both waited the full timeout.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ShmViewAgreementTest {

    private static Map<String, String> env(int rank, int port, Path shmDir) {
        Map<String, String> env = new HashMap<>();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", "2");
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", Integer.toString(port));
        env.put("DSCOMM_TIMEOUT", "8s");
        env.put("DSCOMM_WARMUP", "0");
        env.put("DSCOMM_JOB_SECRET", "shm-view-agreement-test");
        env.put("DSCOMM_SHM_DIR", shmDir.toString());
        env.put("DSCOMM_NODE_ID", "one-node");
        return env;
    }

    @Test
    void ranksThatSeeDifferentShmDirectoriesTakeTheSameBackendForTheWorldAndASplit(@TempDir Path good) throws Exception {
        Path missing = good.resolve("not-there");
        int port = ds.comm.topology.MasterPort.free();
        List<CompletableFuture<String[]>> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = env(r, port, r == 0 ? good : missing);
            int rank = r;
            CompletableFuture<String[]> f = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("rank-" + r).start(() -> {
                try (Communicator world = Communicator.init(CommConfig.builder().environment(env).build());
                     Arena arena = Arena.ofConfined()) {
                    MemorySegment v = arena.allocate(ValueLayout.JAVA_FLOAT, 4);
                    for (int i = 0; i < 4; i++) v.setAtIndex(ValueLayout.JAVA_FLOAT, i, rank + 1);
                    world.allReduce(v, DType.FP32, ReduceOp.SUM);
                    String sum = Float.toString(v.getAtIndex(ValueLayout.JAVA_FLOAT, 3));
                    try (Communicator split = world.split(0, rank)) {
                        f.complete(new String[]{world.backend().toString(), split.backend().toString(), sum});
                    }
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
            ranks.add(f);
        }
        String[] r0 = ranks.get(0).get(30, TimeUnit.SECONDS);
        String[] r1 = ranks.get(1).get(30, TimeUnit.SECONDS);
        Path[] dirs = {good, missing};
        String[][] both = {r0, r1};
        for (int rank = 0; rank < 2; rank++) {
            String[] r = both[rank];
            // Rank 0 itself saw a usable directory and still took the ring, saying whose view decided.
            assertEquals("ring: ranks 0-1 share one node; SHM unusable: world rank 1's shared-memory directory does not"
                    + " exist (this rank's directory: " + dirs[rank] + ")", r[0]);
            assertEquals(r[0], r[1], "the split decides from the views gathered at the split, with the same outcome");
            assertEquals("3.0", r[2]);
        }
    }
}
