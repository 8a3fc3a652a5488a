package ds.comm.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LaunchEnvTest {

    private static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    private static void assertRanks(LaunchEnv e, LauncherKind kind, int rank, int size, int localRank, int localSize) {
        assertEquals(kind, e.launcher(), "launcher");
        assertEquals(rank, e.rank(), "rank");
        assertEquals(size, e.worldSize(), "world size");
        assertEquals(localRank, e.localRank(), "local rank");
        assertEquals(localSize, e.localSize(), "local size");
    }

    private static String failure(Map<String, String> env) {
        return assertThrows(LaunchEnvException.class, () -> LaunchEnv.detect(env)).getMessage();
    }

    @Test
    void noLauncherIsASingleProcessWorld() {
        LaunchEnv e = LaunchEnv.detect(Map.of("PATH", "/usr/bin"));
        assertRanks(e, LauncherKind.NONE, 0, 1, 0, 1);
        assertFalse(e.launched());
        assertEquals("127.0.0.1", e.masterAddr());
        assertEquals(0, e.masterPort());
        assertEquals(Duration.ofSeconds(30), e.timeout());
        assertNull(e.nodeIdOverride());
    }

    @Test
    void explicitDscommVariablesWinOverEveryLauncher() {
        LaunchEnv e = LaunchEnv.detect(env("DSCOMM_RANK", "2", "DSCOMM_WORLD_SIZE", "3", "DSCOMM_LOCAL_RANK", "0",
                "DSCOMM_LOCAL_SIZE", "1", "RANK", "0", "WORLD_SIZE", "8", "OMPI_COMM_WORLD_RANK", "1",
                "OMPI_COMM_WORLD_SIZE", "2", "MASTER_PORT", "29500"));
        assertRanks(e, LauncherKind.DSCOMM, 2, 3, 0, 1);
        assertEquals(29500, e.masterPort());
    }

    @Test
    void dscommLaunchIsTorchrunStyleWithItsMarker() {
        LaunchEnv e = LaunchEnv.detect(env("RANK", "1", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "2",
                "LOCAL_SIZE", "2", "DSCOMM_LAUNCHER", "dscomm", "MASTER_ADDR", "10.0.0.1", "MASTER_PORT", "1234"));
        assertRanks(e, LauncherKind.DSCOMM, 1, 4, 1, 2);
        assertEquals("10.0.0.1", e.masterAddr());
    }

    @Test
    void torchrunIsRecognisedByLocalWorldSize() {
        LaunchEnv e = LaunchEnv.detect(env("RANK", "3", "WORLD_SIZE", "8", "LOCAL_RANK", "3", "LOCAL_WORLD_SIZE", "4",
                "MASTER_ADDR", "node1", "MASTER_PORT", "29500"));
        assertRanks(e, LauncherKind.TORCHRUN, 3, 8, 3, 4);
        assertEquals("node1", e.masterAddr());
    }

    @Test
    void torchElasticVariablesMeanTorchrunEvenWithoutLocalWorldSize() {
        LaunchEnv e = LaunchEnv.detect(env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "0",
                "TORCHELASTIC_RUN_ID", "abc", "MASTER_PORT", "29500"));
        assertRanks(e, LauncherKind.TORCHRUN, 0, 2, 0, -1);
    }

    @Test
    void deepspeedIsRecognisedByLocalSize() {
        LaunchEnv e = LaunchEnv.detect(env("RANK", "5", "WORLD_SIZE", "6", "LOCAL_RANK", "2", "LOCAL_SIZE", "3",
                "MASTER_PORT", "29500"));
        assertRanks(e, LauncherKind.DEEPSPEED, 5, 6, 2, 3);
    }

    @Test
    void plainRankAndWorldSizeFollowTorchrunsEnvConvention() {
        LaunchEnv e = LaunchEnv.detect(env("RANK", "1", "WORLD_SIZE", "2", "MASTER_PORT", "29500"));
        assertRanks(e, LauncherKind.TORCHRUN, 1, 2, -1, -1);
    }

    @Test
    void openMpiVariablesAreRead() {
        LaunchEnv e = LaunchEnv.detect(env("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2",
                "OMPI_COMM_WORLD_LOCAL_RANK", "1", "OMPI_COMM_WORLD_LOCAL_SIZE", "2", "MASTER_PORT", "40000",
                "SLURM_PROCID", "0", "SLURM_NTASKS", "1"));
        assertRanks(e, LauncherKind.OPENMPI, 1, 2, 1, 2);
    }

    @Test
    void mpichHydraVariablesAreRead() {
        LaunchEnv e = LaunchEnv.detect(env("PMI_RANK", "6", "PMI_SIZE", "7", "MPI_LOCALRANKID", "2",
                "MPI_LOCALNRANKS", "3", "MASTER_PORT", "40000"));
        assertRanks(e, LauncherKind.MPICH, 6, 7, 2, 3);
    }

    @Test
    void slurmTasksPerNodeIsIndexedByNodeId() {
        LaunchEnv e = LaunchEnv.detect(env("SLURM_PROCID", "6", "SLURM_NTASKS", "7", "SLURM_LOCALID", "0",
                "SLURM_NODEID", "3", "SLURM_TASKS_PER_NODE", "2(x3),1", "MASTER_PORT", "40000"));
        assertRanks(e, LauncherKind.SLURM, 6, 7, 0, 1);
        LaunchEnv second = LaunchEnv.detect(env("SLURM_PROCID", "3", "SLURM_NTASKS", "7", "SLURM_LOCALID", "1",
                "SLURM_NODEID", "1", "SLURM_TASKS_PER_NODE", "2(x3),1", "MASTER_PORT", "40000"));
        assertEquals(2, second.localSize());
    }

    @Test
    void slurmNtasksPerNodeWinsAndUniformListsNeedNoNodeId() {
        assertEquals(4, LaunchEnv.detect(env("SLURM_PROCID", "0", "SLURM_NTASKS", "8", "SLURM_LOCALID", "0",
                "SLURM_NTASKS_PER_NODE", "4", "SLURM_TASKS_PER_NODE", "3,5", "SLURM_NODEID", "1",
                "MASTER_PORT", "1")).localSize());
        assertEquals(2, LaunchEnv.detect(env("SLURM_PROCID", "0", "SLURM_NTASKS", "6", "SLURM_LOCALID", "0",
                "SLURM_TASKS_PER_NODE", "2(x3)", "MASTER_PORT", "1")).localSize());
    }

    @Test
    void slurmUnevenListWithoutNodeIdLeavesTheLocalSizeUnknown() {
        LaunchEnv e = LaunchEnv.detect(env("SLURM_PROCID", "0", "SLURM_NTASKS", "3", "SLURM_LOCALID", "0",
                "SLURM_TASKS_PER_NODE", "2,1", "MASTER_PORT", "1"));
        assertRanks(e, LauncherKind.SLURM, 0, 3, 0, -1);
    }

    @Test
    void slurmNprocsStandsInForNtasks() {
        LaunchEnv e = LaunchEnv.detect(env("SLURM_PROCID", "1", "SLURM_NPROCS", "2", "MASTER_PORT", "1"));
        assertRanks(e, LauncherKind.SLURM, 1, 2, -1, -1);
    }

    @Test
    void slurmAllocationWithoutATaskIsNoLauncher() {
        LaunchEnv e = LaunchEnv.detect(env("SLURM_NTASKS", "4", "SLURM_JOB_ID", "77", "SLURM_TASKS_PER_NODE", "4"));
        assertRanks(e, LauncherKind.NONE, 0, 1, 0, 1);
    }

    @Test
    void worldOfOneNeedsNoMasterPort() {
        LaunchEnv e = LaunchEnv.detect(env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "1"));
        assertRanks(e, LauncherKind.OPENMPI, 0, 1, -1, -1);
        assertEquals(0, e.masterPort());
    }

    @Test
    void missingMasterPortIsAClearErrorWhenTheWorldIsLarger() {
        String m = failure(env("RANK", "0", "WORLD_SIZE", "2"));
        assertTrue(m.contains("MASTER_PORT is not set") && m.contains("2 ranks"), m);
    }

    @ParameterizedTest(name = "{0}={1}")
    @CsvSource({
            "RANK, abc, '''abc'' is not a non-negative integer'",
            "RANK, -1, RANK=-1 is negative",
            "RANK, 4, RANK=4 is not below WORLD_SIZE=4",
            "RANK, '', 'RANK='''' is not a non-negative integer'",
            "RANK, 1.5, 'RANK=''1.5'' is not a non-negative integer'",
            "WORLD_SIZE, 0, WORLD_SIZE=0 must be at least 1",
            "WORLD_SIZE, 99999999, exceeds the largest supported world",
            "WORLD_SIZE, 12345678901, WORLD_SIZE=12345678901 is too large",
            "LOCAL_WORLD_SIZE, 5, LOCAL_WORLD_SIZE=5 exceeds WORLD_SIZE=4",
            "LOCAL_WORLD_SIZE, 0, LOCAL_WORLD_SIZE=0 must be at least 1",
            "LOCAL_RANK, 2, LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2",
            "LOCAL_RANK, -3, LOCAL_RANK=-3 is negative",
            "MASTER_PORT, 70000, MASTER_PORT=70000 is not a port number",
            "MASTER_PORT, 0, MASTER_PORT=0 is not a port number",
            "MASTER_PORT, http, 'MASTER_PORT=''http'' is not a port number'",
            "MASTER_ADDR, ' ', MASTER_ADDR is empty",
            "DSCOMM_TIMEOUT, 10x, 'DSCOMM_TIMEOUT=''10x'' is not a duration'",
            "DSCOMM_TIMEOUT, 0ms, 'DSCOMM_TIMEOUT=''0ms'' must be positive'",
            "DSCOMM_TIMEOUT, 1e12, 'DSCOMM_TIMEOUT=''1e12'' is not a duration'",
            "DSCOMM_TIMEOUT, 1000000000000, 'DSCOMM_TIMEOUT=''1000000000000'' is out of range; allowed: 1ms to 365d'",
            "DSCOMM_TIMEOUT, -5, 'DSCOMM_TIMEOUT=''-5'' is not a duration'",
            "DSCOMM_NODE_ID, 'a b', 'DSCOMM_NODE_ID=''a b'' must be non-empty printable ASCII'",
            "DSCOMM_NODE_ID, '', 'DSCOMM_NODE_ID='''' must be non-empty'",
    })
    void malformedTorchrunValueNamesTheVariableAndValue(String var, String value, String expected) {
        Map<String, String> e = env("RANK", "1", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "2",
                "MASTER_PORT", "29500");
        e.put(var, value);
        String m = failure(e);
        assertTrue(m.contains(expected), () -> "message '" + m + "' lacks '" + expected + "'");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "'OMPI_COMM_WORLD_RANK=2,OMPI_COMM_WORLD_SIZE=2', OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2",
            "'OMPI_COMM_WORLD_RANK=0,OMPI_COMM_WORLD_SIZE=2,OMPI_COMM_WORLD_LOCAL_SIZE=3', OMPI_COMM_WORLD_LOCAL_SIZE=3 exceeds OMPI_COMM_WORLD_SIZE=2",
            "'OMPI_COMM_WORLD_RANK=0', OMPI_COMM_WORLD_RANK=0 is set but OMPI_COMM_WORLD_SIZE is not",
            "'OMPI_COMM_WORLD_SIZE=2', OMPI_COMM_WORLD_SIZE=2 is set but OMPI_COMM_WORLD_RANK is not",
            "'PMI_RANK=x,PMI_SIZE=2', 'PMI_RANK=''x'' is not a non-negative integer'",
            "'PMI_RANK=0,PMI_SIZE=2,MPI_LOCALRANKID=1,MPI_LOCALNRANKS=1', MPI_LOCALRANKID=1 is not below MPI_LOCALNRANKS=1",
            "'DSCOMM_RANK=1', DSCOMM_RANK=1 is set but DSCOMM_WORLD_SIZE is not",
            "'DSCOMM_RANK=0,DSCOMM_WORLD_SIZE=-2', DSCOMM_WORLD_SIZE=-2 is negative",
            "'DSCOMM_RANK=0,DSCOMM_WORLD_SIZE=2,DSCOMM_LOCAL_RANK=9', DSCOMM_LOCAL_RANK=9 is not below DSCOMM_WORLD_SIZE=2",
            "'RANK=0,WORLD_SIZE=2,LOCAL_SIZE=x', 'LOCAL_SIZE=''x'' is not a non-negative integer'",
            "'SLURM_PROCID=0,SLURM_NTASKS=4,SLURM_TASKS_PER_NODE=2(x2', 'SLURM_TASKS_PER_NODE=''2(x2'' is not a Slurm task count list'",
            "'SLURM_PROCID=0,SLURM_NTASKS=4,SLURM_TASKS_PER_NODE=2(x2),SLURM_NODEID=5', SLURM_NODEID=5 is not below the 2 nodes",
            "'SLURM_PROCID=0,SLURM_NTASKS=4,SLURM_NTASKS_PER_NODE=8', SLURM_NTASKS_PER_NODE=8 exceeds SLURM_NTASKS=4",
            "'SLURM_PROCID=-1,SLURM_NTASKS=4', SLURM_PROCID=-1 is negative",
    })
    void malformedLauncherValueNamesTheVariableAndValue(String assignments, String expected) {
        Map<String, String> e = env("MASTER_PORT", "29500");
        for (String kv : assignments.split(",")) {
            int eq = kv.indexOf('=');
            e.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        String m = failure(e);
        assertTrue(m.contains(expected), () -> "message '" + m + "' lacks '" + expected + "'");
    }

    @ParameterizedTest(name = "DSCOMM_TIMEOUT={0}")
    @CsvSource({"30, 30000", "30s, 30000", "500ms, 500", "2m, 120000", "' 7 ', 7000", "2.5, 2500", "0.5s, 500"})
    void timeoutAcceptsSecondsMillisecondsAndMinutes(String value, long millis) {
        assertEquals(Duration.ofMillis(millis), LaunchEnv.detect(env("DSCOMM_TIMEOUT", value)).timeout());
    }

    @Test
    void nodeIdOverrideIsKept() {
        assertEquals("rack1-node7", LaunchEnv.detect(env("DSCOMM_NODE_ID", "rack1-node7")).nodeIdOverride());
    }

    @Test
    void nodeIdLongerThanTheWireBoundIsRejected() {
        String m = failure(env("DSCOMM_NODE_ID", "n".repeat(1025)));
        assertTrue(m.contains("DSCOMM_NODE_ID") && m.contains("1025"), m);
    }

    // --- srun without MASTER_ADDR / MASTER_PORT ---------------------------------------------

    private static Map<String, String> srunTask(int rank, int nodeIndex) {
        return env("SLURM_PROCID", Integer.toString(rank), "SLURM_NTASKS", "4", "SLURM_LOCALID", Integer.toString(rank % 2),
                "SLURM_NODEID", Integer.toString(nodeIndex), "SLURM_TASKS_PER_NODE", "2(x2)",
                "SLURM_STEP_NODELIST", "node[07-08]", "SLURM_JOB_ID", "123457", "SLURM_STEP_ID", "3");
    }

    @Test
    void srunWithoutMasterVariablesMeetsAtTheStepsFirstHostOnAPortFromTheJobAndStep() {
        LaunchEnv e = LaunchEnv.detect(srunTask(0, 0));
        assertRanks(e, LauncherKind.SLURM, 0, 4, 0, 2);
        assertEquals("node07", e.masterAddr());
        // 12000 + (123457 mod 1250) * 16 + (3 mod 16) = 12000 + 957 * 16 + 3
        assertEquals(12_000 + 957 * 16 + 3, e.masterPort());
    }

    @Test
    void everyTaskOfAStepDerivesTheSameAddressAndPort() {
        LaunchEnv first = LaunchEnv.detect(srunTask(0, 0));
        for (int rank = 1; rank < 4; rank++) {
            LaunchEnv e = LaunchEnv.detect(srunTask(rank, rank / 2));
            assertEquals(first.masterAddr(), e.masterAddr(), "rank " + rank);
            assertEquals(first.masterPort(), e.masterPort(), "rank " + rank);
        }
    }

    @Test
    void slurmPortIsUnprivilegedBelowTheEphemeralRangeAndSeparatesSteps() {
        for (long job : new long[] {0, 1, 1249, 1250, 123_456_789, Long.MAX_VALUE}) {
            for (long step = 0; step < 40; step++) {
                int p = LaunchEnv.slurmPort(job, step);
                assertTrue(p >= 1024 && p >= 12_000 && p < 32_768, job + "." + step + " -> " + p);
            }
            for (long step = 0; step < 15; step++) {
                assertTrue(LaunchEnv.slurmPort(job, step) != LaunchEnv.slurmPort(job, step + 1), "consecutive steps differ");
            }
        }
        assertTrue(LaunchEnv.slurmPort(100, 0) != LaunchEnv.slurmPort(101, 0), "consecutive jobs differ");
        assertThrows(IllegalArgumentException.class, () -> LaunchEnv.slurmPort(-1, 0));
    }

    @Test
    void explicitMasterVariablesWinOverTheDerivedOnes() {
        Map<String, String> e = srunTask(1, 0);
        e.put("MASTER_ADDR", "10.1.2.3");
        e.put("MASTER_PORT", "29500");
        LaunchEnv l = LaunchEnv.detect(e);
        assertEquals("10.1.2.3", l.masterAddr());
        assertEquals(29500, l.masterPort());
        Map<String, String> onlyAddr = srunTask(1, 0);
        onlyAddr.put("MASTER_ADDR", "10.1.2.3");
        assertEquals("10.1.2.3", LaunchEnv.detect(onlyAddr).masterAddr());
        assertEquals(LaunchEnv.slurmPort(123457, 3), LaunchEnv.detect(onlyAddr).masterPort(), "port still derived");
    }

    @Test
    void rankZeroAwayFromTheFirstHostFailsAtOnceNamingBothAndTheRemedy() {
        String m = failure(srunTask(0, 1));
        assertTrue(m.contains("rank 0 runs on node 1 of the step, not on node07") && m.contains("export MASTER_ADDR"), m);
    }

    @Test
    void malformedStepNodeListIsNamed() {
        Map<String, String> e = srunTask(1, 0);
        e.put("SLURM_STEP_NODELIST", "node[07-");
        String m = failure(e);
        assertTrue(m.contains("SLURM_STEP_NODELIST") && m.contains("node[07-") && m.contains("set MASTER_ADDR"), m);
    }

    @Test
    void malformedSlurmIdIsNamed() {
        Map<String, String> e = srunTask(1, 0);
        e.put("SLURM_JOB_ID", "12x");
        assertTrue(failure(e).contains("SLURM_JOB_ID='12x' is not a Slurm id"), failure(e));
    }

    @Test
    void taskWithoutStepVariablesGetsTheSlurmHintNotMpirunsFlags() {
        String m = failure(env("SLURM_PROCID", "0", "SLURM_NTASKS", "2"));
        assertTrue(m.contains("MASTER_PORT is not set") && m.contains("launcher slurm") && m.contains("srun"), m);
        assertFalse(m.contains("mpirun") || m.contains("-x MASTER"), m);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "OMPI_COMM_WORLD_RANK=0,OMPI_COMM_WORLD_SIZE=2 | launcher openmpi | mpirun -x MASTER_ADDR",
            "PMI_RANK=0,PMI_SIZE=2                         | launcher mpich   | mpiexec -genv MASTER_ADDR",
            "RANK=0,WORLD_SIZE=2,LOCAL_WORLD_SIZE=2        | launcher torchrun | torchrun",
            "RANK=0,WORLD_SIZE=2,LOCAL_SIZE=2              | launcher deepspeed | deepspeed launcher",
            "DSCOMM_RANK=0,DSCOMM_WORLD_SIZE=2             | launcher dscomm  | bin/dscomm launch",
    })
    void everyNotSetHintNamesTheLauncherDetected(String assignments, String launcher, String remedy) {
        Map<String, String> e = new HashMap<>();
        for (String kv : assignments.split(",")) {
            int eq = kv.indexOf('=');
            e.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        String m = failure(e);
        assertTrue(m.contains(launcher) && m.contains(remedy), m);
        if (!launcher.endsWith("openmpi")) assertFalse(m.contains("mpirun -x"), m);
    }
}
