package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A deliberately plain scalar {@link Reducer} for the SHM tests, following the contract: sources
 * combined in order, 16-bit floats widened to fp32, combined in fp32 and rounded once to
 * nearest-even, NaN results canonical, {@code k == 1} a bit copy. The real kernels live in
 * {@code ds.comm.lanes}; this one only has to be obviously right.
 */
final class ScalarTestReducer implements Reducer {

    static final ScalarTestReducer INSTANCE = new ScalarTestReducer();

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Override
    public void reduce(ElementType type, Combiner op, MemorySegment dst, long dstOffset,
                       MemorySegment[] src, long[] srcOffset, int k, long count) {
        int es = type.byteSize();
        for (long i = 0; i < count; i++) {
            long d = dstOffset + i * es;
            if (k == 1) {
                MemorySegment.copy(src[0], srcOffset[0] + i * es, dst, d, es);
                continue;
            }
            switch (type) {
                case FP32 -> {
                    float acc = src[0].get(F32, srcOffset[0] + i * es);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(F32, srcOffset[j] + i * es));
                    dst.set(F32, d, Float.isNaN(acc) ? Float.NaN : acc);
                }
                case FP64 -> {
                    double acc = src[0].get(F64, srcOffset[0] + i * es);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(F64, srcOffset[j] + i * es));
                    dst.set(F64, d, Double.isNaN(acc) ? Double.NaN : acc);
                }
                case INT32 -> {
                    int acc = src[0].get(I32, srcOffset[0] + i * es);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(I32, srcOffset[j] + i * es));
                    dst.set(I32, d, acc);
                }
                case INT64 -> {
                    long acc = src[0].get(I64, srcOffset[0] + i * es);
                    for (int j = 1; j < k; j++) acc = combine(op, acc, src[j].get(I64, srcOffset[j] + i * es));
                    dst.set(I64, d, acc);
                }
                case BF16, FP16 -> {
                    boolean bf = type == ElementType.BF16;
                    float acc = widen(bf, src[0].get(I16, srcOffset[0] + i * es));
                    for (int j = 1; j < k; j++) acc = combine(op, acc, widen(bf, src[j].get(I16, srcOffset[j] + i * es)));
                    dst.set(I16, d, bf ? toBf16(acc) : toFp16(acc));
                }
            }
        }
    }

    @Override
    public int vectorBits() {
        return 0;
    }

    static float widen(boolean bf16, short bits) {
        return bf16 ? Float.intBitsToFloat((bits & 0xffff) << 16) : Float.float16ToFloat(bits);
    }

    static short toBf16(float f) {
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    static short toFp16(float f) {
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

    private static int combine(Combiner op, int a, int b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    private static long combine(Combiner op, long a, long b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }
}
