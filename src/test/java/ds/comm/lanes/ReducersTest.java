package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReducersTest {

    @Test
    void scalarReducerReportsZeroBits() {
        assertEquals(0, Reducers.scalar().vectorBits());
        assertEquals("scalar in use (preferred " + Reducers.preferredBits() + "-bit)", Reducers.describe(Reducers.scalar()));
    }

    @Test
    void vectorReducersReportTheirWidthAndAreShared() {
        for (int bits = 64; bits <= Reducers.maxBits(); bits *= 2) {
            Reducer r = Reducers.vector(bits);
            assertEquals(bits, r.vectorBits());
            assertSame(r, Reducers.vector(bits));
            assertTrue(Reducers.describe(r).startsWith(bits + "-bit in use (preferred " + Reducers.preferredBits()
                    + "-bit, FloatVector " + bits / 32 + " lanes)"), Reducers.describe(r));
        }
    }

    @Test
    void preferredWidthIsTheWidestSupportedOne() {
        int preferred = Reducers.preferredBits();
        assertTrue(preferred == 0 || preferred == 64 || preferred == 128 || preferred == 256 || preferred == 512);
        assertEquals(Reducers.maxBits(), preferred);
        int shape = jdk.incubator.vector.VectorShape.preferredShape().vectorBitSize();
        assertTrue(preferred <= shape, preferred + " > " + shape);
    }

    @Test
    void unsupportedWidthsAreRejected() {
        for (int bits : new int[] {0, 32, 96, 1024, 2048, -128}) {
            assertThrows(IllegalArgumentException.class, () -> Reducers.vector(bits), "width " + bits);
        }
        if (Reducers.maxBits() < 512) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Reducers.vector(512));
            assertTrue(e.getMessage().contains("not supported by this JVM"), e.getMessage());
        }
    }

    @Test
    void environmentSelectsPreferredScalarOrAGivenWidth() {
        int preferred = Reducers.preferredBits();
        assertEquals(preferred, Reducers.fromEnvironment(null).vectorBits());
        assertEquals(preferred, Reducers.fromEnvironment("").vectorBits());
        assertEquals(preferred, Reducers.fromEnvironment("  ").vectorBits());
        assertSame(Reducers.scalar(), Reducers.fromEnvironment("0"));
        assertEquals(64, Reducers.fromEnvironment("64").vectorBits());
        assertEquals(128, Reducers.fromEnvironment(" 128 ").vectorBits());
    }

    @Test
    void environmentRejectsAnythingElseWithAClearMessage() {
        for (String bad : new String[] {"abc", "100", "-64", "64bit", "1024", "0x40"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Reducers.fromEnvironment(bad));
            assertTrue(e.getMessage().startsWith("DSCOMM_VECTOR_BITS"), e.getMessage());
            assertTrue(e.getMessage().contains(bad), e.getMessage());
        }
    }
}
