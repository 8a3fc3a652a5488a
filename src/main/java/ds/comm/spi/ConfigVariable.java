package ds.comm.spi;

import java.util.StringJoiner;

/**
 * Every {@code DSCOMM_*} setting, written once: its variable, the {@code CommConfig} setter, the
 * default, the allowed range and the line that documents it. The resolver reads defaults and
 * ranges from here, {@link Settings#defaults()} builds from here, and {@code CommConfig}'s javadoc
 * table and the README's table are checked against {@link #javadocTable()} and
 * {@link #markdownTable()} by a test, so the three can no longer drift apart.
 *
 * <p>Numeric settings carry their default and range as numbers (bytes, or nanoseconds for
 * durations); the others carry only text. Launcher variables ({@code RANK}, {@code MASTER_ADDR},
 * {@code DSCOMM_JOB_SECRET}, …) are not settings and are documented with the launchers.
 */
public enum ConfigVariable {

    BACKEND("DSCOMM_BACKEND", "backend", "=auto|shm|ring|hier|mpi", "auto"),
    SHM("DSCOMM_SHM", "shmEnabled", "=0 turns SHM (and HIER) off for AUTO", "on"),
    MPI("DSCOMM_MPI", "mpiEnabled", "=0 keeps MPI out of AUTO", "on"),
    TIMEOUT("DSCOMM_TIMEOUT", "timeout", Unit.NANOS, 30_000_000_000L, 1_000_000L, 365L * 86_400_000_000_000L,
            "30 s", null),
    PEER_LOST_TIMEOUT("DSCOMM_PEER_LOST_TIMEOUT", "peerLostTimeout", Unit.NANOS, 3_000_000_000L, 1_000_000L,
            365L * 86_400_000_000_000L, "3 s (never above the timeout)", null),
    SHM_DIR("DSCOMM_SHM_DIR", "shmDir", "", "/dev/shm"),
    SHM_BYTES("DSCOMM_SHM_BYTES", "shmBytes", Unit.BYTES, 4L << 20, 64L << 10, 64L << 30, "4M", "per rank"),
    SMALL_BYTES("DSCOMM_SMALL_BYTES", "smallMessageBytes", Unit.BYTES, 64L << 10, 0, 64L << 30, "64K", null),
    CHUNK_BYTES("DSCOMM_CHUNK_BYTES", "chunkBytes", Unit.BYTES, 1L << 20, 4096, 1L << 30, "1M", null),
    VECTOR_BITS("DSCOMM_VECTOR_BITS", "vectorBits", "=0|64|128|256|512", "the JVM's preferred width"),
    IDLE("DSCOMM_IDLE", "idle", "=adaptive|backoff|spin|park", "{@link IdlePolicy#adaptive()}"),
    WARMUP("DSCOMM_WARMUP", "warmUp",
            "=0|1|all|type[:op],… (collective path compiled by init, with the peers; 1 = SUM of fp32 and bf16; a one-type job may name its type)", "1"),
    MPI_LIB("DSCOMM_MPI_LIB", "mpiLibrary", "", "the launcher's own MPI (mpirun: libmpi.so.40; Hydra mpiexec: "
            + "libmpich.so.12, libmpi.so.12); otherwise libmpi.so.40, then MPICH's"),
    MPI_THREADS("DSCOMM_MPI_THREADS", "mpiThreads",
            "=multiple|single (single: MPI without its locks, ds-comm serialises its calls; for groups used from one thread at a time)",
            "multiple");

    /** What a numeric setting counts. */
    public enum Unit {
        /** Not numeric. */
        NONE,
        /** Bytes; written with binary K, M, G suffixes. */
        BYTES,
        /** A duration in nanoseconds; written in ms, s, m, h or d. */
        NANOS
    }

    /** The environment variable, e.g. {@code DSCOMM_SHM_BYTES}. */
    public final String variable;
    /** The {@code CommConfig.Builder} method that sets it. */
    public final String setter;
    /** What a numeric value counts; {@link Unit#NONE} for the others. */
    public final Unit unit;
    /** The default of a numeric setting (bytes or nanoseconds); -1 for the others. */
    public final long defaultValue;
    /** The smallest value a numeric setting accepts; -1 for the others. */
    public final long min;
    /** The largest value a numeric setting accepts; -1 for the others. */
    public final long max;
    /** The allowed values as the documentation states them, after the variable's name. */
    public final String values;
    /** The default as the documentation states it. */
    public final String defaultText;

    /** A numeric setting: the values column is derived from the range (and an optional note). */
    ConfigVariable(String variable, String setter, Unit unit, long defaultValue, long min, long max, String defaultText,
                   String note) {
        this.variable = variable;
        this.setter = setter;
        this.unit = unit;
        this.defaultValue = defaultValue;
        this.min = min;
        this.max = max;
        this.defaultText = defaultText;
        this.values = " (" + (note == null ? "" : note + "; ") + format(unit, min) + " to " + format(unit, max) + ")";
    }

    /** A textual setting (a switch, a choice, a path): no number, no range. */
    ConfigVariable(String variable, String setter, String values, String defaultText) {
        this.variable = variable;
        this.setter = setter;
        this.unit = Unit.NONE;
        this.defaultValue = -1;
        this.min = -1;
        this.max = -1;
        this.defaultText = defaultText;
        this.values = values;
    }

    /** The rows of {@code CommConfig}'s javadoc table, one line each, as the class comment holds them. */
    public static String javadocTable() {
        StringJoiner rows = new StringJoiner("\n");
        for (ConfigVariable v : values()) {
            rows.add(" * <tr><td>{@link Builder#" + v.setter + "}</td><td>" + v.variable + v.values + "</td><td>"
                    + v.defaultText + "</td></tr>");
        }
        return rows.toString();
    }

    /** The README's table of settings (markdown), as README.md holds it. */
    public static String markdownTable() {
        StringJoiner rows = new StringJoiner("\n");
        rows.add("| variable | `CommConfig` setter | values | default |");
        rows.add("|---|---|---|---|");
        for (ConfigVariable v : values()) {
            String values = v.values.startsWith("=") ? v.values.substring(1) : v.values.trim();
            if (values.startsWith("(") && values.endsWith(")")) values = values.substring(1, values.length() - 1);
            rows.add("| `" + v.variable + "` | `" + v.setter + "` | " + (values.isEmpty() ? "a path" : values).replace("|", "\\|")
                    + " | " + v.defaultText.replace("{@link IdlePolicy#adaptive()}", "adaptive").replace("|", "\\|") + " |");
        }
        return rows.toString();
    }

    /** A bound as the documentation writes it: 64K, 1G, 1ms, 365d. */
    static String format(Unit unit, long value) {
        if (unit == Unit.BYTES) {
            String[] suffix = {"", "K", "M", "G", "T"};
            int i = 0;
            while (i < suffix.length - 1 && value != 0 && value % 1024 == 0) {
                value /= 1024;
                i++;
            }
            return value + suffix[i];
        }
        long ms = value / 1_000_000;
        if (ms % 86_400_000 == 0) return ms / 86_400_000 + "d";
        if (ms % 3_600_000 == 0) return ms / 3_600_000 + "h";
        if (ms % 60_000 == 0) return ms / 60_000 + "m";
        if (ms % 1000 == 0) return ms / 1000 + "s";
        return ms + "ms";
    }
}
