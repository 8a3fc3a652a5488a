package ds.comm.tool;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A tiny command-line reader: {@code --name value}, {@code --name=value} and flags, with every
 * mistake reported as a {@link Main.UsageException} naming the option.
 */
final class Args {

    private final String[] args;
    private int i;

    Args(String[] args) {
        this.args = args;
    }

    /** The next token, or null at the end. */
    String next() {
        return i < args.length ? args[i++] : null;
    }

    /** The value of the option {@code name} just read (either "--name=value" or the next token). */
    String value(String token, String name) {
        int eq = token.indexOf('=');
        if (eq > 0) return token.substring(eq + 1);
        if (i >= args.length) throw new Main.UsageException(name + " needs a value");
        return args[i++];
    }

    /** Every token after the current one. */
    List<String> remaining() {
        List<String> out = new ArrayList<>();
        while (i < args.length) out.add(args[i++]);
        return out;
    }

    /** The option name of a token: "--sizes=4K" is "--sizes". */
    static String name(String token) {
        int eq = token.indexOf('=');
        return eq > 0 ? token.substring(0, eq) : token;
    }

    static int positiveInt(String name, String v) {
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 1) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new Main.UsageException(name + " must be a positive integer, got '" + v + "'");
        }
    }

    /** Bytes with an optional K/M/G suffix (binary). */
    static long size(String name, String v) {
        String s = v.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) s = s.substring(0, s.length() - 2);
        else if (s.endsWith("B")) s = s.substring(0, s.length() - 1);
        int shift = s.endsWith("K") ? 10 : s.endsWith("M") ? 20 : s.endsWith("G") ? 30 : 0;
        if (shift > 0) s = s.substring(0, s.length() - 1);
        try {
            long n = Long.parseLong(s);
            if (n < 0 || n > (Long.MAX_VALUE >> shift)) throw new NumberFormatException();
            return n << shift;
        } catch (NumberFormatException e) {
            throw new Main.UsageException(name + ": '" + v + "' is not a size like 4096, 64K, 16M");
        }
    }

    /** "4096" -> "4K", "16777216" -> "16M". */
    static String humanSize(long bytes) {
        if (bytes >= (1L << 30) && bytes % (1L << 30) == 0) return (bytes >> 30) + "G";
        if (bytes >= (1L << 20) && bytes % (1L << 20) == 0) return (bytes >> 20) + "M";
        if (bytes >= (1L << 10) && bytes % (1L << 10) == 0) return (bytes >> 10) + "K";
        return Long.toString(bytes);
    }
}
