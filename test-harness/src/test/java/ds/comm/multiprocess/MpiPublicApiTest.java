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
 * MPI_Comm_split, and {@code backend()} naming the MPI library. Also at the thread level
 * DSCOMM_MPI_THREADS=single: calls from other threads than main still work (serialised), and two
 * groups used from two threads at once end the job through the watchdog with the reason, where
 * the default level runs them concurrently.
 */
@Tag("multiprocess")
@Tag("mpi")
class MpiPublicApiTest {

    private static final String CLIENT = ds.comm.tool.scenario.CollectiveScenario.class.getName();
    private static final String CROSS_THREADS = ds.comm.tool.scenario.CrossThreadGroupsScenario.class.getName();

    private static MpiLaunch.Result run(MpiLaunch.Launcher launcher, int ranks, String... args) throws IOException {
        return run(launcher, ranks, Map.of("DSCOMM_BACKEND", "mpi"), false, CLIENT, args);
    }

    /**
     * @param simulateNodes give ranks 2k and 2k+1 the node identity "mpinode-k" (mpirun cannot
     *                      set a variable per rank, so a shell computes it from the rank)
     * @param mainClass     the rank program
     */
    private static MpiLaunch.Result run(MpiLaunch.Launcher launcher, int ranks, Map<String, String> extraEnv,
                                        boolean simulateNodes, String mainClass, String... args) throws IOException {
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
                    System.getProperty("java.class.path"), mainClass, args);
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
        assertAllPass(run(MpiLaunch.Launcher.OPEN_MPI, 4, "--counts", "0,1,7,1025,4099", "--expect", "mpi", "--split-expect", "mpi",
                "--threads"), 4, "Open MPI");
    }

    @Test
    @Timeout(180)
    void atThreadSingleEveryCollectiveIsExactAndCallsFromOtherThreadsAreSerialisedUnderOpenMpi() throws IOException {
        assertClientPassesAtThreadSingle(MpiLaunch.Launcher.OPEN_MPI, "0,1,7,1025,4099", "Open MPI");
    }

    @Test
    @Timeout(180)
    void atThreadSingleEveryCollectiveIsExactAndCallsFromOtherThreadsAreSerialisedUnderMpich() throws IOException {
        assertClientPassesAtThreadSingle(MpiLaunch.Launcher.MPICH, "0,1,7,1025", "MPICH");
    }

    /** The collective client, calls from other threads included, at DSCOMM_MPI_THREADS=single on 2 ranks. */
    private static void assertClientPassesAtThreadSingle(MpiLaunch.Launcher launcher, String counts, String library)
            throws IOException {
        MpiLaunch.Result r = run(launcher, 2, Map.of("DSCOMM_BACKEND", "mpi", "DSCOMM_MPI_THREADS", "single"),
                false, CLIENT, "--counts", counts, "--expect", "mpi", "--split-expect", "mpi", "--threads");
        assertAllPass(r, 2, library);
        assertTrue(r.output().contains("MPI_THREAD_SINGLE, calls serialised by ds-comm"), r.output());
    }

    @Test
    @Timeout(180)
    void twoGroupsUsedFromTwoThreadsAtOnceRunConcurrentlyAtTheDefaultThreadLevel() throws IOException {
        assertBothRanksPass(runCrossThreadGroups("multiple"), "MPI_THREAD_MULTIPLE");
    }

    /** Exit 0, no FAIL line, a PASS line from each of the 2 ranks, and the thread level named. */
    private static void assertBothRanksPass(MpiLaunch.Result r, String level) {
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertEquals(List.of(), r.lines("FAIL"), out);
        assertEquals(2, r.lines("PASS").size(), out);
        assertTrue(out.contains(level), out);
    }

    @Test
    @Timeout(180)
    void twoGroupsUsedFromTwoThreadsAtOnceAtThreadSingleEndTheJobAfterTheTimeoutNamingTheCause() throws IOException {
        long t0 = System.nanoTime();
        MpiLaunch.Result r = runCrossThreadGroups("single");
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        String out = r.output();
        assertTrue(r.exitCode() != 0 && r.exitCode() != -1, "the launcher must report the abort:\n" + out);
        assertEquals(List.of(), r.lines("PASS"), out);
        assertTrue(out.contains("barrier() on group") && out.contains("has not completed after"), out);
        assertTrue(out.contains("1 other thread was waiting to call MPI") && out.contains("DSCOMM_MPI_THREADS=multiple"), out);
        assertTrue(seconds < 45, "took " + seconds + " s; the group timeout is 2 s:\n" + out);
    }

    @Test
    @Timeout(180)
    void atThreadSingleNonBlockingCallsBesideAnotherGroupStayInIssueOrderAndComplete() throws IOException {
        assertBothRanksPass(run(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "mpi", "DSCOMM_MPI_THREADS", "single",
                "DSCOMM_TIMEOUT", "5s"), false, CROSS_THREADS, "--async"), "MPI_THREAD_SINGLE");
    }

    /**
     * {@code bin/dscomm soak} started by mpirun without --seed: every rank parses its own
     * arguments, so the ranks must agree on rank 0's seed (they drew their own and called
     * different collectives, which the MPI backend can only time out); at thread level single,
     * where its three groups are called from one thread in turn.
     */
    @Test
    @Timeout(180)
    void aSoakUnderMpirunWithoutASeedRunsRankZerosSequenceOnEveryRankAtThreadSingle() throws IOException {
        MpiLaunch.Result r = run(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "mpi", "DSCOMM_MPI_THREADS", "single",
                "DSCOMM_TIMEOUT", "10s"), false, "ds.comm.tool.Main", "soak", "--duration", "3s", "--max-bytes", "64K");
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        assertTrue(out.contains("soak: PASS"), out);
        assertTrue(out.contains("MPI_THREAD_SINGLE"), out);
    }

    private static MpiLaunch.Result runCrossThreadGroups(String level) throws IOException {
        return run(MpiLaunch.Launcher.OPEN_MPI, 2, Map.of("DSCOMM_BACKEND", "mpi", "DSCOMM_MPI_THREADS", level,
                "DSCOMM_TIMEOUT", "2s"), false, CROSS_THREADS);
    }

    @Test
    @Timeout(180)
    void autoUnderMpirunUsesShmInsideEachNodeAndMpiBetweenNodes() throws IOException {
        // At both thread levels: HIER's leaders call MPI, the node groups do not, and at single
        // the non-blocking and second-thread calls of --threads must still be ordered.
        for (String level : new String[] {"multiple", "single"}) {
            MpiLaunch.Result r = run(MpiLaunch.Launcher.OPEN_MPI, 4, Map.of("DSCOMM_MPI_THREADS", level), true, CLIENT,
                    "--counts", "0,1,1025,20000", "--ops", "sum,max", "--expect", "hier", "--split-expect", "shm", "--threads");
            String out = level + ":\n" + r.output();
            assertEquals(0, r.exitCode(), out);
            assertEquals(List.of(), r.lines("FAIL"), out);
            assertEquals(4, r.lines("PASS").size(), out);
            assertTrue(out.contains("SHM inside each node, MPI between nodes"), out);
        }
    }

    @Test
    @Timeout(180)
    void publicApiClientIsExactAndBitIdenticalUnderMpich() throws IOException {
        assertAllPass(run(MpiLaunch.Launcher.MPICH, 2, "--counts", "0,1,7,1025", "--expect", "mpi", "--split-expect", "mpi"),
                2, "MPICH");
    }
}
