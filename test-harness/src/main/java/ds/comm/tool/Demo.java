package ds.comm.tool;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code bin/dscomm demo}: a tensor-parallel transformer MLP block in bf16, the workload ds-comm
 * exists for.
 *
 * <p>Each of N ranks holds a column slice of the up-projection W1 [d x f] and the matching row
 * slice of the down-projection W2 [f x d] (Megatron-style). Per layer a rank computes
 * {@code gelu(x W1_r) W2_r}, a partial sum of the layer's output, rounds it to bf16, and an
 * all-reduce (bf16, SUM) adds the partials; the result is added to the residual stream. Every
 * rank must end with the same bits, and those must match the same block computed unsharded in
 * one process within bf16 rounding.
 *
 * <p>The partial sums live in the communicator's symmetric tensor
 * ({@code Communicator.allocateSymmetric}): the down-projection writes each token's output row,
 * rounded to bf16, straight into it, and the all-reduce then adds the ranks' rows in place (on
 * SHM without copying the tensor in or out). {@code --buffers copy} uses an ordinary buffer.
 */
final class Demo {

    private static final String USAGE = """
            usage: bin/dscomm demo [-n N] [--nodes M] [--layers L] [--tokens T] [--hidden D] [--seed S]
                                   [--parallel tensor|pipeline|expert] [--microbatches K]
              -n N        ranks (default 2; ignored under an external launcher)
              --nodes M   simulate M nodes (default 1)
              --layers L  MLP blocks (default 4)
              --tokens T  tokens in the batch (default 16)
              --hidden D  model width; the MLP is 4*D wide and must split evenly (default 512)
              --seed S    weight and input seed (default 42)
              --warmup W  untimed all-reduces before the timed layers (default 2000; the
                          kernels are slow until the JIT has compiled them)
              --buffers B symmetric: partial sums (expert: the token blocks sent) in symmetric
                          tensors (default); copy: in ordinary buffers
              --parallel P  tensor (default): every layer sharded over the ranks, partial sums
                          all-reduced; pipeline: rank s runs layers [s L/N, (s+1) L/N) in full and
                          hands each micro-batch's bf16 activations to rank s+1 with send/recv;
                          the last stage checks the result bit for bit against all L layers run
                          in one process (-n 2 gives the 2-stage pipeline); expert: a
                          mixture-of-experts layer, 2 experts per rank, top-1 routing, tokens
                          (T per rank, width D) dispatched to their expert's rank and back with
                          allToAllV, checked bit for bit against one process
              --microbatches K  pipeline: micro-batches the tokens are cut into (default 4)
            """;

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private Demo() {
    }

    record Options(int ranks, int nodes, int layers, int tokens, int hidden, long seed, int warmup, boolean symmetric,
                   String parallel, int microbatches) {
    }

    static int run(String[] argv) throws Exception {
        int ranks = 2, nodes = 1, layers = 4, tokens = 16, hidden = 512, warmup = 2000;
        long seed = 42;
        boolean symmetric = true;
        String parallel = "tensor";
        int microbatches = 4;
        Args a = new Args(argv);
        for (String t = a.next(); t != null; t = a.next()) {
            String name = Args.name(t);
            switch (name) {
                case "-h", "--help" -> {
                    System.out.print(USAGE);
                    return 0;
                }
                case "-n" -> ranks = Args.positiveInt("-n", a.value(t, name));
                case "--nodes" -> nodes = Args.positiveInt("--nodes", a.value(t, name));
                case "--layers" -> layers = Args.positiveInt("--layers", a.value(t, name));
                case "--tokens" -> tokens = Args.positiveInt("--tokens", a.value(t, name));
                case "--hidden" -> hidden = Args.positiveInt("--hidden", a.value(t, name));
                case "--seed" -> seed = Args.positiveInt("--seed", a.value(t, name));
                case "--warmup" -> {
                    String v = a.value(t, name);
                    warmup = v.equals("0") ? 0 : Args.positiveInt("--warmup", v);
                }
                case "--buffers" -> {
                    String v = a.value(t, name);
                    if (!v.equals("copy") && !v.equals("symmetric")) {
                        throw new Main.UsageException("--buffers must be copy or symmetric, got '" + v + "'");
                    }
                    symmetric = v.equals("symmetric");
                }
                case "--parallel" -> {
                    parallel = a.value(t, name);
                    if (!parallel.equals("tensor") && !parallel.equals("pipeline") && !parallel.equals("expert")) {
                        throw new Main.UsageException("--parallel must be tensor, pipeline or expert, got '" + parallel + "'");
                    }
                }
                case "--microbatches" -> microbatches = Args.positiveInt("--microbatches", a.value(t, name));
                default -> throw new Main.UsageException("unknown option '" + t + "'; see bin/dscomm demo --help");
            }
        }
        if (!RankEnvironment.present()) {
            return SelfLaunch.launch(ranks, nodes, 600, List.of(), "ds.comm.tool.Main", prepend(argv));
        }
        Options o = new Options(ranks, nodes, layers, tokens, hidden, seed, warmup, symmetric, parallel, microbatches);
        return switch (parallel) {
            case "pipeline" -> PipelineDemo.runAsRank(o);
            case "expert" -> ExpertDemo.runAsRank(o);
            default -> runAsRank(o);
        };
    }

    private static String[] prepend(String[] argv) {
        String[] out = new String[argv.length + 1];
        out[0] = "demo";
        System.arraycopy(argv, 0, out, 1, argv.length);
        return out;
    }

    static int runAsRank(Options o) {
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
            int n = comm.size(), r = comm.rank();
            int d = o.hidden(), f = 4 * d, t = o.tokens();
            if (f % n != 0) {
                throw new Main.UsageException("MLP width " + f + " does not split evenly over " + n + " ranks");
            }
            int slice = f / n;
            float[] x = input(o.seed(), t, d);
            float[] reference = x.clone();
            long partialBytes = (long) t * d * 2;
            MemorySegment partial = o.symmetric() ? comm.allocateSymmetric(partialBytes) : arena.allocate(partialBytes, 64);
            // Untimed warm-up of the all-reduce path: the Vector API kernels are very slow until
            // the JIT has compiled them, and a 4-layer demo would otherwise time mostly that.
            for (int i = 0; i < o.warmup(); i++) comm.allReduce(partial, DType.BF16, ReduceOp.SUM);
            long computeNanos = 0, reduceNanos = 0;
            for (int layer = 0; layer < o.layers(); layer++) {
                float[] w1 = weights(o.seed() * 31 + layer * 2L, d, f);
                float[] w2 = weights(o.seed() * 31 + layer * 2L + 1, f, d);
                long t0 = System.nanoTime();
                mlpInto(x, w1, w2, t, d, f, r * slice, (r + 1) * slice, partial);
                long t1 = System.nanoTime();
                // Ranks finish their shard at different times; the barrier keeps that load
                // imbalance out of the all-reduce figure (it is reported as compute).
                comm.barrier();
                t1 = System.nanoTime();
                comm.allReduce(partial, DType.BF16, ReduceOp.SUM);
                long t2 = System.nanoTime();
                for (int i = 0; i < x.length; i++) x[i] = fromBf16(toBf16(x[i] + fromBf16(partial.getAtIndex(BF16, i))));
                computeNanos += t1 - t0; // includes waiting for the slowest rank's shard
                reduceNanos += t2 - t1;
                // The same layer, unsharded, in one process (fp32 throughout, bf16 at the same points).
                float[] yRef = mlp(reference, w1, w2, t, d, f, 0, f);
                for (int i = 0; i < reference.length; i++) reference[i] = fromBf16(toBf16(reference[i] + fromBf16(toBf16(yRef[i]))));
            }
            double maxDiff = 0, maxAbs = 0;
            for (int i = 0; i < x.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(x[i] - reference[i]));
                maxAbs = Math.max(maxAbs, Math.abs(reference[i]));
            }
            MemorySegment mine = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment all = arena.allocate(ValueLayout.JAVA_LONG, n);
            MemorySegment out = MemorySegment.ofArray(x);
            mine.set(ValueLayout.JAVA_LONG, 0, Pattern.checksum(out, DType.FP32));
            comm.allGather(mine, all, DType.INT64);
            boolean identical = true;
            for (int i = 1; i < n; i++) {
                identical &= all.getAtIndex(ValueLayout.JAVA_LONG, i) == all.getAtIndex(ValueLayout.JAVA_LONG, 0);
            }
            // bf16 keeps 8 significant bits; sharding changes where partial sums are rounded, so
            // allow a few units in the last place of the largest activation, per layer.
            double tolerance = maxAbs * 0x1p-7 * o.layers();
            boolean close = maxDiff <= tolerance;
            MemorySegment verdict = arena.allocate(ValueLayout.JAVA_INT);
            verdict.set(ValueLayout.JAVA_INT, 0, identical && close ? 0 : 1);
            comm.allReduce(verdict, DType.INT32, ReduceOp.MAX);
            boolean pass = verdict.get(ValueLayout.JAVA_INT, 0) == 0;
            if (r == 0) {
                System.out.printf(Locale.ROOT, "demo: tensor-parallel MLP, %d ranks on %d node(s), %d layers, %d tokens, d=%d, f=%d, bf16%n",
                        n, comm.nodes(), o.layers(), t, d, f);
                System.out.println("backend: " + comm.backend() + "; partial sums in " + (o.symmetric()
                        ? "the symmetric tensor (written by the matmul, reduced in place)" : "an ordinary buffer"));
                System.out.printf(Locale.ROOT, "time: all-reduce %.2f ms, compute %.2f ms (all-reduce is %.1f%% of the block)%n",
                        reduceNanos / 1e6, computeNanos / 1e6, 100.0 * reduceNanos / Math.max(1, reduceNanos + computeNanos));
                System.out.printf(Locale.ROOT, "check: bit-identical on all ranks: %s; max |tp - single| = %.3g (tolerance %.3g, max |y| %.3g)%n",
                        identical ? "yes" : "NO", maxDiff, tolerance, maxAbs);
                System.out.println(pass ? "PASS" : "FAIL");
            }
            return pass ? 0 : 1;
        }
    }

    /** x W1[:, lo:hi] -> gelu -> bf16 -> times W2[lo:hi, :], accumulated in fp32. */
    static float[] mlp(float[] x, float[] w1, float[] w2, int t, int d, int f, int lo, int hi) {
        float[] y = new float[t * d];
        float[] h = new float[hi - lo];
        for (int tok = 0; tok < t; tok++) mlpRow(x, w1, w2, tok, d, f, lo, hi, h, y, tok * d);
        return y;
    }

    /**
     * {@link #mlp}, writing each token's output row, rounded to bf16, straight into {@code out}
     * (t x d bf16): the same bits {@code mlp} followed by a rounding copy would give.
     */
    static void mlpInto(float[] x, float[] w1, float[] w2, int t, int d, int f, int lo, int hi, MemorySegment out) {
        float[] y = new float[d];
        float[] h = new float[hi - lo];
        for (int tok = 0; tok < t; tok++) {
            mlpRow(x, w1, w2, tok, d, f, lo, hi, h, y, 0);
            long base = (long) tok * d;
            for (int k = 0; k < d; k++) out.setAtIndex(BF16, base + k, toBf16(y[k]));
        }
    }

    /**
     * Token {@code tok}'s output row of {@link #mlp} into {@code y[at, at + d)} (overwritten), the
     * hidden activations in {@code h} (hi - lo floats): the order of every sum is the one both
     * callers share, so their bits agree.
     */
    private static void mlpRow(float[] x, float[] w1, float[] w2, int tok, int d, int f, int lo, int hi, float[] h, float[] y,
                               int at) {
        java.util.Arrays.fill(h, 0f);
        java.util.Arrays.fill(y, at, at + d, 0f);
        for (int k = 0; k < d; k++) {
            float xv = x[tok * d + k];
            int row = k * f;
            for (int j = lo; j < hi; j++) h[j - lo] += xv * w1[row + j];
        }
        for (int j = 0; j < h.length; j++) h[j] = fromBf16(toBf16(gelu(h[j])));
        for (int j = 0; j < h.length; j++) {
            float hv = h[j];
            int row = (lo + j) * d;
            for (int k = 0; k < d; k++) y[at + k] += hv * w2[row + k];
        }
    }

    static float gelu(float v) {
        return (float) (0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    }

    static float[] input(long seed, int t, int d) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[t * d];
        for (int i = 0; i < x.length; i++) x[i] = fromBf16(toBf16((float) (rnd.nextDouble() * 2 - 1)));
        return x;
    }

    static float[] weights(long seed, int rows, int cols) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float scale = (float) (1 / Math.sqrt(rows));
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = fromBf16(toBf16((float) (rnd.nextDouble() * 2 - 1) * scale * 1.7f));
        return w;
    }

    /** fp32 -> bf16, round to nearest-even (NaN stays NaN). */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) 0x7FC0;
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }
}
