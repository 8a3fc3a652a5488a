package ds.comm.ring;

import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HalfFloatsTest {

    @Test
    void bf16RoundingIsNearestEvenForEveryTieAndCarry() {
        // Exhaustive over the upper halves with the interesting lower halves: below, at and above the tie.
        for (int upper = 0; upper < 0x10000; upper++) {
            for (int lower : new int[]{0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF}) {
                float f = Float.intBitsToFloat((upper << 16) | lower);
                short want = ScalarTestReducer.narrow(ElementType.BF16, f);
                assertEquals(want, HalfFloats.fromFloat(ElementType.BF16, f),
                        () -> "bits 0x" + Integer.toHexString(Float.floatToRawIntBits(f)));
            }
        }
    }

    @Test
    void nanBecomesTheCanonicalQuietNanOfEachType() {
        float payloadNan = Float.intBitsToFloat(0xFF80_0001);
        assertEquals((short) 0x7FC0, HalfFloats.fromFloat(ElementType.BF16, payloadNan));
        assertEquals((short) 0x7E00, HalfFloats.fromFloat(ElementType.FP16, payloadNan));
    }

    @Test
    void widenInPlaceEqualsWideningIntoASeparateBuffer() {
        for (ElementType type : new ElementType[]{ElementType.BF16, ElementType.FP16}) {
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
                assertEquals(Float.floatToRawIntBits(ScalarTestReducer.widen(type, (short) (i * 40503))),
                        Float.floatToRawIntBits(f));
            }
        }
    }
}
