package ds.comm.tool;

import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LauncherKind;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * One line per log record, prefixed with the rank, for the tool's own processes.
 *
 * <p>The JDK's default console format spends two lines on a record (time and source, then level
 * and message); with several ranks writing to one terminal (srun, mpirun) the halves of different
 * ranks' records interleave and nobody can tell whose warning is whose. Each record here is one
 * line, {@code [rank R] HH:mm:ss.SSS LEVEL logger: message}, written in one piece; a stack trace
 * follows on lines of its own, each with the same prefix.
 *
 * <p>Under {@code bin/dscomm launch} the launcher already prefixes every line of a rank with
 * {@code [rank R]}, so no second prefix is added. A user who configured logging
 * ({@code java.util.logging.config.file}, {@code .config.class} or
 * {@code java.util.logging.SimpleFormatter.format}) keeps their configuration. The library itself
 * never touches logging configuration: that belongs to the application (see docs/module-info.md).
 */
final class ConsoleLogFormat extends Formatter {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    private final String prefix;

    ConsoleLogFormat(String prefix) {
        this.prefix = prefix;
    }

    /**
     * Replaces the format of the root logger's console handlers, unless the user configured
     * logging.
     *
     * @param properties the system properties
     * @param env        the process environment, for the rank
     * @return whether the format was installed
     */
    static boolean install(Properties properties, Map<String, String> env) {
        if (userConfigured(properties)) return false;
        ConsoleLogFormat format = new ConsoleLogFormat(rankPrefix(env));
        boolean installed = false;
        for (Handler h : Logger.getLogger("").getHandlers()) {
            if (h instanceof ConsoleHandler) {
                h.setFormatter(format);
                installed = true;
            }
        }
        return installed;
    }

    static boolean userConfigured(Properties properties) {
        return properties.getProperty("java.util.logging.config.file") != null
                || properties.getProperty("java.util.logging.config.class") != null
                || properties.getProperty("java.util.logging.SimpleFormatter.format") != null;
    }

    /** "[rank R] " for a rank of a job, "" for a single process or under bin/dscomm launch. */
    static String rankPrefix(Map<String, String> env) {
        try {
            LaunchEnv launch = LaunchEnv.detectWithoutRendezvous(env);
            if (!launch.launched() || launch.launcher() == LauncherKind.DSCOMM && "dscomm".equals(env.get("DSCOMM_LAUNCHER"))) {
                return "";
            }
            return "[rank " + launch.rank() + "] ";
        } catch (RuntimeException e) {
            // Malformed launcher variables are reported by the command itself, not here.
            return "";
        }
    }

    @Override
    public String format(LogRecord record) {
        StringBuilder sb = new StringBuilder(160).append(prefix)
                .append(TIME.format(Instant.ofEpochMilli(record.getMillis()))).append(' ')
                .append(record.getLevel().getName()).append(' ')
                .append(record.getLoggerName() == null ? "" : record.getLoggerName()).append(": ");
        String message = formatMessage(record);
        // A message of several lines stays one record: its line breaks become " | ".
        sb.append(message == null ? "" : message.strip().replaceAll("\\R+", " | "));
        sb.append(System.lineSeparator());
        if (record.getThrown() != null) {
            StringWriter trace = new StringWriter();
            record.getThrown().printStackTrace(new PrintWriter(trace));
            trace.toString().lines().forEach(l -> sb.append(prefix).append("    ").append(l).append(System.lineSeparator()));
        }
        return sb.toString();
    }
}
