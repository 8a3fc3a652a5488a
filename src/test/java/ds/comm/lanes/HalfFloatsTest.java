package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HalfFloatsTest {

    /**
     * Independent oracle: the bf16 nearest to {@code f}, ties to the even one, by exact distance
     * in double (bf16 values and fp32 values are doubles exactly, and so are their differences).
     * Past the largest finite bf16 the next "value" is 2^128, which IEEE rounding treats as the
     * step to infinity.
     */
    private static short nearestEvenBf16(float f) {
        if (Float.isNaN(f)) return HalfFloats.BF16_CANONICAL_NAN;
        int bits = Float.floatToRawIntBits(f);
        int sign = bits & 0x8000_0000;
        int down = (bits & 0x7FFF_0000) >>> 16; // magnitude truncated
        int up = down + 1;
        double x = Math.abs((double) f);
        double lo = Float.intBitsToFloat(down << 16);
        double hi = up == 0x7F80 ? Math.scalb(1.0, 128) : Float.intBitsToFloat(up << 16);
        if (down == 0x7F80) return (short) ((sign >>> 16) | down); // infinity stays
        int pick;
        if (x - lo < hi - x) pick = down;
        else if (x - lo > hi - x) pick = up;
        else pick = (down & 1) == 0 ? down : up;
        return (short) ((sign >>> 16) | pick);
    }

    @Test
    void floatToBf16RoundsToNearestEvenForEveryExponentAndEveryTie() {
        // Every upper half, with the lower halves that matter: zero, below, at and above the tie, max.
        for (int upper = 0; upper < 0x10000; upper++) {
            for (int lower : new int[] {0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF}) {
                float f = Float.intBitsToFloat((upper << 16) | lower);
                short want = nearestEvenBf16(f);
                assertEquals(want, HalfFloats.floatToBf16(f),
                        () -> "fp32 0x" + Integer.toHexString(Float.floatToRawIntBits(f)));
            }
        }
    }

    @Test
    void bf16WidensExactlyAndFp16AgreesWithTheJdk() {
        for (int b = 0; b < 0x10000; b++) {
            short s = (short) b;
            float wide = HalfFloats.bf16ToFloat(s);
            if (!Float.isNaN(wide)) {
                assertEquals(s, HalfFloats.floatToBf16(wide), "bf16 -> fp32 -> bf16 is the identity");
            }
            float h = Float.float16ToFloat(s);
            assertEquals(Float.floatToRawIntBits(h), Float.floatToRawIntBits(HalfFloats.fp16ToFloat(s)));
            assertEquals(Float.isNaN(h) ? HalfFloats.FP16_CANONICAL_NAN : s, HalfFloats.floatToFp16(h));
        }
    }
}
