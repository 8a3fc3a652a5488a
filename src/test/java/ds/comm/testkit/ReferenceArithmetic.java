package ds.comm.testkit;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

/**
 * Element arithmetic for the tests' own reference reductions, written from the definitions
 * (IEEE operations, fp32 accumulation of 16-bit floats, one round to nearest even) and sharing
 * no code with the library, so that a bug in the kernels cannot hide in the reference too.
 */
public final class ReferenceArithmetic {

    private ReferenceArithmetic() {
    }

    public static float apply(Combiner op, float a, float b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    public static double apply(Combiner op, double a, double b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    public static int apply(Combiner op, int a, int b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    public static long apply(Combiner op, long a, long b) {
        return switch (op) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    /** A bf16 or fp16 bit pattern as the fp32 value it stands for. */
    public static float widen(ElementType type, short bits) {
        return type == ElementType.BF16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
    }

    /** fp32 to bf16 or fp16, rounding to nearest even; the tests never narrow a NaN. */
    public static short narrow(ElementType type, float f) {
        if (type == ElementType.FP16) return Float.floatToFloat16(f);
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
