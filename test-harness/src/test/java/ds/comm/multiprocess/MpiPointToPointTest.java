package ds.comm.multiprocess;

import ds.comm.mpi.MpiLaunch;
import ds.comm.mpi.MpiLibrary;
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
 * Point-to-point and non-blocking collectives through the public API under a real MPI launcher:
 * DSCOMM_BACKEND=mpi (MPI_Send/MPI_Recv), and AUTO with simulated nodes (HIER: same-node pairs
 * through SHM, cross-node pairs through the group's MPI communicator).
 */
class MpiPointToPointTest {

    private static final String CLIENT = ds.comm.tool.scenario.PointToPointScenario.class.getName();

    private static MpiLaunch.Result run(MpiLaunch.Launcher launcher, int ranks, Map<String, String> extraEnv,
                                        boolean simulateNodes, String... args) throws IOException {
        String exe = launcher.find();
        if (exe == null) {
            String msg = "!!! SKIPPING " + launcher.family + " point-to-point test: no launcher on PATH (install openmpi-bin / mpich) !!!";
            System.err.println(msg);
            ds.comm.testkit.RequiredEnvironment.skip(msg);
        }
        Path errors = Files.createTempDirectory("dscomm-mpi-p2p");
        try {
            List<String> command = new ArrayList<>(launcher.command(exe, ranks));
            List<String> rank = MpiLaunch.rankCommand(errors, MpiLaunch.QUICK_START, System.getProperty("java.class.path"),
                    CLIENT, args);
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

    private static void assertAllPass(MpiLaunch.Result r, int ranks) {
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertEquals(List.of(), r.lines("FAIL"), out);
        assertEquals(ranks, r.lines("PASS").size(), out);
    }

    @Test
    @Timeout(180)
    void everyPairExchangesThroughMpiSendAndRecvUnderOpenMpi() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.OPEN_MPI, 3, Map.of("DSCOMM_BACKEND", "mpi"), false, "exchange", "mpi"), 3);
    }

    @Test
    @Timeout(180)
    void hierUnderMpirunSendsAcrossNodesThroughMpiAndWithinThroughShm() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.OPEN_MPI, 4, Map.of(), true, "exchange", "hier"), 4);
    }

    @Test
    @Timeout(180)
    void aReceiveOfTheWrongSizeFailsOnBothRanksUnderMpi() throws IOException {
        MpiLaunch.Result r = run(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "mpi"), false, "mismatch");
        List<String> failed = r.lines("FAILED");
        assertEquals(2, failed.size(), r.output());
        for (String line : failed) {
            assertTrue(line.contains("CollectiveMismatchException") && line.contains("group rank 0")
                    && line.contains("group rank 1") && line.contains("4096") && line.contains("4000"), line);
        }
    }

    @Test
    @Timeout(180)
    void everyPairExchangesUnderMpich() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.MPICH, 2, Map.of("DSCOMM_BACKEND", "mpi"), false, "exchange", "mpi"), 2);
    }
}
