package ds.comm.topology;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one parser of durations and byte sizes for every {@code DSCOMM_*} variable and every CLI
 * option that takes one, so that a value means the same wherever it is written.
 *
 * <p><b>Durations</b>: a decimal number and an optional unit, surrounding blanks ignored:
 * <pre>
 *   duration := digits [ "." digits ] [ unit ]      digits: 1..30 on each side of the point
 *   unit     := "ms" | "s" | "m" | "h" | "d"        (any case; none means seconds)
 * </pre>
 * {@code 30}, {@code 2.5}, {@code 30s}, {@code 250ms}, {@code 0.5s}, {@code 2m}, {@code 1h} are
 * durations; a sign, an exponent ({@code 1e3}), a blank between number and unit ({@code 30 s}),
 * a bare point ({@code .5}, {@code 5.}), other units ({@code us}, {@code 1w}) and anything finer
 * than a millisecond ({@code 0.0006}) are rejected, never rounded.
 *
 * <p><b>Sizes</b>: a whole number of bytes and an optional binary multiple:
 * <pre>
 *   size := digits [ "K" | "M" | "G" | "T" ] [ "B" | "iB" ]   digits: 1..30   (any case)
 * </pre>
 * {@code 4096}, {@code 64K}, {@code 64KiB}, {@code 64kb}, {@code 16M}, {@code 1G} are sizes (K is
 * 1024); fractions, signs, exponents and inner blanks are rejected.
 *
 * <p><b>Bounds come first.</b> The number is read as an exact decimal of bounded length and
 * compared with the caller's range before it becomes a {@code long} or a {@link Duration}, so no
 * spelling of a huge value can overflow ({@code 1e12} seconds was once an
 * {@code ArithmeticException: long overflow}). Every error names the variable, the value and the
 * allowed range.
 */
public final class Quantities {

    /** The longest duration any setting accepts: longer is a typo, and its nanoseconds still fit a long. */
    public static final Duration MAX_DURATION = Duration.ofDays(365);

    /** The shortest positive duration: the parser's resolution. */
    public static final Duration MIN_DURATION = Duration.ofMillis(1);

    private static final Pattern DURATION = Pattern.compile("(\\d{1,30})(?:\\.(\\d{1,30}))?(ms|s|m|h|d)?",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern SIZE = Pattern.compile("(\\d{1,30})([KMGT])?(B|IB)?", Pattern.CASE_INSENSITIVE);

    private Quantities() {
    }

    /**
     * Parses a duration (grammar above) and checks it against {@code [min, max]}.
     *
     * @param name what the value is called in messages, e.g. "DSCOMM_TIMEOUT" or "--timeout"
     * @param text the value as written
     * @param min  smallest allowed, at least {@link #MIN_DURATION}
     * @param max  largest allowed, at most {@link #MAX_DURATION}
     * @throws IllegalArgumentException naming {@code name}, {@code text} and the range
     */
    public static Duration duration(String name, String text, Duration min, Duration max) {
        String range = "allowed: " + format(min) + " to " + format(max);
        Matcher m = text == null ? null : DURATION.matcher(text.strip());
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException(name + "='" + text + "' is not a duration such as 30, 2.5, 30s, 250ms,"
                    + " 0.5s or 2m (a number of seconds, or a number with ms, s, m, h or d; no sign, exponent or"
                    + " blank before the unit); " + range);
        }
        BigDecimal number = new BigDecimal(m.group(1) + (m.group(2) == null ? "" : "." + m.group(2)));
        String unit = m.group(3) == null ? "s" : m.group(3).toLowerCase(Locale.ROOT);
        long millisPerUnit = switch (unit) {
            case "ms" -> 1;
            case "s" -> 1_000;
            case "m" -> 60_000;
            case "h" -> 3_600_000;
            default -> 86_400_000;
        };
        BigDecimal millis = number.multiply(BigDecimal.valueOf(millisPerUnit));
        if (millis.signum() == 0) {
            throw new IllegalArgumentException(name + "='" + text + "' must be positive; " + range);
        }
        if (millis.stripTrailingZeros().scale() > 0) {
            throw new IllegalArgumentException(name + "='" + text + "' is finer than a millisecond; " + range);
        }
        if (millis.compareTo(BigDecimal.valueOf(min.toMillis())) < 0
                || millis.compareTo(BigDecimal.valueOf(max.toMillis())) > 0) {
            throw new IllegalArgumentException(name + "='" + text + "' is out of range; " + range);
        }
        return Duration.ofMillis(millis.longValueExact());
    }

    /**
     * Parses a size in bytes (grammar above) and checks it against {@code [min, max]}.
     *
     * @param name what the value is called in messages, e.g. "DSCOMM_SHM_BYTES" or "--sizes"
     * @param text the value as written
     * @param min  smallest allowed (>= 0)
     * @param max  largest allowed
     * @throws IllegalArgumentException naming {@code name}, {@code text} and the range
     */
    public static long bytes(String name, String text, long min, long max) {
        String range = "allowed: " + humanSize(min) + " to " + humanSize(max);
        Matcher m = text == null ? null : SIZE.matcher(text.strip());
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException(name + "='" + text + "' is not a size such as 4096, 64K, 16M or 1G"
                    + " (whole bytes, K/M/G/T binary multiples, optional B or iB); " + range);
        }
        int shift = m.group(2) == null ? 0 : switch (Character.toUpperCase(m.group(2).charAt(0))) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            default -> 40;
        };
        BigInteger value = new BigInteger(m.group(1)).shiftLeft(shift);
        if (value.compareTo(BigInteger.valueOf(min)) < 0 || value.compareTo(BigInteger.valueOf(max)) > 0) {
            throw new IllegalArgumentException(name + "='" + text + "' is out of range; " + range);
        }
        return value.longValueExact();
    }

    /** Checks an already-typed duration (a {@code CommConfig} setter) against the same kind of range. */
    public static Duration checkDuration(String name, Duration d, Duration min, Duration max) {
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new IllegalArgumentException(name + " " + d + " is out of range; allowed: " + format(min) + " to "
                    + format(max));
        }
        return d;
    }

    /** Checks an already-typed size (a {@code CommConfig} setter) against the same kind of range. */
    public static long checkBytes(String name, long bytes, long min, long max) {
        if (bytes < min || bytes > max) {
            throw new IllegalArgumentException(name + " " + bytes + " is out of range; allowed: " + humanSize(min)
                    + " to " + humanSize(max));
        }
        return bytes;
    }

    /** "4096" -> "4K", "16777216" -> "16M", "100" -> "100". */
    public static String humanSize(long bytes) {
        if (bytes >= (1L << 40) && bytes % (1L << 40) == 0) return (bytes >> 40) + "T";
        if (bytes >= (1L << 30) && bytes % (1L << 30) == 0) return (bytes >> 30) + "G";
        if (bytes >= (1L << 20) && bytes % (1L << 20) == 0) return (bytes >> 20) + "M";
        if (bytes >= (1L << 10) && bytes % (1L << 10) == 0) return (bytes >> 10) + "K";
        return Long.toString(bytes);
    }

    /** A duration in the parser's own syntax: "1ms", "30s", "2m", "365d". */
    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms % 86_400_000 == 0 && ms > 0) return ms / 86_400_000 + "d";
        if (ms % 3_600_000 == 0 && ms > 0) return ms / 3_600_000 + "h";
        if (ms % 60_000 == 0 && ms > 0) return ms / 60_000 + "m";
        if (ms % 1_000 == 0 && ms > 0) return ms / 1_000 + "s";
        return ms + "ms";
    }
}
