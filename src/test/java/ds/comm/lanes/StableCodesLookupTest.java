package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StableCodesLookupTest {

    private enum Colour { RED, GREEN, BLUE }

    @Test
    void findsEachConstantByItsCodeAndNothingElse() {
        StableCodes<Colour> codes = new StableCodes<>(Colour.values(), c -> 10 - c.ordinal());
        assertSame(Colour.RED, codes.of(10));
        assertSame(Colour.BLUE, codes.of(8));
        assertNull(codes.of(0));
        assertNull(codes.of(9 + 2));
        assertNull(codes.of(-3));
        assertNull(codes.of(Integer.MAX_VALUE));
    }

    @Test
    void aSharedZeroOrTooLargeCodeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new StableCodes<>(Colour.values(), c -> 1));
        assertThrows(IllegalArgumentException.class, () -> new StableCodes<>(Colour.values(), c -> c.ordinal()));
        assertThrows(IllegalArgumentException.class, () -> new StableCodes<>(Colour.values(), c -> 256 + c.ordinal()));
    }
}
