package ds.comm.multiprocess;

import static ds.comm.multiprocess.Ranks.gone;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ds.comm.tool.LaunchResult;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code bin/dscomm launch} and {@code doctor} as separate processes. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
class LauncherCliTest {

    @Test
    void sigtermToTheLauncherStopsEveryRankAndItsChildren() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(CliProcess.dscommCli("launch", "-n", "2", "--", "sh", "-c",
                "sleep 60 & echo child $!; wait"));
        try (CliProcess launcher = new CliProcess(pb)) {
            long child0 = Long.parseLong(launcher.await("child", 20_000).replaceAll(".*child ", ""));
            long child1 = Long.parseLong(launcher.await("child", 20_000).replaceAll(".*child ", ""));
            List<Long> ranks = launcher.process.children().map(ProcessHandle::pid).toList();
            assertEquals(2, ranks.size(), "two rank processes under the launcher");
            launcher.process.destroy(); // SIGTERM, as a batch system or Ctrl-C would send
            assertNotEquals(0, launcher.waitFor(15_000));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            for (long pid : List.of(child0, child1, ranks.get(0), ranks.get(1))) {
                while (!gone(pid) && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertTrue(gone(pid), "process " + pid + " outlived the launcher");
            }
        }
    }

    @Test
    void failingRankGivesTheCliANonZeroExitNamingTheRank() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(CliProcess.dscommCli("launch", "-n", "3", "--timeout", "60s", "--",
                "sh", "-c", "if [ $RANK = 1 ]; then exit 7; fi; sleep 60"));
        try (CliProcess launcher = new CliProcess(pb)) {
            assertEquals(1, launcher.waitFor(30_000));
            String all = String.join("\n", launcher.output());
            assertTrue(all.contains("rank 1 exited with code 7"), all);
        }
    }

    @Test
    void doctorUnderTheLauncherPrintsTheVerifiedTableAndTheDisagreeingHint() {
        // 3 ranks on 2 simulated nodes (2 + 1), while the local size variables claim 3 on every node.
        LaunchResult r = Ranks.launch(3, 2, Duration.ofSeconds(60),
                Map.of("LOCAL_WORLD_SIZE", "3", "LOCAL_SIZE", "3", "DSCOMM_TIMEOUT", "30s"),
                "ds.comm.tool.Main", "doctor");
        assertTrue(r.succeeded(), () -> "doctor failed: " + r.firstFailure() + " " + r.output());
        String token = null;
        for (int rank = 0; rank < 3; rank++) {
            String out = String.join("\n", r.outputOf(rank));
            int local = rank < 2 ? 2 : 1;
            assertTrue(out.contains("launcher:     dscomm (rank " + rank + " of 3, local rank " + rank % 2 + " of 3)"), out);
            assertTrue(out.contains("node:         simnode" + rank / 2 + " (DSCOMM_NODE_ID)"), out);
            assertTrue(out.contains("topology:     3 ranks on 2 node(s); this rank: local rank " + rank % 2 + " of "
                    + local + " (verified)"), out);
            assertTrue(out.contains("  node simnode0: ranks [0, 1], leader 0"), out);
            assertTrue(out.contains("  node simnode1: ranks [2], leader 2"), out);
            assertTrue(out.contains("local size:   LOCAL_WORLD_SIZE=3 disagrees with the verified table (" + local
                    + " ranks on this node); the table wins"), out);
            Matcher m = Pattern.compile("job token ([0-9a-f]{32})").matcher(out);
            assertTrue(m.find(), out);
            if (token == null) {
                token = m.group(1);
            }
            assertEquals(token, m.group(1), "every rank saw the same rendezvous");
        }
    }

    @Test
    void doctorWithoutALauncherSaysSingleProcess() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(CliProcess.dscommCli("doctor"));
        for (String v : List.of("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "LOCAL_SIZE", "DSCOMM_RANK",
                "DSCOMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
                "SLURM_PROCID", "SLURM_NTASKS", "SLURM_NPROCS")) {
            pb.environment().remove(v);
        }
        try (CliProcess doctor = new CliProcess(pb)) {
            assertEquals(0, doctor.waitFor(30_000));
            List<String> out = doctor.output();
            assertTrue(out.stream().anyMatch(l -> l.startsWith("jdk:")), out.toString());
            assertTrue(out.contains("launcher:     none (single process)"), out.toString());
        }
    }
}
