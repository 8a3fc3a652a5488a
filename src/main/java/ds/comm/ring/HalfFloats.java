package ds.comm.ring;

import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Bulk conversions between the 16-bit float types and the fp32 the ring carries partial sums in
 * (element conversions are {@link ds.comm.lanes.HalfFloats}'s, so ring and kernels round alike).
 *
 * <p>The ring forwards partial reductions from rank to rank. Rounding a BF16/FP16 partial sum
 * at every hop would round N-1 times; instead partial sums travel as fp32 and the owner of a
 * segment rounds once, to nearest-even, exactly as the lanes kernels do for K local sources.
 * A NaN result becomes the canonical quiet NaN of the type (BF16 {@code 0x7FC0}, FP16
 * {@code 0x7E00}), the same rule as {@link ds.comm.lanes.Reducer}.
 */
final class HalfFloats {

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private HalfFloats() {
    }

    /** True for the two 16-bit float types, whose partial sums travel as fp32. */
    static boolean isHalf(ElementType type) {
        return type == ElementType.BF16 || type == ElementType.FP16;
    }

    /** Exact value of one 16-bit float. */
    static float toFloat(ElementType type, short bits) {
        return type == ElementType.BF16 ? ds.comm.lanes.HalfFloats.bf16ToFloat(bits) : ds.comm.lanes.HalfFloats.fp16ToFloat(bits);
    }

    /** Nearest-even 16-bit float of {@code value}; NaN becomes the canonical quiet NaN. */
    static short fromFloat(ElementType type, float value) {
        return type == ElementType.BF16 ? ds.comm.lanes.HalfFloats.floatToBf16(value) : ds.comm.lanes.HalfFloats.floatToFp16(value);
    }

    /** Widens {@code count} 16-bit floats at {@code src[srcOffset]} to fp32 at {@code dst[dstOffset]}. */
    static void widen(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset,
                      long count) {
        for (long i = 0; i < count; i++) {
            dst.set(FLOAT, dstOffset + 4 * i, toFloat(type, src.get(HALF, srcOffset + 2 * i)));
        }
    }

    /**
     * Widens {@code count} 16-bit floats at the start of {@code seg} to fp32 at the start of the
     * same segment. Walks backwards: element i is written to bytes [4i, 4i+4), which only
     * overlaps the 16-bit elements 2i and 2i+1, both already converted.
     */
    static void widenInPlace(ElementType type, MemorySegment seg, long count) {
        for (long i = count - 1; i >= 0; i--) {
            seg.set(FLOAT, 4 * i, toFloat(type, seg.get(HALF, 2 * i)));
        }
    }

    /** Rounds {@code count} fp32 values at {@code src[srcOffset]} to 16-bit floats at {@code dst[dstOffset]}. */
    static void round(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset,
                      long count) {
        for (long i = 0; i < count; i++) {
            dst.set(HALF, dstOffset + 2 * i, fromFloat(type, src.get(FLOAT, srcOffset + 4 * i)));
        }
    }
}
