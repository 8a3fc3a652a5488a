package ds.comm.tool;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * {@code bin/dscomm bench --async}: does {@code allReduceAsync} overlap the caller's compute?
 * Per size and dtype, medians over the iterations (each iteration starts after a barrier, and
 * its time is the slowest rank's):
 * <ul>
 *   <li>{@code allreduce_us}: a blocking all-reduce alone;</li>
 *   <li>{@code compute_us}: T, the caller's busy compute ({@code --compute-us}, by default the
 *       all-reduce's own time, where overlap matters most);</li>
 *   <li>{@code sequential_us}: blocking all-reduce, then compute: the sum;</li>
 *   <li>{@code overlapped_us}: {@code allReduceAsync}, compute, {@code join()};</li>
 *   <li>{@code ratio}: overlapped / max(T, allreduce): 1.0 is perfect overlap, and
 *       (T + allreduce) / max(T, allreduce) none.</li>
 * </ul>
 * The progress thread needs a core of its own while the caller computes: with fewer cores than
 * ranks x 2 the overlap is limited by the CPU, not by ds-comm.
 */
final class Overlap {

    private Overlap() {
    }

    static int run(Bench.Options o, Communicator comm, Arena arena, PrintStream out) {
        boolean lead = comm.rank() == 0;
        long max = o.sizes().stream().mapToLong(Long::longValue).max().orElse(0);
        // The progress thread reads and writes it: not the caller's confined arena.
        MemorySegment buf = Arena.ofAuto().allocate(Math.max(max, 8), 64);
        MemorySegment times = arena.allocate(ValueLayout.JAVA_DOUBLE, 1);
        if (lead) {
            if (o.csv()) out.println("backend,dtype,ranks,nodes,bytes,iters,allreduce_us,compute_us,sequential_us,overlapped_us,ratio");
            else out.printf("# ds-comm bench --async: allReduceAsync overlapped with busy compute, %d ranks, %s%n"
                    + "# %d cores here; the progress thread competes with the caller for them%n"
                    + "%6s %10s %8s %13s %11s %14s %14s %7s%n", comm.size(), comm.backend(),
                    Runtime.getRuntime().availableProcessors(), "dtype", "bytes", "iters", "allreduce_us", "compute_us",
                    "sequential_us", "overlapped_us", "ratio");
        }
        for (DType type : o.dtypes()) {
            for (long requested : o.sizes()) {
                long bytes = requested - requested % type.byteSize();
                MemorySegment b = buf.asSlice(0, bytes);
                int iters = o.iters() > 0 ? o.iters() : bytes <= (64 << 10) ? 2000 : bytes <= (1 << 20) ? 300 : 40;
                int warm = o.cold() ? 0 : o.warmup() >= 0 ? o.warmup() : Math.max(50, iters / 2);
                double ar = median(comm, times, iters, warm, () -> comm.allReduce(b, type, ReduceOp.SUM));
                long computeNanos = o.asyncComputeMicros() >= 0 ? o.asyncComputeMicros() * 1000L : Math.round(ar * 1000);
                double seq = median(comm, times, iters, warm, () -> {
                    comm.allReduce(b, type, ReduceOp.SUM);
                    Bench.Compute.until(System.nanoTime() + computeNanos);
                });
                double ovl = median(comm, times, iters, warm, () -> {
                    long t0 = System.nanoTime();
                    CompletableFuture<Void> f = comm.allReduceAsync(b, type, ReduceOp.SUM);
                    Bench.Compute.until(t0 + computeNanos);
                    f.join();
                });
                double compute = computeNanos / 1e3;
                double ratio = ovl / Math.max(compute, ar);
                if (lead) {
                    String t = type.name().toLowerCase(Locale.ROOT);
                    if (o.csv()) {
                        out.printf(Locale.ROOT, "%s,%s,%d,%d,%d,%d,%.2f,%.2f,%.2f,%.2f,%.3f%n", comm.backend().backend().label(),
                                t, comm.size(), comm.nodes(), bytes, iters, ar, compute, seq, ovl, ratio);
                    } else {
                        out.printf(Locale.ROOT, "%6s %10s %8d %13.2f %11.2f %14.2f %14.2f %7.2f%n", t, Args.humanSize(bytes),
                                iters, ar, compute, seq, ovl, ratio);
                    }
                    out.flush();
                }
            }
        }
        return 0;
    }

    /** Median over iterations of the slowest rank's time of {@code body}, each after a barrier. */
    private static double median(Communicator comm, MemorySegment slot, int iters, int warm, Runnable body) {
        double[] t = new double[iters];
        for (int it = -warm; it < iters; it++) {
            comm.barrier();
            long t0 = System.nanoTime();
            body.run();
            long t1 = System.nanoTime();
            if (it < 0) continue;
            slot.set(ValueLayout.JAVA_DOUBLE, 0, (t1 - t0) / 1e3);
            comm.allReduce(slot, DType.FP64, ReduceOp.MAX);
            t[it] = slot.get(ValueLayout.JAVA_DOUBLE, 0);
        }
        Arrays.sort(t);
        return Bench.percentile(t, 50);
    }
}
