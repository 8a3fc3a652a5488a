package ds.comm.bench;

import ds.comm.lanes.Reducers;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs {@link ReduceBench}, {@link ConvertBench} and {@link CopyBench} in one JMH run and prints,
 * per configuration, the median bandwidth of the reduction (or 16-bit float conversion) next to
 * the median copy bandwidth of the same bytes.
 *
 * <p>Bandwidth is bytes of <em>one source</em> per second: a SUM of k sources of N bytes each
 * counts N bytes, however many sources it reads. The copy moves the same N bytes. The ratio is
 * therefore "how close is reducing to merely copying one input"; reducing k sources reads k
 * times as much memory as the copy reads, so on a memory-bound machine the ratio for k = 2 is
 * bounded by roughly 2/3 (3N bytes of traffic against 2N), before write-allocate effects.
 *
 * <p>Arguments are JMH's own (e.g. {@code -f 1 -wi 3 -i 5 -w 1s -r 1s}).
 */
public final class KernelBenchMain {

    private KernelBenchMain() {
    }

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        var options = new OptionsBuilder().parent(cli)
                .include(ReduceBench.class.getName() + "|" + ConvertBench.class.getName() + "|" + CopyBench.class.getName())
                .build();
        Collection<RunResult> results = new Runner(options).run();

        Map<Long, Double> copyMedian = new TreeMap<>();
        List<String[]> rows = new ArrayList<>();
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().endsWith(".copy")) {
                long bytes = Long.parseLong(r.getParams().getParam("bytesPerSource"));
                copyMedian.put(bytes, medianOpsPerSecond(r) * bytes);
            }
        }
        List<String[]> conversions = new ArrayList<>();
        for (RunResult r : results) {
            String benchmark = r.getParams().getBenchmark();
            if (benchmark.endsWith(".sum")) {
                rows.add(againstCopy(r.getParams().getParam("type"), r.getParams().getParam("k"), r, copyMedian));
            } else if (benchmark.endsWith(".widen") || benchmark.endsWith(".narrow")) {
                conversions.add(againstCopy(benchmark.substring(benchmark.lastIndexOf('.') + 1),
                        r.getParams().getParam("type"), r, copyMedian));
            }
        }
        System.out.println();
        System.out.println("reducer: " + Reducers.describe(Reducers.fromEnvironment()));
        System.out.println("bandwidth = bytes of one source per second (median of measurement iterations)");
        System.out.println();
        System.out.println("| type | k | bytes/source | SUM GB/s | copy GB/s | SUM / copy |");
        System.out.println("|------|---|--------------|----------|-----------|------------|");
        rows.sort((a, b) -> Arrays.compare(new String[] {a[0], pad(a[1]), pad(a[2])}, new String[] {b[0], pad(b[1]), pad(b[2])}));
        for (String[] row : rows) {
            System.out.println("| " + String.join(" | ", row) + " |");
        }
        if (!conversions.isEmpty()) {
            System.out.println();
            System.out.println("16-bit float conversions (ring and MPI partial sums): bandwidth = 16-bit bytes per second");
            System.out.println();
            System.out.println("| conversion | type | 16-bit bytes | GB/s | copy GB/s | conversion / copy |");
            System.out.println("|------------|------|--------------|------|-----------|-------------------|");
            conversions.sort((a, b) -> Arrays.compare(new String[] {a[0], a[1], pad(a[2])}, new String[] {b[0], b[1], pad(b[2])}));
            for (String[] row : conversions) {
                System.out.println("| " + String.join(" | ", row) + " |");
            }
        }
    }

    /** A table row: two labels, the size, the median bandwidth, the copy's of the same bytes and their ratio. */
    private static String[] againstCopy(String first, String second, RunResult r, Map<Long, Double> copyMedian) {
        long bytes = Long.parseLong(r.getParams().getParam("bytesPerSource"));
        double bandwidth = medianOpsPerSecond(r) * bytes;
        Double copy = copyMedian.get(bytes);
        return new String[] {first, second, size(bytes), gbps(bandwidth), copy == null ? "-" : gbps(copy),
                copy == null ? "-" : String.format(Locale.ROOT, "%.2f", bandwidth / copy)};
    }

    private static double medianOpsPerSecond(RunResult r) {
        List<Double> scores = new ArrayList<>();
        for (BenchmarkResult b : r.getBenchmarkResults()) {
            for (IterationResult it : b.getIterationResults()) {
                scores.add(it.getPrimaryResult().getScore());   // ops/s (throughput mode)
            }
        }
        scores.sort(null);
        int n = scores.size();
        return n % 2 == 1 ? scores.get(n / 2) : (scores.get(n / 2 - 1) + scores.get(n / 2)) / 2;
    }

    private static String size(long bytes) {
        return bytes >= 1 << 20 ? (bytes >> 20) + " MiB" : (bytes >> 10) + " KiB";
    }

    private static String pad(String s) {
        return String.format("%12s", s);
    }

    private static String gbps(double bytesPerSecond) {
        return String.format(Locale.ROOT, "%.1f", bytesPerSecond / 1e9);
    }
}
