package ds.comm.tool;

import ds.comm.topology.LaunchLedger;
import ds.comm.topology.JobSecret;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LaunchEnvException;
import ds.comm.topology.NodeIdentity;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.RendezvousException;
import ds.comm.topology.Topology;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The topology part of {@code bin/dscomm doctor}: which launcher started this process, this node's
 * identity, and, under a launcher, the table verified by a real rendezvous with the other ranks.
 */
final class TopologyReport {

    private TopologyReport() {
    }

    /**
     * Prints the report.
     *
     * @return 0 when the environment is consistent and the rendezvous (if any) succeeded, 1 when
     *         the rendezvous failed, 2 when the launcher variables are malformed
     */
    static int print(PrintStream out, Map<String, String> envVars, Path shmDir) {
        LaunchEnv env;
        String node;
        try {
            env = LaunchEnv.detect(envVars);
            node = NodeIdentity.detect(envVars, shmDir);
        } catch (LaunchEnvException e) {
            out.println("launcher:     error: " + e.getMessage());
            return 2;
        }
        if (!env.launched()) {
            out.println("launcher:     none (single process)");
            out.println("node:         " + node);
            return 0;
        }
        out.println("launcher:     " + env.launcher() + " (rank " + env.rank() + " of " + env.worldSize()
                + ", local rank " + hint(env.localRank()) + " of " + hint(env.localSize()) + ")");
        out.println("node:         " + node + (env.nodeIdOverride() != null ? " (DSCOMM_NODE_ID)" : ""));
        if (env.worldSize() == 1) {
            out.println("topology:     1 rank, no rendezvous needed");
            return 0;
        }
        long start = System.nanoTime();
        Topology t;
        try {
            t = Rendezvous.join(env, node, 0, env.timeoutNanos(), JobSecret.fromEnvironment(System.getenv()),
                LaunchLedger.fromEnvironment(System.getenv()));
        } catch (RendezvousException e) {
            out.println("rendezvous:   FAILED at " + env.masterAddr() + ":" + env.masterPort() + ": " + e.getMessage());
            return 1;
        }
        out.println("rendezvous:   " + env.masterAddr() + ":" + env.masterPort() + " ok in "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms, job token " + t.jobToken());
        out.println("topology:     " + t.worldSize() + " ranks on " + t.nodes().size() + " node(s); this rank: local rank "
                + t.localRank(t.rank()) + " of " + t.localSize(t.rank()) + " (verified)");
        for (String n : t.nodes()) {
            out.println("  node " + n + ": ranks " + Arrays.toString(t.ranksOn(n)) + ", leader " + t.nodeLeader(n)
                    + (n.equals(t.myNode()) ? "  <- this rank" : ""));
        }
        for (int r = 0; r < t.worldSize(); r++) {
            out.println("  rank " + r + ": pid " + t.pidOf(r) + ", reached rank 0 from "
                    + t.ringAddress(r).getAddress().getHostAddress() + ", " + t.byteOrderOf(r));
        }
        if (t.localSizeHintDisagrees()) {
            String var = switch (env.launcher()) {
                case DSCOMM -> envVars.containsKey("DSCOMM_LOCAL_SIZE") ? "DSCOMM_LOCAL_SIZE" : "LOCAL_WORLD_SIZE";
                case TORCHRUN -> "LOCAL_WORLD_SIZE";
                case DEEPSPEED -> "LOCAL_SIZE";
                case OPENMPI -> "OMPI_COMM_WORLD_LOCAL_SIZE";
                case MPICH -> "MPI_LOCALNRANKS";
                case SLURM -> envVars.containsKey("SLURM_NTASKS_PER_NODE") ? "SLURM_NTASKS_PER_NODE" : "SLURM_TASKS_PER_NODE";
                case NONE -> "local size";
            };
            out.println("local size:   " + var + "=" + t.localSizeHint(t.rank()) + " disagrees with the verified table ("
                    + t.localSize(t.rank()) + " ranks on this node); the table wins");
        }
        if (!t.uniformByteOrder()) {
            out.println("byte order:   ranks differ in native byte order; collectives convert on the wire");
        }
        return 0;
    }

    private static String hint(int v) {
        return v < 0 ? "?" : Integer.toString(v);
    }
}
