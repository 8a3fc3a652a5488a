package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain scalar {@link Reducer} for the ring tests, written straight from the interface's
 * contract (sources combined in order; 16-bit floats widened, combined in fp32, rounded once to
 * nearest-even; NaN canonical). The vector kernels of {@code ds.comm.lanes} replace it in
 * production; it is deliberately independent of the ring's own {@code HalfFloats}.
 */
final class ScalarTestReducer implements Reducer {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    @Override
    public void reduce(ElementType type, Combiner op, MemorySegment dst, long dstOffset, MemorySegment[] src,
                       long[] srcOffset, int k, long count) {
        int size = type.byteSize();
        for (long i = 0; i < count; i++) {
            long at = i * size;
            switch (type) {
                case FP32 -> {
                    float acc = src[0].get(F32, srcOffset[0] + at);
                    for (int s = 1; s < k; s++) {
                        acc = combine(op, acc, src[s].get(F32, srcOffset[s] + at));
                    }
                    dst.set(F32, dstOffset + at, acc);
                }
                case FP64 -> {
                    double acc = src[0].get(F64, srcOffset[0] + at);
                    for (int s = 1; s < k; s++) {
                        acc = combine(op, acc, src[s].get(F64, srcOffset[s] + at));
                    }
                    dst.set(F64, dstOffset + at, acc);
                }
                case BF16, FP16 -> {
                    if (k == 1) {
                        dst.set(I16, dstOffset + at, src[0].get(I16, srcOffset[0] + at));
                        continue;
                    }
                    float acc = widen(type, src[0].get(I16, srcOffset[0] + at));
                    for (int s = 1; s < k; s++) {
                        acc = combine(op, acc, widen(type, src[s].get(I16, srcOffset[s] + at)));
                    }
                    dst.set(I16, dstOffset + at, narrow(type, acc));
                }
                case INT32 -> {
                    int acc = src[0].get(I32, srcOffset[0] + at);
                    for (int s = 1; s < k; s++) {
                        acc = combine(op, acc, src[s].get(I32, srcOffset[s] + at));
                    }
                    dst.set(I32, dstOffset + at, acc);
                }
                case INT64 -> {
                    long acc = src[0].get(I64, srcOffset[0] + at);
                    for (int s = 1; s < k; s++) {
                        acc = combine(op, acc, src[s].get(I64, srcOffset[s] + at));
                    }
                    dst.set(I64, dstOffset + at, acc);
                }
            }
        }
    }

    @Override
    public int vectorBits() {
        return 0;
    }

    static float combine(Combiner op, float a, float b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    static double combine(Combiner op, double a, double b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    static int combine(Combiner op, int a, int b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    static long combine(Combiner op, long a, long b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    static float widen(ElementType type, short bits) {
        return type == ElementType.BF16 ? Float.intBitsToFloat((bits & 0xFFFF) << 16) : Float.float16ToFloat(bits);
    }

    /** Round to nearest-even by exact arithmetic on the bit pattern, independent of the ring's code. */
    static short narrow(ElementType type, float value) {
        if (Float.isNaN(value)) {
            return type == ElementType.BF16 ? (short) 0x7FC0 : (short) 0x7E00;
        }
        if (type == ElementType.FP16) {
            return Float.floatToFloat16(value);
        }
        int bits = Float.floatToRawIntBits(value);
        int upper = bits >>> 16;
        int lower = bits & 0xFFFF;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) {
            upper++;
        }
        return (short) upper;
    }
}
