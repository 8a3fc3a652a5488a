package ds.comm.tool;

import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Verifiable inputs for collectives: every element of every rank's input is a small integer
 * chosen from (rank, iteration, index), so sums, products, minima and maxima over up to 64
 * ranks are exact in every dtype, bf16 included. The expected result is then one value per
 * element whatever order a backend reduces in, and a check can demand equality bit for bit.
 *
 * <p>Separately, {@link #checksum} lets ranks compare their results with each other (for
 * random inputs, where only bit-identity across ranks can be demanded).
 */
public final class Pattern {

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private Pattern() {
    }

    /** Input element {@code i} of {@code rank} at {@code iter}: in [-2, 2] (or +-1 for PROD). */
    public static int value(ReduceOp op, int rank, int iter, long i) {
        long h = rank * 0x9E3779B97F4A7C15L + iter * 0xC2B2AE3D27D4EB4FL + i * 0x165667B19E3779F9L;
        h ^= h >>> 29;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 32;
        if (op == ReduceOp.PROD) return (h & 3) == 0 ? -1 : 1;
        return (int) Math.floorMod(h, 5L) - 2;
    }

    /** The exact reduction over {@code ranks} ranks of element {@code i}. */
    public static long expected(ReduceOp op, int ranks, int iter, long i) {
        long acc = value(op, 0, iter, i);
        for (int r = 1; r < ranks; r++) {
            long v = value(op, r, iter, i);
            acc = switch (op) {
                case SUM -> acc + v;
                case PROD -> acc * v;
                case MIN -> Math.min(acc, v);
                case MAX -> Math.max(acc, v);
            };
        }
        return acc;
    }

    /** Fills {@code seg} with this rank's input. */
    public static void fill(MemorySegment seg, DType type, ReduceOp op, int rank, int iter) {
        long n = seg.byteSize() / type.byteSize();
        for (long i = 0; i < n; i++) put(seg, type, i, value(op, rank, iter, i));
    }

    /** Index of the first element that differs from the exact result, or -1 when all match. */
    public static long firstWrong(MemorySegment seg, DType type, ReduceOp op, int ranks, int iter) {
        long n = seg.byteSize() / type.byteSize();
        for (long i = 0; i < n; i++) {
            if (bits(seg, type, i) != encode(type, expected(op, ranks, iter, i))) return i;
        }
        return -1;
    }

    /** Human description of element {@code i}: what it is and what it should be. */
    public static String describe(MemorySegment seg, DType type, ReduceOp op, int ranks, int iter, long i) {
        return "element " + i + " is 0x" + Long.toHexString(bits(seg, type, i)) + ", expected "
                + expected(op, ranks, iter, i) + " (0x" + Long.toHexString(encode(type, expected(op, ranks, iter, i))) + ")";
    }

    public static void put(MemorySegment seg, DType type, long i, long v) {
        switch (type) {
            case FP32 -> seg.set(F32, i * 4, (float) v);
            case FP64 -> seg.set(F64, i * 8, (double) v);
            case INT32 -> seg.set(I32, i * 4, (int) v);
            case INT64 -> seg.set(I64, i * 8, v);
            case BF16, FP16 -> seg.set(I16, i * 2, (short) encode(type, v));
        }
    }

    /** Raw bits of element {@code i}, zero-extended. */
    public static long bits(MemorySegment seg, DType type, long i) {
        return switch (type) {
            case FP32, INT32 -> seg.get(I32, i * 4) & 0xFFFF_FFFFL;
            case FP64, INT64 -> seg.get(I64, i * 8);
            case BF16, FP16 -> seg.get(I16, i * 2) & 0xFFFFL;
        };
    }

    /** The bits of the exact integer {@code v} in {@code type} (exact for |v| {@literal <=} 2048). */
    public static long encode(DType type, long v) {
        return switch (type) {
            case FP32 -> Float.floatToRawIntBits((float) v) & 0xFFFF_FFFFL;
            case FP64 -> Double.doubleToRawLongBits((double) v);
            case INT32 -> ((int) v) & 0xFFFF_FFFFL;
            case INT64 -> v;
            case BF16 -> (Float.floatToRawIntBits((float) v) >>> 16) & 0xFFFFL;
            case FP16 -> Float.floatToFloat16((float) v) & 0xFFFFL;
        };
    }

    /**
     * A 64-bit FNV-1a hash of the element values (not the raw bytes, so that a big-endian and a
     * little-endian machine holding the same values agree), for comparing results across ranks
     * and across machines.
     */
    public static long checksum(MemorySegment seg, DType type) {
        long h = 0xCBF29CE484222325L;
        long n = seg.byteSize() / type.byteSize();
        for (long i = 0; i < n; i++) {
            h ^= bits(seg, type, i);
            h *= 0x100000001B3L;
        }
        return h;
    }
}
