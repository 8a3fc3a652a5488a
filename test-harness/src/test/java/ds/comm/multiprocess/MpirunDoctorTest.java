package ds.comm.multiprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real MPI launchers start {@code bin/dscomm doctor} twice: Open MPI's {@code mpirun} (with
 * MASTER_ADDR/MASTER_PORT exported by -x) and MPICH's Hydra {@code mpiexec.mpich}. Doctor must
 * detect the launcher and the right ranks and complete a rendezvous.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
@Tag("mpi")
class MpirunDoctorTest {

    /**
     * Open MPI's launcher: Debian's {@code mpirun.openmpi}, else {@code mpirun} if it is Open MPI's
     * (with MPICH installed too, {@code mpirun} may be either, chosen by update-alternatives).
     */
    private static Path openMpiRun() throws Exception {
        Path plain = null;
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path specific = Path.of(dir, "mpirun.openmpi");
            if (Files.isExecutable(specific)) {
                return specific;
            }
            Path p = Path.of(dir, "mpirun");
            if (plain == null && Files.isExecutable(p)) {
                plain = p;
            }
        }
        if (plain == null) {
            return null;
        }
        Process v = new ProcessBuilder(plain.toString(), "--version").redirectErrorStream(true).start();
        String version = new String(v.getInputStream().readAllBytes());
        if (!v.waitFor(20, TimeUnit.SECONDS)) {
            v.destroyForcibly();
            return null;
        }
        return version.contains("Open MPI") ? plain : null;
    }

    @Test
    void doctorUnderOpenMpiDetectsItAndTheRanks() throws Exception {
        Path mpirun = openMpiRun();
        if (mpirun == null) {
            System.err.println("""
                    ############################################################################
                    ## SKIPPED MpirunDoctorTest: no Open MPI mpirun on PATH. Install Open MPI  ##
                    ## (apt-get install -y openmpi-bin libopenmpi-dev); .ci/run does this.    ##
                    ############################################################################""");
        }
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(mpirun != null,
                "Open MPI's mpirun (mpirun.openmpi) not found on PATH: install openmpi-bin to run this test");
        runDoctor(openMpiCommand(mpirun, "-x", "MASTER_ADDR", "-x", "MASTER_PORT"), rank -> "[1," + rank + "]<stdout>:",
                "openmpi");
    }

    /**
     * Without MASTER_ADDR/MASTER_PORT, as a plain {@code mpirun -np 2 bin/dscomm doctor}: the
     * ranks meet through MPI, as {@code Communicator.init()} does under mpirun, instead of failing
     * for the missing port.
     */
    @Test
    void doctorUnderOpenMpiWithoutMasterPortMeetsThroughMpiAsTheLibraryDoes() throws Exception {
        Path mpirun = openMpiRun();
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(mpirun != null,
                "Open MPI's mpirun (mpirun.openmpi) not found on PATH: install openmpi-bin to run this test");
        ProcessBuilder pb = doctorProcess(openMpiCommand(mpirun));
        pb.environment().remove("MASTER_ADDR");
        pb.environment().remove("MASTER_PORT");
        try (CliProcess run = new CliProcess(pb)) {
            int exit = run.waitFor(90_000);
            List<String> out = run.output();
            String all = String.join("\n", out);
            assertEquals(0, exit, all);
            for (int rank = 0; rank < 2; rank++) {
                String tag = "[1," + rank + "]<stdout>:";
                List<String> mine = out.stream().filter(l -> l.startsWith(tag)).map(l -> l.substring(tag.length())).toList();
                assertTrue(mine.contains("launcher:     openmpi (rank " + rank + " of 2, local rank " + rank + " of 2)"), all);
                assertTrue(mine.stream().anyMatch(l -> l.startsWith("rendezvous:   through MPI (no MASTER_PORT needed) ok in ")), all);
                assertTrue(mine.contains("topology:     2 ranks on 1 node(s); this rank: rank " + rank + " (verified through MPI)"), all);
                assertTrue(mine.stream().anyMatch(l -> l.startsWith("backend:      shm: ranks 0-1 share one node")), all);
            }
        }
    }

    /** Open MPI's mpirun for 2 tagged ranks, passing the module path, JAVA_HOME and {@code extra}. */
    private static List<String> openMpiCommand(Path mpirun, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--oversubscribe", "--tag-output",
                "-np", "2", "-x", "DSCOMM_MODULE_PATH", "-x", "JAVA_HOME"));
        cmd.addAll(List.of(extra));
        if (ProcessHandle.current().info().user().map("root"::equals).orElse(false)) {
            cmd.add(1, "--allow-run-as-root");
        }
        return cmd;
    }

    @Test
    void doctorUnderMpichHydraDetectsItAndTheRanks() throws Exception {
        Path mpiexec = onPath("mpiexec.mpich");
        if (mpiexec == null) {
            System.err.println("## SKIPPED doctorUnderMpichHydraDetectsItAndTheRanks: no mpiexec.mpich (apt-get install mpich)");
        }
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(mpiexec != null, "mpiexec.mpich not found on PATH: install mpich to run this test");
        // Hydra passes the whole environment to local ranks; -prepend-rank tags each line "[R] ".
        runDoctor(List.of(mpiexec.toString(), "-n", "2", "-prepend-rank"), rank -> "[" + rank + "] ", "mpich");
    }

    private static Path onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return Path.of(dir, program);
            }
        }
        return null;
    }

    /**
     * {@code launcher... bin/dscomm doctor} on the classes this build just compiled, with the JDK
     * running the tests (>= 25), and no launcher variables of this JVM's own.
     */
    private static ProcessBuilder doctorProcess(List<String> launcher) {
        List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(List.of(Path.of("bin", "dscomm").toAbsolutePath().toString(), "doctor"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("DSCOMM_TIMEOUT", "30s");
        pb.environment().put("DSCOMM_MODULE_PATH", CliProcess.modulePath());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        for (String v : List.of("RANK", "WORLD_SIZE", "DSCOMM_RANK", "DSCOMM_WORLD_SIZE", "DSCOMM_NODE_ID",
                "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE")) {
            pb.environment().remove(v);
        }
        return pb;
    }

    /** Runs {@code launcher... bin/dscomm doctor} for two ranks and checks what each printed. */
    private static void runDoctor(List<String> launcher, IntFunction<String> tagOf, String launcherName)
            throws Exception {
        ProcessBuilder pb = doctorProcess(launcher);
        pb.environment().put("MASTER_ADDR", "127.0.0.1");
        pb.environment().put("MASTER_PORT", Integer.toString(ds.comm.topology.MasterPort.free()));
        try (CliProcess run = new CliProcess(pb)) {
            int exit = run.waitFor(90_000);
            List<String> out = run.output();
            String all = String.join("\n", out);
            assertEquals(0, exit, all);
            String token = null;
            for (int rank = 0; rank < 2; rank++) {
                final int r = rank;
                String tag = tagOf.apply(rank);
                List<String> mine = out.stream().filter(l -> l.startsWith(tag)).map(l -> l.substring(tag.length())).toList();
                assertTrue(mine.contains("launcher:     " + launcherName + " (rank " + rank + " of 2, local rank " + rank
                        + " of 2)"), all);
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
