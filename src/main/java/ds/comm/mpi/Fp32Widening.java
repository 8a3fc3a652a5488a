package ds.comm.mpi;

import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Converts 16-bit floats (BF16, FP16) to fp32 and back, so MPI reduces them as MPI_FLOAT.
 *
 * <p>Why widen instead of a 2-byte user datatype: with a 16-bit MPI type every application of
 * the op rounds to 16 bits, so the result depends on MPI's reduction tree and accumulates
 * rounding error with the rank count. Widened, MPI accumulates in fp32 and we round exactly
 * once, as {@link ds.comm.lanes.Reducer} specifies; the price is twice the bytes on the wire.
 *
 * <p>Rounding is to nearest, ties to even; a NaN becomes the canonical quiet NaN of the type
 * (BF16 0x7FC0, FP16 0x7E00), as the lanes kernels write it.
 */
final class Fp32Widening {

    static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    static final short BF16_QUIET_NAN = 0x7FC0;
    static final short FP16_QUIET_NAN = 0x7E00;

    private Fp32Widening() {
    }

    /** {@code dst[dstOff..] (fp32) = src[srcOff..] (type)} for {@code count} elements. */
    static void widen(ElementType type, MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        if (type == ElementType.BF16) {
            for (long i = 0; i < count; i++) {
                dst.set(FLOAT, dstOff + 4 * i, bf16ToFloat(src.get(HALF, srcOff + 2 * i)));
            }
        } else if (type == ElementType.FP16) {
            for (long i = 0; i < count; i++) {
                dst.set(FLOAT, dstOff + 4 * i, Float.float16ToFloat(src.get(HALF, srcOff + 2 * i)));
            }
        } else {
            throw new IllegalArgumentException("not a 16-bit float: " + type);
        }
    }

    /** {@code dst[dstOff..] (type) = round(src[srcOff..] (fp32))} for {@code count} elements. */
    static void narrow(ElementType type, MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        if (type == ElementType.BF16) {
            for (long i = 0; i < count; i++) {
                dst.set(HALF, dstOff + 2 * i, floatToBf16(src.get(FLOAT, srcOff + 4 * i)));
            }
        } else if (type == ElementType.FP16) {
            for (long i = 0; i < count; i++) {
                dst.set(HALF, dstOff + 2 * i, floatToFp16(src.get(FLOAT, srcOff + 4 * i)));
            }
        } else {
            throw new IllegalArgumentException("not a 16-bit float: " + type);
        }
    }

    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    static short floatToBf16(float f) {
        if (Float.isNaN(f)) return BF16_QUIET_NAN;
        int bits = Float.floatToRawIntBits(f);
        // Round to nearest even: add 0x7FFF plus the lowest kept bit; a carry into the exponent
        // correctly rounds up to the next binade or to infinity.
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    static short floatToFp16(float f) {
        return Float.isNaN(f) ? FP16_QUIET_NAN : Float.floatToFloat16(f);
    }
}
