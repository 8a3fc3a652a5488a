package ds.comm.multiprocess;

import ds.comm.topology.LaunchEnv;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two ranks given exactly the variables srun gives its tasks, and no MASTER_ADDR/MASTER_PORT:
 * they must meet at the first host of SLURM_STEP_NODELIST on the port derived from the job and
 * step ids. (.ci/slurm-check does the same under a real slurmctld/slurmd; this keeps the path
 * covered in every test run, where no Slurm is installed.)
 */
@Tag("multiprocess")
@Tag("mpi")
class SrunEnvironmentTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void twoSrunTasksMeetWithoutMasterVariables() throws Exception {
        String host = InetAddress.getLocalHost().getHostName();
        long jobId = ThreadLocalRandom.current().nextLong(1, 10_000_000);
        int port = LaunchEnv.slurmPort(jobId, 0);
        List<CliProcess> ranks = new ArrayList<>();
        try {
            for (int rank = 0; rank < 2; rank++) {
                ProcessBuilder pb = new ProcessBuilder(CliProcess.dscommCli("doctor"));
                pb.environment().keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.startsWith("MASTER_")
                        || k.startsWith("SLURM_") || k.startsWith("OMPI_") || k.startsWith("PMI_")
                        || List.of("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "LOCAL_SIZE").contains(k));
                // The JIT warm-up init() runs by default costs seconds per rank JVM on 2 cores;
                // BenchCliTest.initWarmsUpTheCollectivePathOnShmAndRing covers it;
                // a test's env may still ask for it.
                pb.environment().put("DSCOMM_WARMUP", "0");
                pb.environment().putAll(Map.of("SLURM_PROCID", Integer.toString(rank), "SLURM_NTASKS", "2",
                        "SLURM_LOCALID", Integer.toString(rank), "SLURM_NODEID", "0", "SLURM_TASKS_PER_NODE", "2",
                        "SLURM_STEP_NODELIST", host + ",unused-node[01-02]", "SLURM_JOB_ID", Long.toString(jobId),
                        "SLURM_STEP_ID", "0", "DSCOMM_TIMEOUT", "60s"));
                ranks.add(new CliProcess(pb));
            }
            for (int rank = 0; rank < 2; rank++) {
                CliProcess p = ranks.get(rank);
                String line = p.await("rendezvous:", 90_000);
                assertTrue(line.contains(host + ":" + port + " ok"), "rank " + rank + " met at " + line);
                assertEquals(0, p.waitFor(30_000), "rank " + rank + ": " + p.output());
                String launcher = "launcher:     slurm (rank " + rank + " of 2";
                assertTrue(p.output().stream().anyMatch(l -> l.startsWith(launcher)), p.output().toString());
            }
        } finally {
            for (CliProcess p : ranks) p.close();
        }
    }
}
