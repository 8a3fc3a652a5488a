package ds.comm.shm;

import org.junit.jupiter.api.Tag;
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
@Tag("multiprocess")
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
        List<String> logs = runRanks(3, "5");
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(logs.get(rank).contains("rank " + rank + " ok after 60 all-reduces"), logs.get(rank));
        }
    }

    @Test
    void aPeerProcessThatDiesIsReportedLostLongBeforeTheTimeout() throws Exception {
        List<String> logs = runRanks(2, "1", "crash");
        assertTrue(logs.get(0).contains("rank 0 detected lost peer"), logs.get(0));
        long millis = Long.parseLong(logs.get(0).replaceAll("(?s).*after (\\d+) ms.*", "$1"));
        assertTrue(millis < 5_000, "took " + millis + " ms; the timeout is 20 s");
    }

    @Test
    void aRankThatDiesHoldingASymmetricTensorIsReportedLostAndLeavesNoFileBehind() throws Exception {
        List<String> logs = runRanks(3, "1", "crash-symmetric");
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(logs.get(rank).contains("rank " + rank + " detected lost peer"), logs.get(rank));
        }
        assertEquals(List.of(), ranks.files(), "tensor files are unlinked once mapped: a crash leaves none");
    }

    /** Starts n rank processes, reaps them within 60 s; the last rank may exit 3 (a crash on purpose). */
    private List<String> runRanks(int n, String... extra) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path logs = Files.createTempDirectory("dscomm-shm-mp-");
        List<Process> processes = new ArrayList<>();
        try {
            for (int rank = 0; rank < n; rank++) {
                List<String> command = new ArrayList<>(List.of(java.toString(), "-Xmx64m", "-XX:+UseSerialGC",
                        "-XX:TieredStopAtLevel=1", "--enable-native-access=ALL-UNNAMED",
                        "-cp", System.getProperty("java.class.path"), ShmRankMain.class.getName(),
                        ranks.dir.toString(), ranks.job, Integer.toString(rank), Integer.toString(n)));
                command.addAll(List.of(extra));
                processes.add(new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(logs.resolve("rank" + rank + ".log").toFile())
                        .start());
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            List<String> out = new ArrayList<>();
            for (int rank = 0; rank < n; rank++) {
                Process p = processes.get(rank);
                boolean exited = p.waitFor(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                String log = Files.readString(logs.resolve("rank" + rank + ".log"));
                assertTrue(exited, "rank " + rank + " still running after 60 s: " + log);
                boolean crashedOnPurpose = extra.length > 1 && rank == n - 1;
                assertEquals(crashedOnPurpose ? 3 : 0, p.exitValue(), "rank " + rank + " failed: " + log);
                out.add(log);
            }
            return out;
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
