package ds.comm.topology;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QuantitiesTest {

    private static final Duration MIN = Quantities.MIN_DURATION;
    private static final Duration MAX = Quantities.MAX_DURATION;

    @ParameterizedTest(name = "''{0}'' is {1} ms")
    @CsvSource(delimiter = '|', value = {
            "30|30000", "2.5|2500", "0.5|500", "30s|30000", "30S|30000", "250ms|250", "250MS|250", "0.5s|500",
            "1.25s|1250", "2m|120000", "1.5m|90000", "1h|3600000", "1d|86400000", "365d|31536000000",
            "' 7 '|7000", "0.001|1", "1ms|1", "007|7000", "30.000|30000", "000000000000000000000000000030s|30000"})
    void everyAcceptedDurationSpellingMeansWhatItSays(String text, long millis) {
        assertEquals(Duration.ofMillis(millis), Quantities.duration("DSCOMM_TIMEOUT", text, MIN, MAX));
    }

    @ParameterizedTest(name = "''{0}'' is not a duration")
    @ValueSource(strings = {"", " ", "1e12", "1E3", "1e-3", "-5", "+5", "30 s", "3 0", ".5", "5.", "0x10", "10x",
            "1us", "1ns", "1w", "s", "ms", "NaN", "Infinity", "1,5", "1_000", "٣", "1.5.2", "30sec"})
    void everyOtherDurationSpellingIsRejectedNamingTheVariableAndRange(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("DSCOMM_TIMEOUT", text, MIN, MAX));
        assertTrue(e.getMessage().startsWith("DSCOMM_TIMEOUT='" + text + "' is not a duration"), e.getMessage());
        assertTrue(e.getMessage().contains("allowed: 1ms to 365d"), e.getMessage());
    }

    @Test
    void nullIsRejectedLikeAnyMalformedValue() {
        assertThrows(IllegalArgumentException.class, () -> Quantities.duration("X", null, MIN, MAX));
        assertThrows(IllegalArgumentException.class, () -> Quantities.bytes("X", null, 0, 1));
    }

    @ParameterizedTest(name = "''{0}'' is out of range")
    @ValueSource(strings = {"1000000000000", "1000000000000s", "31536001", "365.00001d", "366d", "8761h",
            "99999999999999999999999999999d", "9223372036854775807", "9223372036854775808ms"})
    void hugeDurationsAreRejectedBeforeAnyConversionCanOverflow(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("DSCOMM_PEER_LOST_TIMEOUT", text, MIN, MAX));
        assertEquals("DSCOMM_PEER_LOST_TIMEOUT='" + text + "' is out of range; allowed: 1ms to 365d", e.getMessage());
    }

    @ParameterizedTest(name = "''{0}'' is finer than a millisecond")
    @ValueSource(strings = {"0.0006", "1.0005", "0.5ms", "1.0001s", "0.00001m"})
    void subMillisecondDurationsAreRejectedNotRounded(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("DSCOMM_TIMEOUT", text, MIN, MAX));
        assertTrue(e.getMessage().contains("finer than a millisecond"), e.getMessage());
    }

    @ParameterizedTest(name = "''{0}'' is zero")
    @ValueSource(strings = {"0", "0ms", "0.000s", "0d"})
    void zeroDurationsAreRejectedAsNotPositive(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("DSCOMM_TIMEOUT", text, MIN, MAX));
        assertTrue(e.getMessage().contains("'" + text + "' must be positive; allowed: 1ms to 365d"), e.getMessage());
    }

    @Test
    void theCallersRangeIsEnforcedAtBothEnds() {
        assertEquals(Duration.ofSeconds(2), Quantities.duration("--d", "2", Duration.ofSeconds(2), Duration.ofSeconds(5)));
        assertEquals(Duration.ofSeconds(5), Quantities.duration("--d", "5s", Duration.ofSeconds(2), Duration.ofSeconds(5)));
        var low = assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("--d", "1999ms", Duration.ofSeconds(2), Duration.ofSeconds(5)));
        assertEquals("--d='1999ms' is out of range; allowed: 2s to 5s", low.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Quantities.duration("--d", "5001ms", Duration.ofSeconds(2), Duration.ofSeconds(5)));
    }

    @ParameterizedTest(name = "''{0}'' is {1} bytes")
    @CsvSource(delimiter = '|', value = {
            "0|0", "4096|4096", "64K|65536", "64k|65536", "64KB|65536", "64KiB|65536", "64kib|65536", "16M|16777216",
            "16MiB|16777216", "1G|1073741824", "1g|1073741824", "1T|1099511627776", "100B|100", "' 8M '|8388608",
            "9223372036854775807|9223372036854775807"})
    void everyAcceptedSizeSpellingMeansWhatItSays(String text, long bytes) {
        assertEquals(bytes, Quantities.bytes("DSCOMM_SHM_BYTES", text, 0, Long.MAX_VALUE));
    }

    @ParameterizedTest(name = "''{0}'' is not a size")
    @ValueSource(strings = {"", "12Q", "-1", "+1", "1.5M", "1e6", "4 M", "4MB B", "K", "0x100", "1_024", "4Mi",
            "4P", "4 KiB", "NaN"})
    void everyOtherSizeSpellingIsRejectedNamingTheVariableAndRange(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.bytes("DSCOMM_SHM_BYTES", text, 65536, 64L << 30));
        assertTrue(e.getMessage().startsWith("DSCOMM_SHM_BYTES='" + text + "' is not a size"), e.getMessage());
        assertTrue(e.getMessage().contains("allowed: 64K to 64G"), e.getMessage());
    }

    @ParameterizedTest(name = "''{0}'' is out of range")
    @ValueSource(strings = {"65535", "63K", "65G", "1T", "9223372036854775807", "9223372036854775808",
            "99999999999999999999999999999T", "8388608T"})
    void sizesOutsideTheRangeAreRejectedBeforeAnyShiftCanOverflow(String text) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.bytes("DSCOMM_SHM_BYTES", text, 65536, 64L << 30));
        assertEquals("DSCOMM_SHM_BYTES='" + text + "' is out of range; allowed: 64K to 64G", e.getMessage());
    }

    @Test
    void typedValuesAreCheckedAgainstTheSameRanges() {
        assertEquals(Duration.ofDays(365), Quantities.checkDuration("timeout", Duration.ofDays(365), MIN, MAX));
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantities.checkDuration("timeout", Duration.ofSeconds(Long.MAX_VALUE), MIN, MAX));
        assertTrue(e.getMessage().contains("allowed: 1ms to 365d"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Quantities.checkDuration("timeout", Duration.ofNanos(999_999), MIN, MAX));
        assertEquals(4096, Quantities.checkBytes("chunkBytes", 4096, 4096, 1L << 30));
        assertThrows(IllegalArgumentException.class, () -> Quantities.checkBytes("chunkBytes", 4095, 4096, 1L << 30));
        assertThrows(IllegalArgumentException.class, () -> Quantities.checkBytes("chunkBytes", (1L << 30) + 1, 4096, 1L << 30));
    }

    @Test
    void rangesAreWrittenInTheParsersOwnSyntax() {
        assertEquals("1ms", Quantities.format(Duration.ofMillis(1)));
        assertEquals("1500ms", Quantities.format(Duration.ofMillis(1500)));
        assertEquals("30s", Quantities.format(Duration.ofSeconds(30)));
        assertEquals("2m", Quantities.format(Duration.ofMinutes(2)));
        assertEquals("365d", Quantities.format(Duration.ofDays(365)));
        for (Duration d : new Duration[]{Duration.ofMillis(1), Duration.ofMillis(1500), Duration.ofHours(5), Duration.ofDays(365)}) {
            assertEquals(d, Quantities.duration("x", Quantities.format(d), MIN, MAX));
        }
        assertEquals("100", Quantities.humanSize(100));
        assertEquals("64K", Quantities.humanSize(65536));
        assertEquals(65536, Quantities.bytes("x", Quantities.humanSize(65536), 0, Long.MAX_VALUE));
    }
}
