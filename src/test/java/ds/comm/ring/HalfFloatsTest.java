package ds.comm.ring;

import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

class HalfFloatsTest {

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
                assertEquals(Float.floatToRawIntBits(HalfFloats.toFloat(type, (short) (i * 40503))),
                        Float.floatToRawIntBits(f));
            }
        }
    }
}
