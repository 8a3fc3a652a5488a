package ds.comm.tool;

import ds.comm.topology.Quantities;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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

    /** Largest size an option takes: 64 GiB (every size here is a buffer some rank allocates). */
    static final long MAX_SIZE = 64L << 30;

    /** Bytes in the library's one size syntax (4096, 64K, 16M, 1G; see {@link Quantities}), 0 to 64G. */
    static long size(String name, String v) {
        try {
            return Quantities.bytes(name, v, 0, MAX_SIZE);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
    }

    /** A duration in the library's one duration syntax (30, 2.5, 500ms, 2m; see {@link Quantities}), 1ms to 365d. */
    static Duration duration(String name, String v) {
        try {
            return Quantities.duration(name, v, Quantities.MIN_DURATION, Quantities.MAX_DURATION);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
    }

    /** "4096" -> "4K", "16777216" -> "16M". */
    static String humanSize(long bytes) {
        return Quantities.humanSize(bytes);
    }
}
