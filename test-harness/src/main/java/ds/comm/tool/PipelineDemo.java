package ds.comm.tool;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * {@code bin/dscomm demo --parallel pipeline}: the same MLP blocks as the tensor-parallel demo
 * ({@link Demo#mlp}), cut into pipeline stages instead of shards. Rank s owns layers
 * {@code [s L/N, (s+1) L/N)} whole; the tokens are cut into micro-batches, and each micro-batch's
 * bf16 activations travel from stage to stage with {@link Communicator#send} /
 * {@link Communicator#recv}, so stage s works on micro-batch k while stage s+1 works on k-1.
 *
 * <p>Every token's arithmetic is the same as in one process (the MLP treats tokens
 * independently and activations are bf16 values already, so the bf16 hand-over is exact): the
 * last stage checks its output bit for bit against all layers run unsharded, unpipelined, in one
 * process.
 */
final class PipelineDemo {

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private PipelineDemo() {
    }

    static int runAsRank(Demo.Options o) {
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
            int n = comm.size(), s = comm.rank();
            int d = o.hidden(), f = 4 * d, t = o.tokens(), k = o.microbatches();
            if (n < 2) throw new Main.UsageException("a pipeline needs at least 2 ranks (stages)");
            if (o.layers() % n != 0) throw new Main.UsageException(o.layers() + " layers do not split evenly over " + n + " stages");
            if (t % k != 0) throw new Main.UsageException(t + " tokens do not split into " + k + " micro-batches");
            int per = o.layers() / n, micro = t / k;
            float[][] w1 = new float[per][];
            float[][] w2 = new float[per][];
            for (int l = 0; l < per; l++) {
                int layer = s * per + l;
                w1[l] = Demo.weights(o.seed() * 31 + layer * 2L, d, f);
                w2[l] = Demo.weights(o.seed() * 31 + layer * 2L + 1, f, d);
            }
            float[] x = Demo.input(o.seed(), t, d);
            MemorySegment wire = arena.allocate((long) micro * d * 2, 64);
            float[] out = new float[t * d];
            comm.barrier();
            long start = System.nanoTime(), commNanos = 0;
            for (int m = 0; m < k; m++) {
                float[] a = new float[micro * d];
                if (s == 0) {
                    System.arraycopy(x, m * micro * d, a, 0, a.length);
                } else {
                    long c0 = System.nanoTime();
                    comm.recv(wire, s - 1);
                    commNanos += System.nanoTime() - c0;
                    for (int i = 0; i < a.length; i++) a[i] = Demo.fromBf16(wire.getAtIndex(BF16, i));
                }
                for (int l = 0; l < per; l++) a = layer(a, w1[l], w2[l], micro, d, f);
                if (s + 1 < n) {
                    for (int i = 0; i < a.length; i++) wire.setAtIndex(BF16, i, Demo.toBf16(a[i]));
                    long c0 = System.nanoTime();
                    comm.send(wire, s + 1);
                    commNanos += System.nanoTime() - c0;
                } else {
                    System.arraycopy(a, 0, out, m * micro * d, a.length);
                }
            }
            long elapsed = System.nanoTime() - start;
            int verdict = 0;
            long mismatches = 0;
            if (s == n - 1) {
                float[] ref = x.clone();
                for (int layer = 0; layer < o.layers(); layer++) {
                    ref = layer(ref, Demo.weights(o.seed() * 31 + layer * 2L, d, f),
                            Demo.weights(o.seed() * 31 + layer * 2L + 1, f, d), t, d, f);
                }
                for (int i = 0; i < ref.length; i++) {
                    if (Float.floatToRawIntBits(ref[i]) != Float.floatToRawIntBits(out[i])) mismatches++;
                }
                verdict = mismatches == 0 ? 0 : 1;
            }
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            v.set(ValueLayout.JAVA_INT, 0, verdict);
            comm.allReduce(v, DType.INT32, ReduceOp.MAX);
            boolean pass = v.get(ValueLayout.JAVA_INT, 0) == 0;
            if (s == n - 1) {
                System.out.printf(Locale.ROOT, "demo: pipeline-parallel MLP, %d stages on %d node(s), %d layers (%d per stage), "
                        + "%d tokens in %d micro-batches, d=%d, f=%d, bf16 activations over send/recv%n",
                        n, comm.nodes(), o.layers(), per, t, k, d, f);
                System.out.println("backend: " + comm.backend());
                System.out.printf(Locale.ROOT, "time (last stage): %.2f ms, of which %.2f ms in send/recv (waiting for the "
                        + "previous stage included)%n", elapsed / 1e6, commNanos / 1e6);
                System.out.printf(Locale.ROOT, "check: output of the last stage vs all %d layers in one process: %s%n",
                        o.layers(), mismatches == 0 ? "bit-identical" : mismatches + " elements differ");
                System.out.println(pass ? "PASS" : "FAIL");
            }
            return pass ? 0 : 1;
        }
    }

    /** One block on {@code tokens} tokens: x + bf16(mlp(x)), rounded to bf16 (as the tensor-parallel demo's reference). */
    private static float[] layer(float[] x, float[] w1, float[] w2, int tokens, int d, int f) {
        float[] y = Demo.mlp(x, w1, w2, tokens, d, f, 0, f);
        float[] next = new float[x.length];
        for (int i = 0; i < x.length; i++) next[i] = Demo.fromBf16(Demo.toBf16(x[i] + Demo.fromBf16(Demo.toBf16(y[i]))));
        return next;
    }
}
