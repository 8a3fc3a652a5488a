package ds.comm.shm;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ranks as real processes: separate address spaces mapping the same tmpfs files. */
@Timeout(90)
class ShmMultiProcessTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    @Test
    void threeProcessesAllReduceToTheReferenceAndLeaveNoFiles() throws Exception {
        int n = 3;
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path logs = Files.createTempDirectory("dscomm-shm-mp-");
        List<Process> processes = new ArrayList<>();
        try {
            for (int rank = 0; rank < n; rank++) {
                processes.add(new ProcessBuilder(java.toString(), "-Xmx64m", "-XX:+UseSerialGC",
                        "-XX:TieredStopAtLevel=1", "--enable-native-access=ALL-UNNAMED",
                        "-cp", System.getProperty("java.class.path"), ShmRankMain.class.getName(),
                        ranks.dir.toString(), ranks.job, Integer.toString(rank), Integer.toString(n), "5")
                        .redirectErrorStream(true)
                        .redirectOutput(logs.resolve("rank" + rank + ".log").toFile())
                        .start());
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (int rank = 0; rank < n; rank++) {
                Process p = processes.get(rank);
                boolean exited = p.waitFor(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                String log = Files.readString(logs.resolve("rank" + rank + ".log"));
                assertTrue(exited, "rank " + rank + " still running after 60 s: " + log);
                assertEquals(0, p.exitValue(), "rank " + rank + " failed: " + log);
                assertTrue(log.contains("rank " + rank + " ok after 60 all-reduces"), log);
            }
        } finally {
            for (Process p : processes) {
                if (p.isAlive()) {
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                }
            }
            try (var files = Files.list(logs)) {
                for (Path f : files.toList()) Files.delete(f);
            }
            Files.delete(logs);
        }
    }
}
