package ds.comm.tool.scenario;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Scalar {@link Reducer} following the lanes contract element by element: sources combined in
 * order, 16-bit floats widened to fp32 and rounded once (nearest-even, canonical quiet NaN),
 * {@link Math#min}/{@link Math#max} semantics, integers wrap, {@code k == 1} copies.
 *
 * <p>The MPI scenario uses it twice: as the kernel inside the backend's MPI user ops, and as the
 * independent reference the collective results are checked against. It is deliberately simple
 * (one element at a time, no vectors) so that it is obviously right; the vector kernels of
 * {@code ds.comm.lanes} are checked against a reference of their own.
 */
public final class MpiScalarReducer implements Reducer {

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    @Override
    public void reduce(ElementType type, Combiner op, MemorySegment dst, long dstOffset,
                       MemorySegment[] src, long[] srcOffset, int k, long count) {
        if (k < 1 || k > src.length || k > srcOffset.length) throw new IllegalArgumentException("k=" + k);
        int es = type.byteSize();
        if (k == 1) {
            MemorySegment.copy(src[0], srcOffset[0], dst, dstOffset, count * es);
            return;
        }
        for (long i = 0; i < count; i++) {
            long at = i * es;
            switch (type) {
                case FP32 -> {
                    float acc = src[0].get(FLOAT, srcOffset[0] + at);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(FLOAT, srcOffset[j] + at));
                    dst.set(FLOAT, dstOffset + at, acc);
                }
                case FP64 -> {
                    double acc = src[0].get(DOUBLE, srcOffset[0] + at);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(DOUBLE, srcOffset[j] + at));
                    dst.set(DOUBLE, dstOffset + at, acc);
                }
                case INT32 -> {
                    int acc = src[0].get(INT, srcOffset[0] + at);
                    for (int j = 1; j < k; j++) acc = (int) combine(op, acc, src[j].get(INT, srcOffset[j] + at));
                    dst.set(INT, dstOffset + at, acc);
                }
                case INT64 -> {
                    long acc = src[0].get(LONG, srcOffset[0] + at);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(LONG, srcOffset[j] + at));
                    dst.set(LONG, dstOffset + at, acc);
                }
                case BF16, FP16 -> {
                    float acc = widen(type, src[0].get(HALF, srcOffset[0] + at));
                    for (int j = 1; j < k; j++) acc = combine(op, acc, widen(type, src[j].get(HALF, srcOffset[j] + at)));
                    dst.set(HALF, dstOffset + at, narrow(type, acc));
                }
            }
        }
    }

    @Override
    public int vectorBits() {
        return 0;
    }

    /** 16-bit pattern to fp32 (exact). */
    public static float widen(ElementType type, short bits) {
        return type == ElementType.BF16 ? Float.intBitsToFloat((bits & 0xFFFF) << 16) : Float.float16ToFloat(bits);
    }

    /** fp32 to the 16-bit pattern, rounded to nearest even; NaN becomes the canonical quiet NaN. */
    public static short narrow(ElementType type, float f) {
        if (type == ElementType.BF16) {
            if (Float.isNaN(f)) return 0x7FC0;
            int bits = Float.floatToRawIntBits(f);
            return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
        }
        return Float.isNaN(f) ? (short) 0x7E00 : Float.floatToFloat16(f);
    }

    private static float combine(Combiner op, float a, float b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    private static double combine(Combiner op, double a, double b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    /** Integer combine in 64 bits; a 32-bit caller truncates, which is exactly 32-bit wrapping. */
    private static long combine(Combiner op, long a, long b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }
}
