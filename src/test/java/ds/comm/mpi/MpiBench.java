package ds.comm.mpi;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Latency of the mpi backend's allReduce (fp32 sum) from Java, measured exactly as
 * bench/mpi_allreduce.c measures MPI_Allreduce from C, so the two p50s compare the FFM path
 * (and, for heap arrays, the staging copy) against the bare library:
 *
 * <pre>
 *   mpirun --allow-run-as-root -np 2 java --add-modules jdk.incubator.vector \
 *       --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes ds.comm.mpi.MpiBench
 * </pre>
 *
 * After a warm-up, each iteration is a barrier, then one timed allReduce; rank 0 prints median and p90 of its
 * own call times for a native segment, for a float[] (heap, staged), and (p50 only) for the
 * same native bytes reduced as BF16 (widened to fp32 for MPI, so twice the bytes on the wire).
 */
public final class MpiBench {

    private MpiBench() {
    }

    /**
     * @param args optional staging chunk in bytes (default: Settings.defaults())
     */
    public static void main(String[] args) {
        long[] bytes = {4L << 10, 64L << 10, 1L << 20, 16L << 20};
        int[] iters = {2000, 1000, 200, 30};
        // Enough calls for C2 to compile the whole call path before timing starts.
        int[] warmup = {20000, 5000, 500, 10};
        MpiLibrary lib = MpiLibrary.load(System.getenv(MpiLibrary.LIBRARY_VARIABLE));
        Settings settings = args.length > 0 ? MpiScenario.withChunkBytes(Settings.defaults(), Long.parseLong(args[0]))
                : Settings.defaults();
        try (MpiCollective world = MpiCollective.world(lib, settings, Reducers.fromEnvironment(null));
             Arena arena = Arena.ofConfined()) {
            if (world.rank() == 0) {
                System.out.println("# Java " + world.describe() + " allReduce fp32 sum, " + world.size() + " ranks, heap staged "
                        + settings.chunkBytes() + " B at a time");
                System.out.println("# bytes native_p50_us native_p90_us heap_p50_us heap_p90_us bf16_native_p50_us");
            }
            for (int s = 0; s < bytes.length; s++) {
                MemorySegment natives = arena.allocate(bytes[s], 64);
                MemorySegment heap = MemorySegment.ofArray(new float[(int) (bytes[s] / 4)]);
                double[] n = time(world, natives, warmup[s], iters[s]);
                double[] h = time(world, heap, warmup[s], iters[s]);
                double[] b = time(world, natives, ElementType.BF16, warmup[s], iters[s]);
                if (world.rank() == 0) {
                    System.out.printf("%d %.2f %.2f %.2f %.2f %.2f%n", bytes[s], n[0], n[1], h[0], h[1], b[0]);
                }
            }
        }
    }

    /** Returns {p50, p90} in microseconds. */
    private static double[] time(MpiCollective world, MemorySegment buf, int warmup, int iters) {
        return time(world, buf, ElementType.FP32, warmup, iters);
    }

    /** Returns {p50, p90} in microseconds of allReduce(buf as {@code type}, SUM). */
    private static double[] time(MpiCollective world, MemorySegment buf, ElementType type, int warmup, int iters) {
        for (int w = 0; w < warmup; w++) world.allReduce(buf, type, Combiner.SUM);
        long[] t = new long[iters];
        for (int i = 0; i < iters; i++) {
            world.barrier();
            long t0 = System.nanoTime();
            world.allReduce(buf, type, Combiner.SUM);
            t[i] = System.nanoTime() - t0;
        }
        Arrays.sort(t);
        return new double[] {t[iters / 2] / 1e3, t[iters * 9 / 10] / 1e3};
    }
}
