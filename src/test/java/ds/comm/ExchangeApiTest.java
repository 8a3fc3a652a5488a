package ds.comm;

import ds.comm.testkit.TwoShmRanks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The public all-to-all(v), gather, scatter and reduce: argument checks (before anything moves,
 * leaving the communicator usable), a group of one, and the translation of a count mismatch on
 * a real two-rank shared-memory world.
 */
@Timeout(120)
class ExchangeApiTest {

    private static Communicator solo() {
        return Communicator.init(CommConfig.builder().environment(Map.of()).build());
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingMovesAndTheCommunicatorStaysUsable() {
        try (Communicator c = solo()) {
            MemorySegment f8 = MemorySegment.ofArray(new float[8]);
            MemorySegment f4 = MemorySegment.ofArray(new float[4]);
            assertThrows(IllegalArgumentException.class, () -> c.allToAll(f8, f4, DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> c.allToAll(MemorySegment.ofArray(new byte[6]),
                    MemorySegment.ofArray(new byte[6]), DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> c.allToAll(f8, f8, DType.FP32), "in and out overlap");
            assertThrows(IllegalArgumentException.class, () -> c.allToAll(f8, f8.asReadOnly(), DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> c.allToAllV(f8, new long[] {1, 1}, f4, new long[] {1}, DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> c.allToAllV(f8, new long[] {-1}, f4, new long[] {-1}, DType.FP32));
            IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class,
                    () -> c.allToAllV(f4, new long[] {5}, f8, new long[] {5}, DType.FP32));
            assertTrue(tooMany.getMessage().contains("sendCounts"), tooMany.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> c.allToAllV(f8, new long[] {Long.MAX_VALUE}, f8, new long[] {1}, DType.FP32));
            assertThrows(IllegalArgumentException.class, () -> c.gather(f4, f8, 0), "root's out must be size() x in");
            assertThrows(IllegalArgumentException.class, () -> c.gather(f4, f4, 1), "root outside the group");
            assertThrows(IllegalArgumentException.class, () -> c.scatter(f8, f4, 0));
            assertThrows(IllegalArgumentException.class, () -> c.scatter(f4, f4, -1));
            assertThrows(IllegalArgumentException.class, () -> c.reduce(MemorySegment.ofArray(new byte[3]), DType.FP32,
                    ReduceOp.SUM, 0));
            assertThrows(IllegalArgumentException.class, () -> c.reduce(f4.asReadOnly(), DType.FP32, ReduceOp.SUM, 0),
                    "the root writes its buffer");
            // Still usable: the checks ran before the backend saw anything.
            float[] in = {1, 2, 3};
            float[] out = new float[3];
            c.allToAllV(MemorySegment.ofArray(in), new long[] {3}, MemorySegment.ofArray(out), new long[] {3}, DType.FP32);
            assertArrayEquals(in, out);
        }
    }

    @Test
    void aGroupOfOneCopiesAndReducesToItself() {
        try (Communicator c = solo()) {
            float[] in = {1, 2, 3, 4};
            float[] out = new float[4];
            c.allToAll(MemorySegment.ofArray(in), MemorySegment.ofArray(out), DType.FP32);
            assertArrayEquals(in, out);
            float[] g = new float[4];
            c.gather(MemorySegment.ofArray(in), MemorySegment.ofArray(g), 0);
            assertArrayEquals(in, g);
            float[] s = new float[4];
            c.scatter(MemorySegment.ofArray(in), MemorySegment.ofArray(s), 0);
            assertArrayEquals(in, s);
            c.reduce(MemorySegment.ofArray(in), DType.FP32, ReduceOp.SUM, 0);
            assertArrayEquals(new float[] {1, 2, 3, 4}, in);
        }
    }

    @Test
    void allToAllVCountsThatDisagreeThrowCollectiveMismatchOnBothRanksAndAbort(@TempDir Path dir) throws Exception {
        Path shm = Files.createDirectories(dir.resolve("shm"));
        List<Throwable> failures = twoRanks(shm, (world, rank) -> {
            long[] send = rank == 0 ? new long[] {1, 3} : new long[] {2, 1};
            long[] recv = rank == 0 ? new long[] {1, 2} : new long[] {2, 1}; // rank 1 expects 2 from rank 0, gets 3
            try {
                world.allToAllV(MemorySegment.ofArray(new float[4]), send, MemorySegment.ofArray(new float[4]), recv, DType.FP32);
                return null;
            } catch (CommException e) {
                // The communicator is aborted afterwards: the next call refuses at once.
                CommException again = assertThrows(CommException.class, world::barrier);
                assertTrue(again.getMessage().contains("aborted"), again.getMessage());
                return e;
            }
        });
        for (int rank = 0; rank < 2; rank++) {
            CollectiveMismatchException m = assertInstanceOf(CollectiveMismatchException.class, failures.get(rank),
                    "rank " + rank);
            assertTrue(m.getMessage().contains("0 -> 1") && m.getMessage().contains("sendCounts[1] = 3"), m.getMessage());
        }
    }

    @Test
    void twoShmRanksExchangeUnevenBlocksAndReduceOnlyOnTheRoot(@TempDir Path dir) throws Exception {
        Path shm = Files.createDirectories(dir.resolve("shm"));
        List<float[]> results = twoRanks(shm, (world, rank) -> {
            // rank 0 sends {10} to itself and {11, 12} to rank 1; rank 1 sends {20, 21, 22} to 0 and nothing to itself.
            float[] in = rank == 0 ? new float[] {10, 11, 12} : new float[] {20, 21, 22};
            long[] send = rank == 0 ? new long[] {1, 2} : new long[] {3, 0};
            long[] recv = rank == 0 ? new long[] {1, 3} : new long[] {2, 0};
            float[] out = new float[4];
            world.allToAllV(MemorySegment.ofArray(in), send, MemorySegment.ofArray(out), recv, DType.FP32);
            float[] buf = {rank + 1f, 10f * (rank + 1)};
            world.reduce(MemorySegment.ofArray(buf), DType.FP32, ReduceOp.SUM, 1);
            float[] all = new float[6];
            System.arraycopy(out, 0, all, 0, 4);
            System.arraycopy(buf, 0, all, 4, 2);
            return all;
        });
        assertArrayEquals(new float[] {10, 20, 21, 22, 1, 10}, results.get(0));
        assertArrayEquals(new float[] {11, 12, 0, 0, 3, 30}, results.get(1));
    }

    /** Two SHM ranks in this JVM (testkit.TwoShmRanks); no segment may be left behind. */
    private static <T> List<T> twoRanks(Path shmDir, BiFunction<Communicator, Integer, T> body) throws Exception {
        List<T> out = TwoShmRanks.run(shmDir, "exchange-api-test", body);
        try (var left = Files.list(shmDir)) {
            assertEquals(List.of(), left.toList(), "segments left behind");
        }
        return out;
    }
}
