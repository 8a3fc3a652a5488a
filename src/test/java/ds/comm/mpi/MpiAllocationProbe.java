package ds.comm.mpi;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;

/**
 * Rank program (run under mpirun by {@link MpiBackendTest}): after warm-up, how many bytes does
 * one allReduce allocate on the calling thread? Prints {@code ALLOC <path> <bytes per call>} per
 * path: built-in op on native memory, heap staging, BF16 widening, the upcall user op, and the
 * exchanges allToAll and allToAllV (its count exchange included) on native memory.
 * Lives with the tests; reaches {@code com.sun.management.ThreadMXBean} reflectively because the
 * tests compile inside module ds.comm, which does not read java.management (the ranks run on the
 * class path, where it is readable).
 */
public final class MpiAllocationProbe {

    /** Rounds over all paths: enough invocations for C2, with a profile that covers every path. */
    private static final int WARMUP_ROUNDS = 3_000;
    private static final int MEASURED = 1_000;
    /** Windows at most per path (each ~1000 calls plus 50 ms): about 5 s of waiting for C2. */
    private static final int MAX_WINDOWS = 60;

    private MpiAllocationProbe() {
    }

    /**
     * @param args ignored
     */
    public static void main(String[] args) throws ReflectiveOperationException, InterruptedException {
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        Method allocated = Class.forName("com.sun.management.ThreadMXBean").getMethod("getCurrentThreadAllocatedBytes");
        MpiLibrary lib = MpiLibrary.load(System.getenv(MpiLibrary.LIBRARY_VARIABLE));
        try (MpiCollective w = MpiCollective.world(lib, Settings.defaults(), Reducers.fromEnvironment(null));
             Arena arena = Arena.ofConfined()) {
            MemorySegment natives = arena.allocate(4096, 64);
            MemorySegment heap = MemorySegment.ofArray(new float[1024]);
            MemorySegment bf16 = MemorySegment.ofArray(new short[2048]);
            MemorySegment clean = arena.allocate(ValueLayout.JAVA_INT);
            exchangeOut = arena.allocate(4096, 64);
            exchangeCounts = new long[w.size()];
            java.util.Arrays.fill(exchangeCounts, 1024 / w.size());
            String[] paths = {"fp32-sum-native", "fp32-sum-heap", "bf16-sum-heap", "fp32-min-native-userop",
                    "alltoall-native", "alltoallv-native"};
            for (int i = 0; i < WARMUP_ROUNDS; i++) {
                for (String path : paths) call(w, path, natives, heap, bf16);
            }
            for (String path : paths) {
                // On a loaded machine C2 may not have compiled the path yet after the warm-up
                // (once, in a full suite, rank 1's user-op kernel still ran boxed Vector API code
                // after 8000 calls: 15 KB per call). Measure windows until every rank had a clean
                // one, up to MAX_WINDOWS, and report the best. A real per-call allocation shows
                // in every window; a path still waiting for C2 does not. The ranks decide
                // together (MIN of their "clean" flags) so that they run the same collectives.
                double best = Double.MAX_VALUE;
                for (int attempt = 0; attempt < MAX_WINDOWS; attempt++) {
                    long before = (long) allocated.invoke(threads);
                    for (int i = 0; i < MEASURED; i++) call(w, path, natives, heap, bf16);
                    long after = (long) allocated.invoke(threads);
                    best = Math.min(best, (double) (after - before) / MEASURED);
                    clean.set(ValueLayout.JAVA_INT, 0, best < 1.0 ? 1 : 0);
                    w.allReduce(clean, ElementType.INT32, Combiner.MIN);
                    if (clean.get(ValueLayout.JAVA_INT, 0) == 1) break;
                    Thread.sleep(50); // give the compiler threads the cores
                }
                System.out.println("ALLOC rank " + w.rank() + " " + path + " " + best);
            }
        }
        System.exit(0);
    }

    /** The exchanges' output and counts (fp32 elements per peer), set up once. */
    private static MemorySegment exchangeOut;
    private static long[] exchangeCounts;

    private static void call(MpiCollective w, String path, MemorySegment natives, MemorySegment heap, MemorySegment bf16) {
        switch (path) {
            case "alltoall-native" -> w.allToAll(natives, exchangeOut, ElementType.FP32);
            case "alltoallv-native" -> w.allToAllV(natives, exchangeCounts, exchangeOut, exchangeCounts, ElementType.FP32);
            case "fp32-sum-native" -> w.allReduce(natives, ElementType.FP32, Combiner.SUM);
            case "fp32-sum-heap" -> w.allReduce(heap, ElementType.FP32, Combiner.SUM);
            case "bf16-sum-heap" -> w.allReduce(bf16, ElementType.BF16, Combiner.SUM);
            default -> w.allReduce(natives, ElementType.FP32, Combiner.MIN);
        }
    }
}
