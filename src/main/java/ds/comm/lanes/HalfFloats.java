package ds.comm.lanes;

import java.lang.foreign.MemorySegment;

/**
 * Scalar conversions between fp32 and the two 16-bit float formats, exactly as the reduction
 * kernels define them. This is the reference the vector kernels are tested against.
 *
 * <pre>
 *   bf16:  s eeeeeeee mmmmmmm        = the upper 16 bits of an fp32
 *   fp16:  s eeeee mmmmmmmmmm        = IEEE 754 binary16
 * </pre>
 *
 * <p>Narrowing rounds to nearest, ties to even, overflows to infinity and keeps subnormals.
 * Every NaN narrows to one canonical quiet NaN ({@link #BF16_CANONICAL_NAN},
 * {@link #FP16_CANONICAL_NAN}), sign cleared, so that results do not depend on which NaN
 * payload an ISA happened to propagate.
 *
 * <p>The bulk conversions ({@link #widen}, {@link #widenInPlace}, {@link #narrow}) serve the
 * backends that carry 16-bit partial sums as fp32 (the socket ring between hops, MPI as
 * MPI_FLOAT): widened, partial sums accumulate in fp32 and are rounded exactly once, by these
 * same rules, so every backend rounds as the kernels do. They run in blocks through per-thread
 * arrays ({@code HalfBlocks}), where C2 vectorises them; the scalar methods here define the bits.
 */
public final class HalfFloats {

    /** The bf16 NaN every NaN result narrows to: positive, quiet, zero payload. */
    public static final short BF16_CANONICAL_NAN = (short) 0x7FC0;

    /** The fp16 NaN every NaN result narrows to: positive, quiet, zero payload. */
    public static final short FP16_CANONICAL_NAN = (short) 0x7E00;

    /** The fp32 NaN every fp32 NaN result is written as ({@code Float.NaN}'s bits). */
    public static final int FP32_CANONICAL_NAN = 0x7FC0_0000;

    /** The fp64 NaN every fp64 NaN result is written as ({@code Double.NaN}'s bits). */
    public static final long FP64_CANONICAL_NAN = 0x7FF8_0000_0000_0000L;

    private HalfFloats() {
    }

    /** Widens bf16 bits to fp32; exact (a bf16 is the top half of an fp32). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Narrows fp32 to bf16 bits, round to nearest even; NaN becomes {@link #BF16_CANONICAL_NAN}.
     *
     * <p>Adding {@code 0x7FFF} plus the lowest kept bit rounds the dropped half to nearest with
     * ties going to the even neighbour; a carry out of the mantissa correctly bumps the exponent,
     * which is how the largest finite values overflow to infinity.
     */
    public static short floatToBf16(float value) {
        if (Float.isNaN(value)) {
            return BF16_CANONICAL_NAN;
        }
        int bits = Float.floatToRawIntBits(value);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Widens fp16 bits to fp32; exact, including subnormals ({@link Float#float16ToFloat}). */
    public static float fp16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * Narrows fp32 to fp16 bits, round to nearest even ({@link Float#floatToFloat16});
     * NaN becomes {@link #FP16_CANONICAL_NAN}.
     */
    public static short floatToFp16(float value) {
        return Float.isNaN(value) ? FP16_CANONICAL_NAN : Float.floatToFloat16(value);
    }

    /** fp32 bits as written by a reduction: NaN canonical, everything else raw. */
    public static int fp32Bits(float value) {
        return Float.isNaN(value) ? FP32_CANONICAL_NAN : Float.floatToRawIntBits(value);
    }

    /** fp64 bits as written by a reduction: NaN canonical, everything else raw. */
    public static long fp64Bits(double value) {
        return Double.isNaN(value) ? FP64_CANONICAL_NAN : Double.doubleToRawLongBits(value);
    }

    /** True for the two 16-bit float types, whose partial sums travel as fp32. */
    public static boolean isHalf(ElementType type) {
        return type == ElementType.BF16 || type == ElementType.FP16;
    }

    /** Exact value of one 16-bit float of {@code type} (BF16 or FP16). */
    public static float toFloat(ElementType type, short bits) {
        return type == ElementType.BF16 ? bf16ToFloat(bits) : fp16ToFloat(bits);
    }

    /** Nearest-even 16-bit float of {@code type} (BF16 or FP16); NaN becomes the canonical quiet NaN. */
    public static short fromFloat(ElementType type, float value) {
        return type == ElementType.BF16 ? floatToBf16(value) : floatToFp16(value);
    }

    /**
     * Widens {@code count} 16-bit floats of {@code type} at {@code src[srcOffset]} to fp32 at
     * {@code dst[dstOffset]}; exact.
     *
     * @throws IllegalArgumentException if {@code type} is not BF16 or FP16
     */
    public static void widen(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset,
                             long count) {
        requireHalf(type);
        HalfBlocks.widen(type, src, srcOffset, dst, dstOffset, count);
    }

    /**
     * Widens {@code count} 16-bit floats at the start of {@code seg} to fp32 at the start of the
     * same segment. Walks backwards, a block at a time, each read before it is written: element i
     * is written to bytes [4i, 4i+4), which only overlaps the 16-bit elements 2i and 2i+1, in the
     * same block (already read) or a later one (already converted).
     */
    public static void widenInPlace(ElementType type, MemorySegment seg, long count) {
        requireHalf(type);
        HalfBlocks.widenInPlace(type, seg, count);
    }

    /**
     * Rounds {@code count} fp32 values at {@code src[srcOffset]} to 16-bit floats of {@code type}
     * at {@code dst[dstOffset]}: nearest even, NaN canonical.
     */
    public static void narrow(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset,
                              long count) {
        requireHalf(type);
        HalfBlocks.narrow(type, src, srcOffset, dst, dstOffset, count);
    }

    private static void requireHalf(ElementType type) {
        if (!isHalf(type)) throw new IllegalArgumentException("not a 16-bit float: " + type);
    }
}
