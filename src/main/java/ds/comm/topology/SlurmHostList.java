package ds.comm.topology;

import java.util.ArrayList;
import java.util.List;

/**
 * Slurm's compressed host-list syntax, as in {@code SLURM_STEP_NODELIST}: comma-separated
 * entries, each a host name with optional bracketed numeric ranges, e.g. {@code node[01-04,07]},
 * {@code a[1-2],b3}, {@code rack[1-2]-n[01-02]} (several ranges expand outermost first, as
 * {@code scontrol show hostnames} does).
 *
 * <p>A range's lower bound fixes the zero padding ({@code [08-10]} is 08, 09, 10). Every mistake
 * (unbalanced or nested brackets, an empty entry or range, a bound that is not a number, an upper
 * bound below the lower one, more hosts than asked for) is an {@link IllegalArgumentException}
 * naming the list and the position, never a silently wrong host.
 */
public final class SlurmHostList {

    /** Longest list text accepted: far above any real node list, small enough to parse at once. */
    public static final int MAX_LENGTH = 64 * 1024;

    /** Digits accepted in one range bound: keeps bounds inside a long with room to spare. */
    private static final int MAX_BOUND_DIGITS = 9;

    private SlurmHostList() {
    }

    /**
     * The first host of a list: what srun's task 0 runs on under every standard distribution.
     * Validates the whole list, but expands nothing.
     *
     * @param list a Slurm host list, e.g. {@code node[01-04,07]}
     * @return the first host, e.g. {@code node01}
     * @throws IllegalArgumentException when the list is malformed
     */
    public static String first(String list) {
        List<Entry> entries = parse(list);
        return entries.getFirst().host(0);
    }

    /**
     * Every host of a list, in Slurm's order.
     *
     * @param list     a Slurm host list
     * @param maxHosts the most hosts to produce; a longer list is refused rather than truncated
     * @return the hosts
     * @throws IllegalArgumentException when the list is malformed or holds more than {@code maxHosts}
     */
    public static List<String> expand(String list, int maxHosts) {
        List<String> hosts = new ArrayList<>();
        for (Entry e : parse(list)) {
            long n = e.count();
            if (n > maxHosts - hosts.size()) {
                throw new IllegalArgumentException("host list '" + abbreviate(list) + "' holds more than " + maxHosts + " hosts");
            }
            for (int i = 0; i < n; i++) hosts.add(e.host(i));
        }
        return hosts;
    }

    /** One comma-separated entry: literal text and ranges, alternating ("node", [01-04,07], ""). */
    private record Entry(List<String> literals, List<List<Range>> ranges) {

        long count() {
            long n = 1;
            for (List<Range> r : ranges) {
                long c = 0;
                for (Range x : r) c += x.count();
                n = Math.multiplyExact(n, c);
            }
            return n;
        }

        /** The {@code index}-th host, the first range varying slowest. */
        String host(long index) {
            long[] pick = new long[ranges.size()];
            for (int k = ranges.size() - 1; k >= 0; k--) {
                long c = 0;
                for (Range x : ranges.get(k)) c += x.count();
                pick[k] = index % c;
                index /= c;
            }
            StringBuilder sb = new StringBuilder(literals.getFirst());
            for (int k = 0; k < ranges.size(); k++) {
                long i = pick[k];
                for (Range x : ranges.get(k)) {
                    if (i < x.count()) {
                        sb.append(x.format(x.lo() + i));
                        break;
                    }
                    i -= x.count();
                }
                sb.append(literals.get(k + 1));
            }
            return sb.toString();
        }
    }

    /** lo..hi inclusive, formatted at least {@code width} digits wide. */
    private record Range(long lo, long hi, int width) {
        long count() {
            return hi - lo + 1;
        }

        String format(long v) {
            String s = Long.toString(v);
            return s.length() >= width ? s : "0".repeat(width - s.length()) + s;
        }
    }

    private static List<Entry> parse(String list) {
        if (list == null) throw new IllegalArgumentException("host list is missing");
        String s = list.strip();
        if (s.isEmpty()) throw new IllegalArgumentException("host list is empty");
        if (s.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("host list is " + s.length() + " characters long; at most " + MAX_LENGTH);
        }
        List<Entry> entries = new ArrayList<>();
        int start = 0;
        int depth = 0;
        for (int i = 0; i <= s.length(); i++) {
            char c = i < s.length() ? s.charAt(i) : ',';
            if (c == '[') {
                if (depth++ > 0) throw malformed(list, i, "nested '['");
            } else if (c == ']') {
                if (depth-- == 0) throw malformed(list, i, "']' without '['");
            } else if (c == ',' && depth == 0) {
                entries.add(entry(list, s.substring(start, i), start));
                start = i + 1;
            }
        }
        if (depth != 0) throw malformed(list, s.length(), "'[' is never closed");
        return entries;
    }

    private static Entry entry(String list, String text, int offset) {
        if (text.isEmpty()) throw malformed(list, offset, "empty host name");
        List<String> literals = new ArrayList<>();
        List<List<Range>> ranges = new ArrayList<>();
        int i = 0;
        while (true) {
            int open = text.indexOf('[', i);
            String literal = text.substring(i, open < 0 ? text.length() : open);
            for (int k = 0; k < literal.length(); k++) {
                char c = literal.charAt(k);
                if (c <= ' ' || c > '~') throw malformed(list, offset + i + k, "character " + (int) c + " in a host name");
            }
            literals.add(literal);
            if (open < 0) break;
            int close = text.indexOf(']', open);
            ranges.add(ranges(list, text.substring(open + 1, close), offset + open + 1));
            i = close + 1;
        }
        if (ranges.isEmpty() && literals.getFirst().isEmpty()) throw malformed(list, offset, "empty host name");
        return new Entry(literals, ranges);
    }

    private static List<Range> ranges(String list, String text, int offset) {
        if (text.isEmpty()) throw malformed(list, offset, "empty range '[]'");
        List<Range> out = new ArrayList<>();
        int pos = offset;
        for (String part : text.split(",", -1)) {
            if (part.isEmpty()) throw malformed(list, pos, "empty range");
            int dash = part.indexOf('-');
            String lo = dash < 0 ? part : part.substring(0, dash);
            String hi = dash < 0 ? part : part.substring(dash + 1);
            long l = bound(list, lo, pos);
            long h = bound(list, hi, pos + (dash < 0 ? 0 : dash + 1));
            if (h < l) throw malformed(list, pos, "range " + part + " runs backwards");
            out.add(new Range(l, h, lo.length()));
            pos += part.length() + 1;
        }
        return out;
    }

    private static long bound(String list, String digits, int pos) {
        if (digits.isEmpty() || digits.length() > MAX_BOUND_DIGITS || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw malformed(list, pos, "'" + digits + "' is not a number of 1.." + MAX_BOUND_DIGITS + " digits");
        }
        return Long.parseLong(digits);
    }

    private static IllegalArgumentException malformed(String list, int pos, String what) {
        return new IllegalArgumentException("host list '" + abbreviate(list) + "' is malformed at character " + pos + ": " + what);
    }

    private static String abbreviate(String list) {
        return list.length() <= 200 ? list : list.substring(0, 200) + "...";
    }
}
