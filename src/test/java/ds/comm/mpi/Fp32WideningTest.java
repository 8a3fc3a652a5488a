package ds.comm.mpi;

import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** 16-bit floats travel through MPI as fp32: exact widening, one round-to-nearest-even narrowing. */
class Fp32WideningTest {

    @Test
    void bf16NarrowingRoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 (0x3F80) and 1.0078125 (0x3F81): ties to even.
        assertEquals((short) 0x3F80, Fp32Widening.floatToBf16(Float.intBitsToFloat(0x3F808000)));
        // Halfway above an odd mantissa rounds up to even.
        assertEquals((short) 0x3F82, Fp32Widening.floatToBf16(Float.intBitsToFloat(0x3F818000)));
        // Just above halfway rounds up.
        assertEquals((short) 0x3F81, Fp32Widening.floatToBf16(Float.intBitsToFloat(0x3F808001)));
        // The largest finite fp32 rounds to bf16 infinity.
        assertEquals((short) 0x7F80, Fp32Widening.floatToBf16(Float.MAX_VALUE));
        assertEquals((short) 0x8000, Fp32Widening.floatToBf16(-0.0f));
    }

    @Test
    void nanNarrowsToTheCanonicalQuietNanOfEachType() {
        float signallingWithPayload = Float.intBitsToFloat(0xFF800123);
        assertEquals((short) 0x7FC0, Fp32Widening.floatToBf16(signallingWithPayload));
        assertEquals((short) 0x7E00, Fp32Widening.floatToFp16(signallingWithPayload));
    }

    @Test
    void fp16NarrowingRoundsToNearestEvenAndOverflowsToInfinity() {
        // 1 + 2^-11 is halfway between fp16 1.0 (0x3C00) and the next value: ties to even.
        assertEquals((short) 0x3C00, Fp32Widening.floatToFp16(1.0f + 0x1p-11f));
        assertEquals((short) 0x7C00, Fp32Widening.floatToFp16(65520f));
    }

    @Test
    void everyFiniteHalfValueSurvivesWidenThenNarrowExactly() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1 << 16;
            for (ElementType type : new ElementType[] {ElementType.BF16, ElementType.FP16}) {
                MemorySegment half = a.allocate(2L * n);
                for (int i = 0; i < n; i++) half.setAtIndex(Fp32Widening.HALF, i, (short) i);
                MemorySegment wide = a.allocate(4L * n);
                Fp32Widening.widen(type, half, 0, wide, 0, n);
                MemorySegment back = a.allocate(2L * n);
                Fp32Widening.narrow(type, wide, 0, back, 0, n);
                for (int i = 0; i < n; i++) {
                    float f = wide.getAtIndex(Fp32Widening.FLOAT, i);
                    short expected = Float.isNaN(f) ? (type == ElementType.BF16 ? Fp32Widening.BF16_QUIET_NAN
                            : Fp32Widening.FP16_QUIET_NAN) : (short) i;
                    assertEquals(expected, back.getAtIndex(Fp32Widening.HALF, i), type + " pattern 0x" + Integer.toHexString(i));
                }
            }
        }
    }
}
