package ds.comm.lanes;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * fp16 reductions in blocks staged through per-thread heap arrays, where C2 vectorises
 * {@link Float#float16ToFloat} and {@link Float#floatToFloat16} (F16C's {@code vcvtph2ps} /
 * {@code vcvtps2ph} on x86); used by the vector reducers for fp16.
 *
 * <h2>Why not the Vector API</h2>
 * The Vector API of JDK 25 has no fp16 lane conversion, so a vector kernel widens and narrows
 * with integer and float arithmetic: a dozen operations per element each way. Measured, two
 * sources of 64 KiB at 256 bits: that kernel 63.6 us, bf16's 6.2 us, fp32's 2.1 us; the same
 * conversions in a plain loop over {@code short[]} 3.9-5.4 us, over memory segments 42-46 us
 * (C2 does not vectorise the segment loop). This class, in the same harness: 19.6 us (a
 * stand-alone copy of its loops put the copies in and out at 4.1 us of 17.6).
 *
 * <h2>Same bits as the reference</h2>
 * Each element is {@code ((s0 op s1) op s2) ... op s(k-1)} in fp32, widened exactly and narrowed
 * once to nearest even, NaN written as {@link HalfFloats#FP16_CANONICAL_NAN}: what
 * {@link ScalarReducer} computes, element for element. Blocks are copied in before anything is
 * written back, so a destination that is one of the sources (in place) is fine.
 *
 * <p>The arrays ({@value #BLOCK} fp16 and fp32 values, 12 KiB) are allocated once per thread
 * that reduces fp16; calls allocate nothing after the first.
 */
final class Fp16Blocks {

    /** Elements per block: the arrays stay in the first-level cache beside the sources' lines. */
    static final int BLOCK = 2048;

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ThreadLocal<Fp16Blocks> SCRATCH = ThreadLocal.withInitial(Fp16Blocks::new);

    private final short[] half = new short[BLOCK];
    private final float[] acc = new float[BLOCK];

    private Fp16Blocks() {
    }

    /**
     * Reduces {@code count} fp16 elements of {@code k >= 2} sources into {@code dst}, as
     * {@link Reducer#reduce} (arguments already checked); returns {@code count}.
     */
    static long reduce(Combiner op, MemorySegment dst, long dstOffset, MemorySegment[] src, long[] srcOffset, int k,
                       long count) {
        SCRATCH.get().run(op, dst, dstOffset, src, srcOffset, k, count);
        return count;
    }

    private void run(Combiner op, MemorySegment dst, long dstOffset, MemorySegment[] src, long[] srcOffset, int k,
                     long count) {
        final short[] h = half;
        final float[] a = acc;
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(BLOCK, count - done);
            long bytes = done * Short.BYTES;
            MemorySegment.copy(src[0], HALF, srcOffset[0] + bytes, h, 0, n);
            HalfBlocks.widenFp16(h, a, n);
            for (int j = 1; j < k; j++) {
                MemorySegment.copy(src[j], HALF, srcOffset[j] + bytes, h, 0, n);
                switch (op) {
                    case SUM -> sum(h, a, n);
                    case PROD -> prod(h, a, n);
                    case MIN -> min(h, a, n);
                    case MAX -> max(h, a, n);
                }
            }
            HalfBlocks.narrowFp16(a, h, n);
            MemorySegment.copy(h, 0, dst, HALF, dstOffset + bytes, n);
            done += n;
        }
    }

    // One simple counted loop each, so that C2's superword pass vectorises it (widening and
    // narrowing: HalfBlocks').

    private static void sum(short[] h, float[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = a[i] + Float.float16ToFloat(h[i]);
    }

    private static void prod(short[] h, float[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = a[i] * Float.float16ToFloat(h[i]);
    }

    private static void min(short[] h, float[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = Math.min(a[i], Float.float16ToFloat(h[i]));
    }

    private static void max(short[] h, float[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = Math.max(a[i], Float.float16ToFloat(h[i]));
    }
}
