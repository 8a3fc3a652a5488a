package ds.comm.tool;

import java.util.Locale;

/**
 * A minimal JSON writer for the tool's {@code --format json}: objects, arrays, strings, numbers,
 * booleans and null, written compactly in call order. Strings are escaped per RFC 8259 (quote,
 * backslash and every control character), so any text (paths, error messages) yields valid JSON.
 * Not a validator: the caller nests begin/end correctly.
 */
final class JsonWriter {

    private final StringBuilder out = new StringBuilder();
    /** Whether the next value or name needs a comma before it. */
    private boolean needComma;

    JsonWriter beginObject() {
        separate();
        out.append('{');
        needComma = false;
        return this;
    }

    JsonWriter endObject() {
        out.append('}');
        needComma = true;
        return this;
    }

    JsonWriter beginArray() {
        separate();
        out.append('[');
        needComma = false;
        return this;
    }

    JsonWriter endArray() {
        out.append(']');
        needComma = true;
        return this;
    }

    /** A member name; the next call writes its value. */
    JsonWriter name(String name) {
        separate();
        quote(name);
        out.append(':');
        needComma = false;
        return this;
    }

    JsonWriter value(String s) {
        separate();
        if (s == null) out.append("null");
        else quote(s);
        needComma = true;
        return this;
    }

    JsonWriter value(long n) {
        separate();
        out.append(n);
        needComma = true;
        return this;
    }

    /** A finite number as written by {@code %s} of its value; NaN and infinities (not JSON) as null. */
    JsonWriter value(double d) {
        separate();
        out.append(Double.isFinite(d) ? String.format(Locale.ROOT, "%s", d) : "null");
        needComma = true;
        return this;
    }

    /** A number with a fixed number of decimals, as the csv writes it, so that both agree. */
    JsonWriter value(double d, int decimals) {
        separate();
        out.append(Double.isFinite(d) ? String.format(Locale.ROOT, "%." + decimals + "f", d) : "null");
        needComma = true;
        return this;
    }

    JsonWriter value(boolean b) {
        separate();
        out.append(b);
        needComma = true;
        return this;
    }

    JsonWriter field(String name, String value) {
        return name(name).value(value);
    }

    JsonWriter field(String name, long value) {
        return name(name).value(value);
    }

    @Override
    public String toString() {
        return out.toString();
    }

    private void separate() {
        if (needComma) out.append(',');
    }

    private void quote(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    // Other control characters, and the two separators JavaScript treats as line ends.
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }
}
