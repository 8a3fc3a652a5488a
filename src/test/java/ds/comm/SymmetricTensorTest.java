package ds.comm;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Communicator#allocateSymmetric} through the public API, ranks as threads of this JVM
 * meeting at a real rendezvous: SHM (mapped tensors), the ring (plain memory), a world of one.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SymmetricTensorTest {

    private Path shmDir;

    @BeforeEach
    void createDirectory() throws IOException {
        Path shm = Path.of("/dev/shm");
        shmDir = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "dscomm-sym-") : Files.createTempDirectory("dscomm-sym-");
    }

    @AfterEach
    void noFilesLeftBehind() throws IOException {
        List<Path> left;
        try (Stream<Path> s = Files.list(shmDir)) {
            left = s.toList();
        }
        for (Path p : left) Files.deleteIfExists(p);
        Files.deleteIfExists(shmDir);
        assertEquals(List.of(), left, "files left in the shared-memory directory");
    }

    private interface RankBody<T> {
        T run(Communicator comm) throws Exception;
    }

    /** Runs {@code body} on n ranks (threads) of one job; rethrows the first failure by rank. */
    private <T> List<T> job(int n, Map<String, String> extra, RankBody<T> body) throws Exception {
        int port = ds.comm.topology.MasterPort.free();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> Thread.ofPlatform().daemon().name("rank").unstarted(r));
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int rank = 0; rank < n; rank++) {
                Map<String, String> env = new HashMap<>(Map.of("RANK", Integer.toString(rank), "WORLD_SIZE", Integer.toString(n),
                        "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", Integer.toString(port), "DSCOMM_TIMEOUT", "20s",
                        "DSCOMM_JOB_SECRET", "symmetric-test", "DSCOMM_SHM_DIR", shmDir.toString(), "DSCOMM_MPI", "0",
                        "DSCOMM_WARMUP", "0"));
                env.putAll(extra);
                futures.add(pool.submit(() -> {
                    try (Communicator comm = Communicator.init(CommConfig.builder().environment(env).build())) {
                        return body.run(comm);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) {
                try {
                    out.add(f.get(90, TimeUnit.SECONDS));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Exception x) throw x;
                    throw (Error) e.getCause();
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void differentSizesOnDifferentRanksAreAMismatchNamingTheRanksOnEveryRankAndTheGroupStaysUsable() throws Exception {
        List<String> messages = job(2, Map.of(), comm -> {
            assertEquals(Backend.SHM, comm.backend().backend());
            CollectiveMismatchException e = assertThrows(CollectiveMismatchException.class,
                    () -> comm.allocateSymmetric(comm.rank() == 0 ? 4096 : 8192));
            MemorySegment t = comm.allocateSymmetric(1024);
            t.set(ValueLayout.JAVA_FLOAT, 0, comm.rank() + 1);
            comm.allReduce(t, DType.FP32, ReduceOp.SUM);
            assertEquals(3f, t.get(ValueLayout.JAVA_FLOAT, 0));
            return e.getMessage();
        });
        for (String m : messages) {
            assertTrue(m.contains("allocateSymmetric on group w") && m.contains("rank 0: 4096") && m.contains("rank 1: 8192"), m);
        }
    }

    @Test
    void aSymmetricTensorOnShmIsReducedInPlaceSlicedAndDeadAfterClose() throws Exception {
        List<MemorySegment> tensors = job(3, Map.of(), comm -> {
            MemorySegment t = comm.allocateSymmetric(3 * 4096);
            assertEquals(0, t.address() % 64);
            MemorySegment bf16 = t.asSlice(4096, 2000);
            for (int i = 0; i < 1000; i++) bf16.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) 0x3F80); // 1.0
            comm.allReduce(bf16, DType.BF16, ReduceOp.SUM);
            for (int i = 0; i < 1000; i++) assertEquals((short) 0x4040, bf16.getAtIndex(ValueLayout.JAVA_SHORT, i)); // 3.0
            // every other collective takes it as any segment
            MemorySegment in = t.asSlice(0, 8);
            in.set(ValueLayout.JAVA_LONG, 0, comm.rank());
            MemorySegment out = t.asSlice(8192, 24);
            comm.allGather(in, out, DType.INT64);
            for (int r = 0; r < 3; r++) assertEquals(r, out.getAtIndex(ValueLayout.JAVA_LONG, r));
            comm.broadcast(t.asSlice(8192, 24), 2);
            comm.reduceScatter(t.asSlice(8192, 24), t.asSlice(0, 8), DType.INT64, ReduceOp.SUM);
            assertEquals(comm.rank() * 3, t.get(ValueLayout.JAVA_LONG, 0));
            return t;
        });
        for (MemorySegment t : tensors) {
            assertThrows(IllegalStateException.class, () -> t.get(ValueLayout.JAVA_BYTE, 0), "closed with the communicator");
        }
    }

    @Test
    void onTheRingATensorIsPlainNativeMemoryThatEveryCollectiveTakes() throws Exception {
        List<MemorySegment> tensors = job(2, Map.of("DSCOMM_BACKEND", "ring"), comm -> {
            assertEquals(Backend.RING, comm.backend().backend());
            MemorySegment t = comm.allocateSymmetric(1 << 16);
            assertEquals(0, t.address() % 64);
            assertEquals(-1, t.mismatch(MemorySegment.ofArray(new byte[1 << 16])), "zero-filled");
            for (int i = 0; i < 1 << 14; i++) t.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * (comm.rank() + 1));
            comm.allReduce(t, DType.FP32, ReduceOp.SUM);
            for (int i = 0; i < 1 << 14; i++) assertEquals(3f * i, t.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            comm.allReduce(t.asSlice(4, 40), DType.INT32, ReduceOp.MAX);
            return t;
        });
        for (MemorySegment t : tensors) {
            assertThrows(IllegalStateException.class, () -> t.get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void aWorldOfOneAllocatesAndAClosedCommunicatorRefusesToAllocate() {
        Communicator comm = Communicator.init(CommConfig.builder().environment(Map.of("DSCOMM_SHM_DIR", shmDir.toString()))
                .build());
        MemorySegment t;
        try {
            assertEquals(1, comm.size());
            assertThrows(IllegalArgumentException.class, () -> comm.allocateSymmetric(0));
            t = comm.allocateSymmetric(100);
            t.set(ValueLayout.JAVA_INT, 96, 5);
            comm.allReduce(t, DType.INT32, ReduceOp.SUM);
            assertEquals(5, t.get(ValueLayout.JAVA_INT, 96));
        } finally {
            comm.close();
        }
        assertThrows(IllegalStateException.class, () -> t.get(ValueLayout.JAVA_INT, 96));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> comm.allocateSymmetric(100));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
