package ds.comm.tool;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What {@code bin/dscomm doctor} found, in order, once: printed as aligned text lines or as one
 * JSON object whose string members are exactly the texts after the labels (so scripts and people
 * read the same findings), plus the tables (nodes, ranks) as arrays of objects.
 */
final class DoctorReport {

    /** Width of "label:" and its padding in the text form. */
    private static final int LABEL_WIDTH = 14;

    /** One finding: a labelled line, or a table given both as JSON rows and as text lines. */
    private record Entry(String label, String key, String text, List<Map<String, Object>> rows, List<String> lines) {
    }

    private final List<Entry> entries = new ArrayList<>();

    /** A labelled line, e.g. {@code ("byte order", "byte_order", "LITTLE_ENDIAN")}. */
    void line(String label, String key, String text) {
        entries.add(new Entry(label, key, text, null, null));
    }

    /**
     * A table: {@code rows} (values String, Number, Boolean or int[]) for JSON, {@code lines}
     * for text, one per row.
     */
    void table(String key, List<Map<String, Object>> rows, List<String> lines) {
        entries.add(new Entry(null, key, null, rows, lines));
    }

    void printText(PrintStream out) {
        for (Entry e : entries) {
            if (e.rows() != null) {
                e.lines().forEach(out::println);
            } else {
                String label = e.label() + ":";
                out.println(label + " ".repeat(Math.max(1, LABEL_WIDTH - label.length())) + e.text());
            }
        }
    }

    /** The findings and the exit status doctor returns, as one JSON object. */
    String json(int status) {
        JsonWriter w = new JsonWriter().beginObject();
        for (Entry e : entries) {
            w.name(e.key());
            if (e.rows() == null) {
                w.value(e.text());
                continue;
            }
            w.beginArray();
            for (Map<String, Object> row : e.rows()) {
                w.beginObject();
                row.forEach((k, v) -> {
                    w.name(k);
                    switch (v) {
                        case null -> w.value((String) null);
                        case Boolean b -> w.value(b);
                        case Integer i -> w.value(i.longValue());
                        case Long l -> w.value(l.longValue());
                        case int[] ints -> {
                            w.beginArray();
                            for (int i : ints) w.value(i);
                            w.endArray();
                        }
                        default -> w.value(v.toString());
                    }
                });
                w.endObject();
            }
            w.endArray();
        }
        return w.field("status", status).endObject().toString();
    }
}
