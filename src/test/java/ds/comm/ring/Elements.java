package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.testkit.ReferenceArithmetic;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Element access and reference reductions for the ring tests, independent of the code under test:
 * plain Java arithmetic, 16-bit floats converted with the JDK's FP16 conversions or by shifting
 * (BF16, rounded to nearest even), nothing from the kernels or the ring's own conversions.
 */
final class Elements {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private Elements() {
    }

    static MemorySegment allocate(ElementType type, long count) {
        return Arena.ofAuto().allocate(Math.max(1, count * type.byteSize()), 8).asSlice(0, count * type.byteSize());
    }

    /** Stores a small integer exactly (every type represents -64..64 exactly). */
    static void setInt(ElementType type, MemorySegment seg, long i, long v) {
        switch (type) {
            case FP32 -> seg.set(F32, i * 4, v);
            case FP64 -> seg.set(F64, i * 8, v);
            case BF16 -> seg.set(I16, i * 2, (short) (Float.floatToRawIntBits(v) >>> 16));
            case FP16 -> seg.set(I16, i * 2, Float.floatToFloat16(v));
            case INT32 -> seg.set(I32, i * 4, (int) v);
            case INT64 -> seg.set(I64, i * 8, v);
        }
    }

    /** Value of element i as a double (exact for every type). */
    static double get(ElementType type, MemorySegment seg, long i) {
        return switch (type) {
            case FP32 -> seg.get(F32, i * 4);
            case FP64 -> seg.get(F64, i * 8);
            case BF16, FP16 -> ReferenceArithmetic.widen(type, seg.get(I16, i * 2));
            case INT32 -> seg.get(I32, i * 4);
            case INT64 -> seg.get(I64, i * 8);
        };
    }

    /** Small integers in -8..8 that differ per rank and element: every sum of up to 6 is exact. */
    static long exactValue(int rank, long i, long salt) {
        return Math.floorMod(rank * 31L + i * 7 + salt * 13 + (i * i) % 11, 17) - 8;
    }

    static MemorySegment exactInput(ElementType type, long count, int rank, long salt) {
        MemorySegment seg = allocate(type, count);
        for (long i = 0; i < count; i++) {
            setInt(type, seg, i, exactValue(rank, i, salt));
        }
        return seg;
    }

    static long exactReduction(Combiner op, int ranks, long i, long salt) {
        long acc = exactValue(0, i, salt);
        for (int r = 1; r < ranks; r++) {
            long v = exactValue(r, i, salt);
            acc = switch (op) {
                case SUM -> acc + v;
                case PROD -> acc * v;
                case MIN -> Math.min(acc, v);
                case MAX -> Math.max(acc, v);
            };
        }
        return acc;
    }

    /** Random finite values of a wide range of magnitudes, so that summation order matters. */
    static MemorySegment randomInput(ElementType type, long count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        MemorySegment seg = allocate(type, count);
        for (long i = 0; i < count; i++) {
            double v = (random.nextDouble() - 0.5) * Math.pow(2, random.nextInt(-6, 7));
            switch (type) {
                case FP32 -> seg.set(F32, i * 4, (float) v);
                case FP64 -> seg.set(F64, i * 8, v);
                case BF16 -> seg.set(I16, i * 2, ReferenceArithmetic.narrow(type, (float) v));
                case FP16 -> seg.set(I16, i * 2, Float.floatToFloat16((float) v));
                case INT32 -> seg.set(I32, i * 4, random.nextInt());
                case INT64 -> seg.set(I64, i * 8, random.nextLong());
            }
        }
        return seg;
    }

    /**
     * Element i of the reduction of {@code inputs} combined in the order
     * {@code first, first+1, ..., first+N-1} (mod N); 16-bit floats in fp32, rounded once.
     * Stored into {@code out} at index {@code at}.
     */
    static void reduceInOrder(ElementType type, Combiner op, MemorySegment[] inputs, long i, int first,
                              MemorySegment out, long at) {
        int n = inputs.length;
        switch (type) {
            case FP32 -> {
                float acc = inputs[first].get(F32, i * 4);
                for (int s = 1; s < n; s++) {
                    acc = ReferenceArithmetic.apply(op, acc, inputs[(first + s) % n].get(F32, i * 4));
                }
                out.set(F32, at * 4, acc);
            }
            case FP64 -> {
                double acc = inputs[first].get(F64, i * 8);
                for (int s = 1; s < n; s++) {
                    acc = ReferenceArithmetic.apply(op, acc, inputs[(first + s) % n].get(F64, i * 8));
                }
                out.set(F64, at * 8, acc);
            }
            case BF16, FP16 -> {
                float acc = ReferenceArithmetic.widen(type, inputs[first].get(I16, i * 2));
                for (int s = 1; s < n; s++) {
                    acc = ReferenceArithmetic.apply(op, acc, ReferenceArithmetic.widen(type, inputs[(first + s) % n].get(I16, i * 2)));
                }
                out.set(I16, at * 2, ReferenceArithmetic.narrow(type, acc));
            }
            case INT32 -> {
                int acc = inputs[first].get(I32, i * 4);
                for (int s = 1; s < n; s++) {
                    acc = ReferenceArithmetic.apply(op, acc, inputs[(first + s) % n].get(I32, i * 4));
                }
                out.set(I32, at * 4, acc);
            }
            case INT64 -> {
                long acc = inputs[first].get(I64, i * 8);
                for (int s = 1; s < n; s++) {
                    acc = ReferenceArithmetic.apply(op, acc, inputs[(first + s) % n].get(I64, i * 8));
                }
                out.set(I64, at * 8, acc);
            }
        }
    }

    /** Ring segment of element i when count elements are split over n ranks (first count%n one larger). */
    static int segmentOf(long i, long count, int n) {
        long base = count / n;
        long extra = count % n;
        long bigOnes = extra * (base + 1);
        return (int) (i < bigOnes ? i / (base + 1) : extra + (i - bigOnes) / base);
    }

    static MemorySegment copy(MemorySegment seg) {
        MemorySegment c = Arena.ofAuto().allocate(Math.max(1, seg.byteSize()), 8).asSlice(0, seg.byteSize());
        c.copyFrom(seg);
        return c;
    }
}
