package ds.comm.tool;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArgsTest {

    @Test
    void cliSizesUseTheLibrarysOneSizeSyntax() {
        assertEquals(64L << 10, Args.size("--sizes", "64KiB"));
        assertEquals(16L << 20, Args.size("--sizes", "16m"));
        var e = assertThrows(Main.UsageException.class, () -> Args.size("--max-bytes", "1.5M"));
        assertTrue(e.getMessage().startsWith("--max-bytes='1.5M' is not a size"), e.getMessage());
        e = assertThrows(Main.UsageException.class, () -> Args.size("--sizes", "99999999999999999999T"));
        assertEquals("--sizes='99999999999999999999T' is out of range; allowed: 0 to 64G", e.getMessage());
    }

    @Test
    void cliDurationsUseTheLibrarysOneDurationSyntax() {
        assertEquals(Duration.ofMillis(2500), Args.duration("--timeout", "2.5"));
        assertEquals(Duration.ofMillis(250), Args.duration("--duration", "250ms"));
        var e = assertThrows(Main.UsageException.class, () -> Args.duration("--timeout", "1e12"));
        assertTrue(e.getMessage().startsWith("--timeout='1e12' is not a duration"), e.getMessage());
        e = assertThrows(Main.UsageException.class, () -> Args.duration("--duration", "1000000000000"));
        assertEquals("--duration='1000000000000' is out of range; allowed: 1ms to 365d", e.getMessage());
    }
}
