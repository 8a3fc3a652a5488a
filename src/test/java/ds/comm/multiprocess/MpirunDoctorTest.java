package ds.comm.multiprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Open MPI's real {@code mpirun} starts {@code bin/dscomm doctor} twice: doctor must detect Open MPI,
 * the right ranks, and complete a rendezvous through MASTER_ADDR/MASTER_PORT exported with -x.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MpirunDoctorTest {

    private static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (!dir.isEmpty() && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    @Test
    void doctorUnderOpenMpiDetectsItAndTheRanks() throws Exception {
        Path mpirun = mpirun();
        if (mpirun == null) {
            System.err.println("""
                    ############################################################################
                    ## SKIPPED MpirunDoctorTest: no mpirun on PATH. Install Open MPI           ##
                    ## (apt-get install -y openmpi-bin libopenmpi-dev); .ci/run does this.    ##
                    ############################################################################""");
        }
        Assumptions.assumeTrue(mpirun != null, "mpirun not found on PATH: install openmpi-bin to run this test");
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path dscomm = Path.of("bin", "dscomm").toAbsolutePath();
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--oversubscribe", "--tag-output",
                "-np", "2", "-x", "MASTER_ADDR", "-x", "MASTER_PORT", "-x", "DSCOMM_MODULE_PATH", "-x", "JAVA_HOME"));
        if (ProcessHandle.current().info().user().map("root"::equals).orElse(false)) {
            cmd.add(1, "--allow-run-as-root");
        }
        cmd.addAll(List.of(dscomm.toString(), "doctor"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("MASTER_ADDR", "127.0.0.1");
        pb.environment().put("MASTER_PORT", Integer.toString(port));
        pb.environment().put("DSCOMM_TIMEOUT", "30s");
        // Run the classes this build just compiled, with the JDK running the tests (>= 25).
        pb.environment().put("DSCOMM_MODULE_PATH", CliProcess.classes().toString());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        for (String v : List.of("RANK", "WORLD_SIZE", "DSCOMM_RANK", "DSCOMM_WORLD_SIZE", "DSCOMM_NODE_ID")) {
            pb.environment().remove(v);
        }
        try (CliProcess run = new CliProcess(pb)) {
            int exit = run.waitFor(90_000);
            List<String> out = run.output();
            String all = String.join("\n", out);
            assertEquals(0, exit, all);
            String token = null;
            for (int rank = 0; rank < 2; rank++) {
                final int r = rank;
                String tag = "[1," + rank + "]<stdout>:";
                List<String> mine = out.stream().filter(l -> l.startsWith(tag)).map(l -> l.substring(tag.length())).toList();
                assertTrue(mine.contains("launcher:     openmpi (rank " + rank + " of 2, local rank " + rank + " of 2)"),
                        all);
                assertTrue(mine.stream().anyMatch(l -> l.startsWith("topology:     2 ranks on 1 node(s); this rank: local rank "
                        + r + " of 2")), all);
                Matcher m = Pattern.compile("job token ([0-9a-f]{32})").matcher(String.join("\n", mine));
                assertTrue(m.find(), all);
                token = token == null ? m.group(1) : token;
                assertEquals(token, m.group(1), "both ranks joined one rendezvous");
            }
        }
    }
}
