package ds.comm;

import ds.comm.topology.ForeignByteOrderRank;
import ds.comm.topology.Topology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end through {@link Communicator#init(CommConfig)}: a rank that reports the other byte
 * order at the rendezvous (an s390x among x86 ranks, faked) makes init refuse the world group,
 * naming ranks and orders, before any collective could sum byte-swapped data.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MixedByteOrderInitTest {

    private static Map<String, String> env(int rank, int port) {
        Map<String, String> env = new HashMap<>();
        env.put("RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", "2");
        env.put("MASTER_ADDR", "127.0.0.1");
        env.put("MASTER_PORT", Integer.toString(port));
        env.put("DSCOMM_TIMEOUT", "20s");
        env.put("DSCOMM_JOB_SECRET", "mixed-order-test");
        env.put("DSCOMM_WARMUP", "0");
        return env;
    }

    @Test
    void initRefusesAWorldWhoseRanksReportDifferentByteOrdersNamingThem() throws Exception {
        int port = ds.comm.topology.MasterPort.free();
        ByteOrder foreign = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
        CompletableFuture<Topology> fake = new CompletableFuture<>();
        int p = port;
        Thread.ofPlatform().daemon().start(() -> {
            try {
                fake.complete(ForeignByteOrderRank.join(env(1, p), foreign));
            } catch (Throwable t) {
                fake.completeExceptionally(t);
            }
        });
        long start = System.nanoTime();
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> Communicator.init(CommConfig.builder().environment(env(0, p)).build()).close());
        String m = e.getMessage();
        assertTrue(m.contains("mixes byte orders") && m.contains("rank 0 " + ByteOrder.nativeOrder())
                && m.contains("rank 1 " + foreign), m);
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(15), "refused at init, not after a timeout");
        // The rendezvous itself succeeded: the refusal is the library's decision, from the verified table.
        assertEquals(foreign, fake.get(20, TimeUnit.SECONDS).byteOrderOf(1));
    }
}
