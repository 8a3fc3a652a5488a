package ds.comm.tool;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * {@code bin/dscomm demo --parallel expert}: a mixture-of-experts layer with top-1 routing, the
 * workload all-to-all exists for.
 *
 * <p>Every rank owns {@link #EXPERTS_PER_RANK} experts (expert e lives on rank
 * {@code e / EXPERTS_PER_RANK}) and a batch of its own tokens (bf16). Per layer a rank routes
 * each token to the expert whose gate score is highest, sorts its tokens by the rank owning that
 * expert, tells every rank how many tokens it will send (an allToAll of one count per pair),
 * dispatches the tokens and their expert ids (allToAllV: uneven blocks, zero when no token goes
 * there), runs its experts ({@code gelu(x W_e)}, rounded to bf16) on what it received, sends the
 * outputs back (allToAllV with the counts swapped), puts them back in token order and adds them
 * to the residual stream. Rank 0 then gathers every rank's final tokens and compares them bit
 * for bit with the same layers run in one process on the whole batch: routing moves tokens, it
 * must not change a single bit of the arithmetic.
 */
final class ExpertDemo {

    static final int EXPERTS_PER_RANK = 2;
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private ExpertDemo() {
    }

    static int runAsRank(Demo.Options o) {
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
            int n = comm.size();
            int r = comm.rank();
            int d = o.hidden();
            int t = o.tokens();
            int experts = n * EXPERTS_PER_RANK;
            float[] x = Demo.input(o.seed() + r, t, d);
            MemorySegment sendCounts = arena.allocate(ValueLayout.JAVA_LONG, n);
            MemorySegment recvCounts = arena.allocate(ValueLayout.JAVA_LONG, n);
            // Worst case: every token of every rank routed here.
            // With --buffers symmetric (the default) the token blocks the all-to-alls send from
            // are symmetric tensors: on SHM each rank copies its tokens straight out of the
            // sender's, one copy per token instead of two.
            MemorySegment sendTokens = o.symmetric() ? comm.allocateSymmetric((long) t * d * 2)
                    : arena.allocate((long) t * d * 2, 64);
            MemorySegment sendIds = arena.allocate((long) t * 4, 64);
            MemorySegment recvTokens = arena.allocate((long) t * n * d * 2, 64);
            MemorySegment recvIds = arena.allocate((long) t * n * 4, 64);
            MemorySegment outputs = o.symmetric() ? comm.allocateSymmetric((long) t * n * d * 2)
                    : arena.allocate((long) t * n * d * 2, 64);
            MemorySegment returned = arena.allocate((long) t * d * 2, 64);
            long[] tokensTo = new long[n];
            long[] tokensFrom = new long[n];
            long[] send = new long[n];
            long[] recv = new long[n];
            int[] order = new int[t];
            long exchangeNanos = 0;
            long computeNanos = 0;
            long routedAway = 0;
            int emptyPairs = 0;
            for (int layer = 0; layer < o.layers(); layer++) {
                long c0 = System.nanoTime();
                float[] gate = Demo.weights(o.seed() * 7 + layer, d, experts);
                int[] route = route(x, gate, t, d, experts);
                // Sort tokens by destination rank (stable: the order inside a block is the token order).
                java.util.Arrays.fill(tokensTo, 0);
                for (int tok = 0; tok < t; tok++) tokensTo[route[tok] / EXPERTS_PER_RANK]++;
                long[] start = new long[n];
                for (int j = 1; j < n; j++) start[j] = start[j - 1] + tokensTo[j - 1];
                for (int tok = 0; tok < t; tok++) {
                    int at = (int) start[route[tok] / EXPERTS_PER_RANK]++;
                    order[at] = tok;
                    for (int k = 0; k < d; k++) sendTokens.setAtIndex(BF16, (long) at * d + k, Demo.toBf16(x[tok * d + k]));
                    sendIds.setAtIndex(ValueLayout.JAVA_INT, at, route[tok]);
                }
                for (int j = 0; j < n; j++) {
                    sendCounts.setAtIndex(ValueLayout.JAVA_LONG, j, tokensTo[j]);
                    if (j != r) routedAway += tokensTo[j];
                    if (tokensTo[j] == 0) emptyPairs++;
                }
                long c1 = System.nanoTime();
                // Dispatch: how many tokens each pair exchanges, then the tokens and their experts.
                comm.allToAll(sendCounts, recvCounts, DType.INT64);
                long received = 0;
                for (int i = 0; i < n; i++) {
                    tokensFrom[i] = recvCounts.getAtIndex(ValueLayout.JAVA_LONG, i);
                    received += tokensFrom[i];
                }
                for (int j = 0; j < n; j++) {
                    send[j] = tokensTo[j] * d;
                    recv[j] = tokensFrom[j] * d;
                }
                comm.allToAllV(sendTokens, send, recvTokens, recv, DType.BF16);
                comm.allToAllV(sendIds, tokensTo, recvIds, tokensFrom, DType.INT32);
                long c2 = System.nanoTime();
                // This rank's experts on every token they received (weights made on first use).
                float[] token = new float[d];
                float[][] mine = new float[EXPERTS_PER_RANK][];
                for (long p = 0; p < received; p++) {
                    int e = recvIds.getAtIndex(ValueLayout.JAVA_INT, p);
                    if (e / EXPERTS_PER_RANK != r) {
                        throw new IllegalStateException("rank " + r + " received a token for expert " + e + " of rank "
                                + e / EXPERTS_PER_RANK);
                    }
                    for (int k = 0; k < d; k++) token[k] = Demo.fromBf16(recvTokens.getAtIndex(BF16, p * d + k));
                    int own = e - r * EXPERTS_PER_RANK;
                    if (mine[own] == null) mine[own] = weights(o.seed(), layer, e, d);
                    float[] y = expert(token, mine[own], d);
                    for (int k = 0; k < d; k++) outputs.setAtIndex(BF16, p * d + k, Demo.toBf16(y[k]));
                }
                long c3 = System.nanoTime();
                // Combine: outputs travel back with the counts swapped and land in this rank's sorted order.
                comm.allToAllV(outputs, recv, returned, send, DType.BF16);
                long c4 = System.nanoTime();
                for (int at = 0; at < t; at++) {
                    int tok = order[at];
                    for (int k = 0; k < d; k++) {
                        float y = Demo.fromBf16(returned.getAtIndex(BF16, (long) at * d + k));
                        x[tok * d + k] = Demo.fromBf16(Demo.toBf16(x[tok * d + k] + y));
                    }
                }
                long c5 = System.nanoTime();
                exchangeNanos += (c2 - c1) + (c4 - c3);
                computeNanos += (c1 - c0) + (c3 - c2) + (c5 - c4);
            }
            // Every rank's final tokens to rank 0, compared there with one process running the whole batch.
            MemorySegment finalTokens = MemorySegment.ofArray(x);
            MemorySegment all = r == 0 ? arena.allocate((long) n * t * d * 4, 64) : MemorySegment.NULL;
            comm.gather(finalTokens, all, 0);
            MemorySegment verdict = arena.allocate(ValueLayout.JAVA_INT);
            long wrong = 0;
            if (r == 0) {
                for (int q = 0; q < n; q++) {
                    float[] ref = singleProcess(o, q, n);
                    for (int i = 0; i < ref.length; i++) {
                        float got = all.getAtIndex(ValueLayout.JAVA_FLOAT, (long) q * t * d + i);
                        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(ref[i])) wrong++;
                    }
                }
                verdict.set(ValueLayout.JAVA_INT, 0, wrong == 0 ? 0 : 1);
            }
            comm.broadcast(verdict, 0);
            MemorySegment moved = arena.allocate(ValueLayout.JAVA_LONG, 2);
            moved.setAtIndex(ValueLayout.JAVA_LONG, 0, routedAway);
            moved.setAtIndex(ValueLayout.JAVA_LONG, 1, emptyPairs);
            comm.reduce(moved, DType.INT64, ReduceOp.SUM, 0);
            boolean pass = verdict.get(ValueLayout.JAVA_INT, 0) == 0;
            if (r == 0) {
                System.out.printf(Locale.ROOT, "demo: expert-parallel MoE, %d ranks on %d node(s), %d layers, %d tokens per rank,"
                        + " d=%d, %d experts (%d per rank), top-1, bf16%n", n, comm.nodes(), o.layers(), t, d, experts,
                        EXPERTS_PER_RANK);
                System.out.println("backend: " + comm.backend() + "; token blocks sent from "
                        + (o.symmetric() ? "symmetric tensors" : "ordinary buffers"));
                System.out.printf(Locale.ROOT, "routing: %d tokens sent to another rank's expert, %d empty (rank, peer) blocks%n",
                        moved.getAtIndex(ValueLayout.JAVA_LONG, 0), moved.getAtIndex(ValueLayout.JAVA_LONG, 1));
                System.out.printf(Locale.ROOT, "time: all-to-all %.2f ms, compute %.2f ms (rank 0)%n", exchangeNanos / 1e6,
                        computeNanos / 1e6);
                System.out.printf(Locale.ROOT, "check: every rank's tokens bit-identical to one process: %s (%d values differ)%n",
                        wrong == 0 ? "yes" : "NO", wrong);
                System.out.println(pass ? "PASS" : "FAIL");
            }
            return pass ? 0 : 1;
        }
    }

    /** Top-1 routing: the expert with the highest gate score (fp32, in input order; ties to the lower id). */
    static int[] route(float[] x, float[] gate, int t, int d, int experts) {
        int[] route = new int[t];
        float[] score = new float[experts];
        for (int tok = 0; tok < t; tok++) {
            java.util.Arrays.fill(score, 0f);
            for (int k = 0; k < d; k++) {
                float v = x[tok * d + k];
                for (int e = 0; e < experts; e++) score[e] += v * gate[k * experts + e];
            }
            int best = 0;
            for (int e = 1; e < experts; e++) if (score[e] > score[best]) best = e;
            route[tok] = best;
        }
        return route;
    }

    static float[] weights(long seed, int layer, int expert, int d) {
        return Demo.weights(seed * 131 + layer * 1009L + expert, d, d);
    }

    /** gelu(token W_e), accumulated in fp32 in input order. */
    static float[] expert(float[] token, float[] w, int d) {
        float[] y = new float[d];
        for (int k = 0; k < d; k++) {
            float v = token[k];
            int row = k * d;
            for (int j = 0; j < d; j++) y[j] += v * w[row + j];
        }
        for (int j = 0; j < d; j++) y[j] = Demo.gelu(y[j]);
        return y;
    }

    /** Rank q's tokens through every layer in one process: route, expert, residual, no communication. */
    static float[] singleProcess(Demo.Options o, int q, int n) {
        int d = o.hidden();
        int t = o.tokens();
        int experts = n * EXPERTS_PER_RANK;
        float[] x = Demo.input(o.seed() + q, t, d);
        float[] token = new float[d];
        for (int layer = 0; layer < o.layers(); layer++) {
            float[] gate = Demo.weights(o.seed() * 7 + layer, d, experts);
            int[] route = route(x, gate, t, d, experts);
            float[][] w = new float[experts][];
            for (int tok = 0; tok < t; tok++) {
                for (int k = 0; k < d; k++) token[k] = Demo.fromBf16(Demo.toBf16(x[tok * d + k]));
                if (w[route[tok]] == null) w[route[tok]] = weights(o.seed(), layer, route[tok], d);
                float[] y = expert(token, w[route[tok]], d);
                for (int k = 0; k < d; k++) {
                    x[tok * d + k] = Demo.fromBf16(Demo.toBf16(x[tok * d + k] + Demo.fromBf16(Demo.toBf16(y[k]))));
                }
            }
        }
        return x;
    }
}
