package ds.comm.tool;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tool's log format: one line per record, the rank in front. In-process. */
class ConsoleLogFormatTest {

    private static LogRecord record(Level level, String message) {
        LogRecord r = new LogRecord(level, message);
        r.setLoggerName("ds.comm");
        return r;
    }

    @Test
    void aRecordIsOneLineStartingWithTheRank() {
        String out = new ConsoleLogFormat("[rank 3] ").format(record(Level.WARNING, "DSCOMM_JOB_SECRET is not set"));
        List<String> lines = out.lines().toList();
        assertEquals(1, lines.size(), out);
        assertTrue(lines.get(0).matches("\\[rank 3] \\d\\d:\\d\\d:\\d\\d\\.\\d{3} WARNING ds.comm: DSCOMM_JOB_SECRET is not set"),
                lines.get(0));
    }

    @Test
    void aMessageOfSeveralLinesStaysOneLine() {
        String out = new ConsoleLogFormat("").format(record(Level.INFO, "first\nsecond\r\nthird\n"));
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.strip().endsWith("INFO ds.comm: first | second | third"), out);
    }

    @Test
    void everyLineOfAStackTraceCarriesTheRank() {
        LogRecord r = record(Level.WARNING, "MPI_Finalize failed");
        r.setThrown(new IllegalStateException("boom"));
        List<String> lines = new ConsoleLogFormat("[rank 1] ").format(r).lines().toList();
        assertTrue(lines.size() > 2, lines.toString());
        for (String l : lines) assertTrue(l.startsWith("[rank 1] "), l);
        assertTrue(lines.get(1).contains("java.lang.IllegalStateException: boom"), lines.toString());
    }

    @Test
    void rankPrefixComesFromWhicheverLauncherStartedTheProcess() {
        assertEquals("[rank 2] ", ConsoleLogFormat.rankPrefix(Map.of("SLURM_PROCID", "2", "SLURM_NTASKS", "4")));
        assertEquals("[rank 1] ", ConsoleLogFormat.rankPrefix(Map.of("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals("[rank 1] ", ConsoleLogFormat.rankPrefix(Map.of("PMI_RANK", "1", "PMI_SIZE", "2")));
        assertEquals("[rank 0] ", ConsoleLogFormat.rankPrefix(Map.of("RANK", "0", "WORLD_SIZE", "2")));
        assertEquals("", ConsoleLogFormat.rankPrefix(Map.of()), "a single process has no rank to name");
        assertEquals("", ConsoleLogFormat.rankPrefix(Map.of("RANK", "1", "WORLD_SIZE", "2", "DSCOMM_LAUNCHER", "dscomm")),
                "bin/dscomm launch prefixes every line already");
        assertEquals("", ConsoleLogFormat.rankPrefix(Map.of("RANK", "x", "WORLD_SIZE", "2")), "malformed: no prefix, no throw");
    }

    @Test
    void aUsersOwnLoggingConfigurationIsLeftAlone() {
        assertFalse(ConsoleLogFormat.userConfigured(new Properties()));
        for (String key : List.of("java.util.logging.config.file", "java.util.logging.config.class",
                "java.util.logging.SimpleFormatter.format")) {
            Properties p = new Properties();
            p.setProperty(key, "x");
            assertTrue(ConsoleLogFormat.userConfigured(p), key);
            assertFalse(ConsoleLogFormat.install(p, Map.of()), key);
        }
    }
}
