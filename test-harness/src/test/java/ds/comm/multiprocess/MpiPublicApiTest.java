package ds.comm.multiprocess;

import ds.comm.mpi.MpiLaunch;
import ds.comm.mpi.MpiLibrary;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client written only against the public API ({@code CollectiveScenario}) under a real MPI
 * launcher with DSCOMM_BACKEND=mpi: every collective exact and bit-identical, splits mapped to
 * MPI_Comm_split, and {@code backend()} naming the MPI library.
 */
@Tag("multiprocess")
@Tag("mpi")
class MpiPublicApiTest {

    private static final String CLIENT = ds.comm.tool.scenario.CollectiveScenario.class.getName();

    private static MpiLaunch.Result run(MpiLaunch.Launcher launcher, int ranks, String... args) throws IOException {
        return run(launcher, ranks, Map.of("DSCOMM_BACKEND", "mpi"), false, args);
    }

    /**
     * @param simulateNodes give ranks 2k and 2k+1 the node identity "mpinode-k" (mpirun cannot
     *                      set a variable per rank, so a shell computes it from the rank)
     */
    private static MpiLaunch.Result run(MpiLaunch.Launcher launcher, int ranks, Map<String, String> extraEnv,
                                        boolean simulateNodes, String... args) throws IOException {
        String exe = launcher.find();
        if (exe == null) {
            String msg = "!!! SKIPPING " + launcher.family + " public-API test: no launcher on PATH (install openmpi-bin / mpich) !!!";
            System.err.println(msg);
            ds.comm.testkit.RequiredEnvironment.skip(msg);
        }
        Path errors = Files.createTempDirectory("dscomm-mpi-api");
        try {
            List<String> command = new ArrayList<>(launcher.command(exe, ranks));
            List<String> rank = MpiLaunch.rankCommand(errors, MpiLaunch.QUICK_START,
                    // The ranks run on this test's class path: the library, the tool (the scenario's
                    // Pattern) and the tool's test classes (the scenario itself).
                    System.getProperty("java.class.path"), CLIENT, args);
            if (simulateNodes) {
                command.addAll(List.of("sh", "-c", "DSCOMM_NODE_ID=mpinode-$((OMPI_COMM_WORLD_RANK / 2)) exec \"$0\" \"$@\""));
            }
            command.addAll(rank);
            Map<String, String> env = new HashMap<>(extraEnv);
            if (launcher.library != null) env.put(MpiLibrary.LIBRARY_VARIABLE, launcher.library);
            return MpiLaunch.run(command, env, 150);
        } finally {
            try (var left = Files.list(errors)) {
                for (Path p : left.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(errors);
        }
    }

    private static void assertAllPass(MpiLaunch.Result r, int ranks, String library) {
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertEquals(List.of(), r.lines("FAIL"), out);
        assertEquals(ranks, r.lines("PASS").size(), out);
        assertTrue(out.contains("backend mpi: " + library), out);
    }

    @Test
    @Timeout(180)
    void publicApiClientIsExactAndBitIdenticalUnderOpenMpiWithFourRanks() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.OPEN_MPI, 4, "--counts", "0,1,7,1025,4099", "--expect", "mpi", "--split-expect", "mpi"),
                4, "Open MPI");
    }

    @Test
    @Timeout(180)
    void autoUnderMpirunUsesShmInsideEachNodeAndMpiBetweenNodes() throws IOException {
        MpiLaunch.Result r = run(MpiLaunch.Launcher.OPEN_MPI, 4, Map.of(), true,
                "--counts", "0,1,1025,20000", "--ops", "sum,max", "--expect", "hier", "--split-expect", "shm");
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertEquals(List.of(), r.lines("FAIL"), out);
        assertEquals(4, r.lines("PASS").size(), out);
        assertTrue(out.contains("SHM inside each node, MPI between nodes"), out);
    }

    @Test
    @Timeout(180)
    void publicApiClientIsExactAndBitIdenticalUnderMpich() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.MPICH, 2, "--counts", "0,1,7,1025", "--expect", "mpi", "--split-expect", "mpi"),
                2, "MPICH");
    }
}
