package ds.comm.mpi;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A user's modular application ({@code module app { requires ds.comm; }}, compiled here against
 * target/classes) started directly by an MPI launcher, as a new user would: no DSCOMM_MPI_LIB, no
 * MASTER_ADDR/MASTER_PORT. Under MPICH's mpiexec ds-comm must load MPICH's library (not Open
 * MPI's, which would see a world of one on every rank); under an MPI launcher a forced SHM or
 * HIER backend must meet through MPI instead of demanding MASTER_PORT, and a forced RING must learn
 * rank 0's rendezvous address (and a job secret) through MPI.
 */
@Tag("multiprocess")
@Tag("mpi")
class ModularClientUnderMpiTest {

    private static final String APP_INFO = """
            module app {
                requires ds.comm;
            }
            """;

    private static final String APP_MAIN = """
            package app;

            import ds.comm.Communicator;
            import ds.comm.DType;
            import ds.comm.ReduceOp;
            import java.lang.foreign.Arena;
            import java.lang.foreign.MemorySegment;
            import java.lang.foreign.ValueLayout;

            public final class Main {
                public static void main(String[] args) {
                    int n = 1025;
                    try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
                        MemorySegment s = arena.allocate(4L * n, 64);
                        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, comm.rank() + 1 + i);
                        comm.allReduce(s, DType.FP32, ReduceOp.SUM);
                        // A non-blocking call too: the progress thread calls MPI as well.
                        MemorySegment t = Arena.ofAuto().allocate(4L * n, 64);
                        for (int i = 0; i < n; i++) t.setAtIndex(ValueLayout.JAVA_FLOAT, i, comm.rank() + 1 + i);
                        comm.allReduceAsync(t, DType.FP32, ReduceOp.SUM).join();
                        if (t.mismatch(s) >= 0) {
                            System.out.println("APP-FAIL rank " + comm.rank() + ": allReduceAsync differs at byte " + t.mismatch(s));
                            System.exit(1);
                        }
                        int size = comm.size();
                        for (int i = 0; i < n; i++) {
                            float expected = size * (size + 1) / 2f + (float) size * i;
                            if (s.getAtIndex(ValueLayout.JAVA_FLOAT, i) != expected) {
                                System.out.println("APP-FAIL rank " + comm.rank() + " element " + i + " = "
                                        + s.getAtIndex(ValueLayout.JAVA_FLOAT, i) + ", expected " + expected);
                                System.exit(1);
                            }
                        }
                        System.out.println("APP-OK rank " + comm.rank() + " of " + size + " backend " + comm.backend());
                    }
                }
            }
            """;

    private static Path appDir;

    @BeforeAll
    static void compileTheApplication() throws IOException {
        appDir = Files.createTempDirectory("dscomm-modular-app");
        Path src = appDir.resolve("src");
        Files.createDirectories(src.resolve("app"));
        Files.writeString(src.resolve("module-info.java"), APP_INFO);
        Files.writeString(src.resolve("app/Main.java"), APP_MAIN);
        ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow();
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int rc = javac.run(new PrintStream(errors), new PrintStream(errors), "--release", "25",
                "--module-path", Path.of(MpiLaunch.mainClasses()).toAbsolutePath().toString(),
                "-d", appDir.resolve("classes").toString(),
                src.resolve("module-info.java").toString(), src.resolve("app/Main.java").toString());
        assertEquals(0, rc, "the modular client compiles against ds.comm: " + errors);
    }

    @AfterAll
    static void removeTheApplication() throws IOException {
        if (appDir == null) return;
        try (Stream<Path> all = Files.walk(appDir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** Starts {@code ranks} ranks of the app module on the module path under the launcher. */
    private static MpiLaunch.Result runApp(MpiLaunch.Launcher launcher, int ranks, Map<String, String> env)
            throws IOException {
        String exe = launcher.find();
        if (exe == null) {
            String msg = "!!! SKIPPING " + launcher.family + " modular-client test: no launcher on PATH (install openmpi-bin / mpich) !!!";
            System.err.println(msg);
            Assumptions.abort(msg);
        }
        List<String> command = new ArrayList<>(launcher.command(exe, ranks));
        if (launcher == MpiLaunch.Launcher.OPEN_MPI) {
            // mpirun passes only what -x names; MPICH's Hydra passes the whole environment.
            for (String k : env.keySet()) command.addAll(List.of("-x", k));
        }
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(MpiLaunch.QUICK_START);
        command.addAll(List.of("--enable-native-access=ds.comm",
                "--module-path", Path.of(MpiLaunch.mainClasses()).toAbsolutePath() + ":" + appDir.resolve("classes"),
                "-m", "app/app.Main"));
        Map<String, String> all = new HashMap<>(env);
        // The user's shell sets neither: they are exactly what must not be needed.
        return runWithout(command, all, List.of("MASTER_ADDR", "MASTER_PORT", "DSCOMM_BACKEND"));
    }

    private static MpiLaunch.Result runWithout(List<String> command, Map<String, String> env, List<String> unset)
            throws IOException {
        // MpiLaunch.run already removes DSCOMM_MPI_LIB; clear the others the same way (an empty
        // value would count as set), by running through env -u.
        List<String> wrapped = new ArrayList<>(List.of("env"));
        for (String u : unset) {
            if (!env.containsKey(u)) wrapped.addAll(List.of("-u", u));
        }
        wrapped.addAll(command);
        return MpiLaunch.run(wrapped, env, 150);
    }

    private static void assertEveryRankOk(MpiLaunch.Result r, int ranks, String backend) {
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertEquals(List.of(), r.lines("APP-FAIL"), out);
        List<String> ok = r.lines("APP-OK");
        assertEquals(ranks, ok.size(), out);
        for (String line : ok) assertTrue(line.contains(" of " + ranks + " backend " + backend), line + "\n" + out);
        assertFalse(out.contains("sees a world of 1"), out);
    }

    @Test
    @Timeout(180)
    void mpichMpiexecRunsTheModularClientInAutoWithoutMpiLibOrMasterPort() throws IOException {
        assertEveryRankOk(runApp(MpiLaunch.Launcher.MPICH, 2, Map.of()), 2, "shm");
    }

    @Test
    @Timeout(180)
    void mpichMpiexecRunsTheModularClientOverMpichsOwnLibrary() throws IOException {
        MpiLaunch.Result r = runApp(MpiLaunch.Launcher.MPICH, 2, Map.of("DSCOMM_BACKEND", "mpi"));
        assertEveryRankOk(r, 2, "mpi: MPICH");
        assertTrue(r.output().contains("(libmpich.so.12)"), r.output());
    }

    @Test
    @Timeout(180)
    void openMpiMpirunWithForcedShmMeetsThroughMpiWithoutMasterPort() throws IOException {
        assertEveryRankOk(runApp(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "shm")), 2, "shm");
    }

    @Test
    @Timeout(180)
    void openMpiMpirunWithForcedHierMeetsThroughMpiWithoutMasterPort() throws IOException {
        assertEveryRankOk(runApp(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "hier")), 2, "hier");
    }

    @Test
    @Timeout(180)
    void openMpiMpirunWithForcedRingGetsRankZerosAddressThroughMpiWithoutMasterPort() throws IOException {
        MpiLaunch.Result r = runApp(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "ring"));
        assertEveryRankOk(r, 2, "ring");
        assertFalse(r.output().contains("DSCOMM_JOB_SECRET is not set"), "rank 0 shared a secret over MPI: " + r.output());
    }

    @Test
    @Timeout(180)
    void mpichMpiexecWithForcedRingGetsRankZerosAddressThroughMpi() throws IOException {
        assertEveryRankOk(runApp(MpiLaunch.Launcher.MPICH, 3, Map.of("DSCOMM_BACKEND", "ring")), 3, "ring");
    }

    @Test
    @Timeout(180)
    void openMpiMpirunRunsTheModularClientOverOpenMpisLibrary() throws IOException {
        MpiLaunch.Result r = runApp(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "mpi"));
        assertEveryRankOk(r, 2, "mpi: Open MPI");
        for (String line : r.lines("APP-OK")) assertTrue(line.contains(", MPI_THREAD_MULTIPLE"), line);
    }
}
