package ds.comm.lanes;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * The scalar reference reducer: one element at a time, in the order the {@link Reducer}
 * contract states. Every vector width is tested bit for bit against it, and the vector kernels
 * use {@link #reduceRange} for the elements after their last full vector.
 */
final class ScalarReducer implements Reducer {

    static final ScalarReducer INSTANCE = new ScalarReducer();

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private ScalarReducer() {
    }

    @Override
    public void reduce(ElementType type, Combiner op,
                       MemorySegment dst, long dstOffset,
                       MemorySegment[] src, long[] srcOffset, int k,
                       long count) {
        checkArguments(type, op, dst, dstOffset, src, srcOffset, k, count);
        if (k == 1) {
            MemorySegment.copy(src[0], srcOffset[0], dst, dstOffset, count * type.byteSize());
            return;
        }
        reduceRange(type, op, dst, dstOffset, src, srcOffset, k, 0, count);
    }

    @Override
    public int vectorBits() {
        return 0;
    }

    @Override
    public String toString() {
        return "scalar";
    }

    /**
     * Validates a {@link Reducer#reduce} call before any byte is written, so a bad call never
     * leaves a half-reduced destination behind.
     */
    static void checkArguments(ElementType type, Combiner op,
                               MemorySegment dst, long dstOffset,
                               MemorySegment[] src, long[] srcOffset, int k,
                               long count) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(dst, "dst");
        if (k < 1 || k > src.length || k > srcOffset.length) {
            throw new IllegalArgumentException("k must be in [1, " + Math.min(src.length, srcOffset.length)
                    + "]: " + k);
        }
        if (count < 0 || count > Long.MAX_VALUE / type.byteSize()) {
            throw new IllegalArgumentException("count out of range: " + count);
        }
        long bytes = count * type.byteSize();
        Objects.checkFromIndexSize(dstOffset, bytes, dst.byteSize());
        for (int j = 0; j < k; j++) {
            Objects.checkFromIndexSize(srcOffset[j], bytes, Objects.requireNonNull(src[j], "src").byteSize());
        }
    }

    /** Reduces elements {@code [from, to)} of {@code k >= 2} sources; arguments already checked. */
    static void reduceRange(ElementType type, Combiner op,
                            MemorySegment dst, long dstOffset,
                            MemorySegment[] src, long[] srcOffset, int k,
                            long from, long to) {
        switch (type) {
            case FP32 -> fp32(op, dst, dstOffset, src, srcOffset, k, from, to);
            case FP64 -> fp64(op, dst, dstOffset, src, srcOffset, k, from, to);
            case BF16 -> bf16(op, dst, dstOffset, src, srcOffset, k, from, to);
            case FP16 -> fp16(op, dst, dstOffset, src, srcOffset, k, from, to);
            case INT32 -> int32(op, dst, dstOffset, src, srcOffset, k, from, to);
            case INT64 -> int64(op, dst, dstOffset, src, srcOffset, k, from, to);
        }
    }

    private static void fp32(Combiner op, MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Float.BYTES;
            float acc = src[0].get(F32, srcOffset[0] + b);
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, src[j].get(F32, srcOffset[j] + b));
            }
            dst.set(I32, dstOffset + b, HalfFloats.fp32Bits(acc));
        }
    }

    private static void fp64(Combiner op, MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Double.BYTES;
            double acc = src[0].get(F64, srcOffset[0] + b);
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, src[j].get(F64, srcOffset[j] + b));
            }
            dst.set(I64, dstOffset + b, HalfFloats.fp64Bits(acc));
        }
    }

    private static void bf16(Combiner op, MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Short.BYTES;
            float acc = HalfFloats.bf16ToFloat(src[0].get(I16, srcOffset[0] + b));
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, HalfFloats.bf16ToFloat(src[j].get(I16, srcOffset[j] + b)));
            }
            dst.set(I16, dstOffset + b, HalfFloats.floatToBf16(acc));
        }
    }

    private static void fp16(Combiner op, MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Short.BYTES;
            float acc = HalfFloats.fp16ToFloat(src[0].get(I16, srcOffset[0] + b));
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, HalfFloats.fp16ToFloat(src[j].get(I16, srcOffset[j] + b)));
            }
            dst.set(I16, dstOffset + b, HalfFloats.floatToFp16(acc));
        }
    }

    private static void int32(Combiner op, MemorySegment dst, long dstOffset,
                              MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Integer.BYTES;
            int acc = src[0].get(I32, srcOffset[0] + b);
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, src[j].get(I32, srcOffset[j] + b));
            }
            dst.set(I32, dstOffset + b, acc);
        }
    }

    private static void int64(Combiner op, MemorySegment dst, long dstOffset,
                              MemorySegment[] src, long[] srcOffset, int k, long from, long to) {
        for (long i = from; i < to; i++) {
            long b = i * Long.BYTES;
            long acc = src[0].get(I64, srcOffset[0] + b);
            for (int j = 1; j < k; j++) {
                acc = op.apply(acc, src[j].get(I64, srcOffset[j] + b));
            }
            dst.set(I64, dstOffset + b, acc);
        }
    }
}
