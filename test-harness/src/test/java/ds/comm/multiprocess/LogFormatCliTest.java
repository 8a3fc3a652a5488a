package ds.comm.multiprocess;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A rank of the tool started by an external launcher (here torchrun's variables, as srun or
 * mpirun would give others) writes each log record as one line beginning with its rank, so
 * records of several ranks sharing a terminal cannot interleave half by half.
 */
@Tag("multiprocess")
@Tag("mpi")
class LogFormatCliTest {

    @Test
    @Timeout(120)
    void logRecordsOfARankAreSingleLinesPrefixedWithTheRank() throws Exception {
        File err = Files.createTempFile("dscomm-log-err", ".log").toFile();
        try {
            ProcessBuilder pb = new ProcessBuilder(CliProcess.dscommCli("demo", "--warmup", "0", "--layers", "1",
                    "--hidden", "64", "--tokens", "2")).redirectError(err).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.startsWith("MASTER_"));
            // The JIT warm-up init() runs by default costs seconds per rank JVM on 2 cores;
            // BenchCliTest.initWarmsUpTheCollectivePathOnShmAndRing covers it;
            // a test's env may still ask for it.
            pb.environment().put("DSCOMM_WARMUP", "0");
            pb.environment().putAll(java.util.Map.of("RANK", "0", "WORLD_SIZE", "1"));
            Process p = pb.start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("demo did not finish");
            }
            List<String> lines = Files.readAllLines(err.toPath(), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), String.join("\n", lines));
            List<String> records = lines.stream().filter(l -> !l.contains("Using incubator modules")).toList();
            assertTrue(records.stream().anyMatch(l -> l.matches("\\[rank 0] [0-9:.]+ INFO ds.comm: ds-comm group w .*")),
                    "the backend notice as one prefixed line:\n" + String.join("\n", lines));
            for (String l : records) {
                assertTrue(l.startsWith("[rank 0] "), "every stderr line belongs to a prefixed record: " + l);
                // The JDK's default two-line format starts with a date and ends the first line with the source method.
                assertFalse(l.matches("^[A-Z][a-z]{2} \\d{1,2}, \\d{4} .*"), l);
            }
        } finally {
            Files.deleteIfExists(err.toPath());
        }
    }
}
