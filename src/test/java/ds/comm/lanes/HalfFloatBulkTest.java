package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The bulk conversions the ring and MPI carry 16-bit partial sums with: exact widening, one
 * round-to-nearest-even narrowing, canonical NaNs, exactly as the kernels' element conversions.
 */
class HalfFloatBulkTest {

    private static final ElementType[] HALVES = {ElementType.BF16, ElementType.FP16};

    @Test
    void everyHalfValueSurvivesWidenThenNarrowExactlyExceptNansWhichBecomeCanonical() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1 << 16;
            for (ElementType type : HALVES) {
                MemorySegment half = a.allocate(2L * n);
                for (int i = 0; i < n; i++) half.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) i);
                MemorySegment wide = a.allocate(4L * n);
                HalfFloats.widen(type, half, 0, wide, 0, n);
                MemorySegment back = a.allocate(2L * n);
                HalfFloats.narrow(type, wide, 0, back, 0, n);
                for (int i = 0; i < n; i++) {
                    float f = wide.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    short expected = Float.isNaN(f) ? (type == ElementType.BF16 ? HalfFloats.BF16_CANONICAL_NAN
                            : HalfFloats.FP16_CANONICAL_NAN) : (short) i;
                    assertEquals(expected, back.getAtIndex(ValueLayout.JAVA_SHORT, i), type + " pattern 0x" + Integer.toHexString(i));
                }
            }
        }
    }

    @Test
    void narrowingRoundsTiesToEvenAndOverflowsToInfinity() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment wide = a.allocate(4L * 3);
            MemorySegment half = a.allocate(2L * 3);
            // bf16: 1 + 2^-8 is halfway between 0x3F80 and 0x3F81 (ties to even); above an odd mantissa it rounds up.
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.intBitsToFloat(0x3F808000));
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, 1, Float.intBitsToFloat(0x3F818000));
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, 2, Float.MAX_VALUE);
            HalfFloats.narrow(ElementType.BF16, wide, 0, half, 0, 3);
            assertEquals((short) 0x3F80, half.getAtIndex(ValueLayout.JAVA_SHORT, 0));
            assertEquals((short) 0x3F82, half.getAtIndex(ValueLayout.JAVA_SHORT, 1));
            assertEquals((short) 0x7F80, half.getAtIndex(ValueLayout.JAVA_SHORT, 2));
            // fp16: 1 + 2^-11 ties to even; 65520 overflows to infinity.
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 1.0f + 0x1p-11f);
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, 1, 65520f);
            HalfFloats.narrow(ElementType.FP16, wide, 0, half, 0, 2);
            assertEquals((short) 0x3C00, half.getAtIndex(ValueLayout.JAVA_SHORT, 0));
            assertEquals((short) 0x7C00, half.getAtIndex(ValueLayout.JAVA_SHORT, 1));
        }
    }

    @Test
    void widenInPlaceEqualsWideningIntoASeparateBuffer() {
        for (ElementType type : HALVES) {
            int n = 1001;
            MemorySegment in = Arena.ofAuto().allocate(4L * n);
            for (int i = 0; i < n; i++) {
                in.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, (short) (i * 40503));
            }
            MemorySegment separate = Arena.ofAuto().allocate(4L * n);
            HalfFloats.widen(type, in, 0, separate, 0, n);
            HalfFloats.widenInPlace(type, in, n);
            assertEquals(-1, separate.mismatch(in), type.toString());
            for (int i = 0; i < n; i++) {
                float f = separate.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * i);
                assertEquals(Float.floatToRawIntBits(HalfFloats.toFloat(type, (short) (i * 40503))),
                        Float.floatToRawIntBits(f));
            }
        }
    }

    @Test
    void onlyTheTwoSixteenBitFloatTypesConvert() {
        MemorySegment s = MemorySegment.ofArray(new byte[16]);
        assertThrows(IllegalArgumentException.class, () -> HalfFloats.widen(ElementType.FP32, s, 0, s, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> HalfFloats.narrow(ElementType.INT32, s, 0, s, 0, 1));
    }
}
