package ds.comm.tool;

import ds.comm.CommConfig;
import ds.comm.CommException;
import ds.comm.Communicator;
import ds.comm.topology.LaunchLedger;
import ds.comm.topology.JobSecret;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LaunchEnvException;
import ds.comm.topology.LauncherKind;
import ds.comm.topology.NodeIdentity;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.RendezvousException;
import ds.comm.topology.Topology;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The topology part of {@code bin/dscomm doctor}: which launcher started this process, this node's
 * identity, and, under a launcher, the table verified by a real rendezvous with the other ranks.
 * Under mpirun or mpiexec without MASTER_PORT the ranks meet through MPI, as
 * {@code Communicator.init()} does there, and the report says what that gave.
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
        DoctorReport report = new DoctorReport();
        int status = collect(report, envVars, shmDir);
        report.printText(out);
        return status;
    }

    /** Adds the findings to {@code report}; returns the status as {@link #print} does. */
    static int collect(DoctorReport report, Map<String, String> envVars, Path shmDir) {
        LaunchEnv env;
        String node;
        try {
            node = NodeIdentity.detect(envVars, shmDir);
        } catch (LaunchEnvException e) {
            report.line("launcher", "launcher", "error: " + e.getMessage());
            return 2;
        }
        try {
            env = LaunchEnv.detect(envVars);
        } catch (LaunchEnvException e) {
            LaunchEnv mpiJob = meetsThroughMpi(envVars);
            if (mpiJob != null) return throughMpi(report, mpiJob, node, envVars);
            report.line("launcher", "launcher", "error: " + e.getMessage());
            return 2;
        }
        if (!env.launched()) {
            report.line("launcher", "launcher", "none (single process)");
            report.line("node", "node", node);
            return 0;
        }
        launcherAndNode(report, env, node);
        if (env.worldSize() == 1) {
            report.line("topology", "topology", "1 rank, no rendezvous needed");
            return 0;
        }
        long start = System.nanoTime();
        Topology t;
        try {
            t = Rendezvous.join(env, node, 0, env.timeoutNanos(), JobSecret.fromEnvironment(System.getenv()),
                LaunchLedger.fromEnvironment(System.getenv()));
        } catch (RendezvousException e) {
            report.line("rendezvous", "rendezvous", "FAILED at " + env.masterAddr() + ":" + env.masterPort() + ": " + e.getMessage());
            return 1;
        }
        report.line("rendezvous", "rendezvous", env.masterAddr() + ":" + env.masterPort() + " ok in "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms, job token " + t.jobToken());
        report.line("topology", "topology", t.worldSize() + " ranks on " + t.nodes().size() + " node(s); this rank: local rank "
                + t.localRank(t.rank()) + " of " + t.localSize(t.rank()) + " (verified)");
        List<Map<String, Object>> nodeRows = new ArrayList<>();
        List<String> nodeLines = new ArrayList<>();
        for (String n : t.nodes()) {
            boolean mine = n.equals(t.myNode());
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("node", n);
            row.put("ranks", t.ranksOn(n));
            row.put("leader", t.nodeLeader(n));
            row.put("this_rank", mine);
            nodeRows.add(row);
            nodeLines.add("  node " + n + ": ranks " + Arrays.toString(t.ranksOn(n)) + ", leader " + t.nodeLeader(n)
                    + (mine ? "  <- this rank" : ""));
        }
        report.table("nodes", nodeRows, nodeLines);
        List<Map<String, Object>> rankRows = new ArrayList<>();
        List<String> rankLines = new ArrayList<>();
        for (int r = 0; r < t.worldSize(); r++) {
            String address = t.ringAddress(r).getAddress().getHostAddress();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("rank", r);
            row.put("pid", t.pidOf(r));
            row.put("address", address);
            row.put("byte_order", t.byteOrderOf(r).toString());
            rankRows.add(row);
            rankLines.add("  rank " + r + ": pid " + t.pidOf(r) + ", reached rank 0 from " + address + ", " + t.byteOrderOf(r));
        }
        report.table("ranks", rankRows, rankLines);
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
            report.line("local size", "local_size", var + "=" + t.localSizeHint(t.rank()) + " disagrees with the verified table ("
                    + t.localSize(t.rank()) + " ranks on this node); the table wins");
        }
        if (!t.uniformByteOrder()) {
            report.line("byte order", "byte_orders", "ranks differ in native byte order; collectives convert on the wire");
        }
        return 0;
    }

    private static void launcherAndNode(DoctorReport report, LaunchEnv env, String node) {
        report.line("launcher", "launcher", env.launcher() + " (rank " + env.rank() + " of " + env.worldSize()
                + ", local rank " + hint(env.localRank()) + " of " + hint(env.localSize()) + ")");
        report.line("node", "node", node + (env.nodeIdOverride() != null ? " (DSCOMM_NODE_ID)" : ""));
    }

    /**
     * The launcher's view when an MPI launcher started this process without MASTER_PORT and MPI
     * is allowed (DSCOMM_MPI not off): then the library meets through MPI; else null.
     */
    private static LaunchEnv meetsThroughMpi(Map<String, String> envVars) {
        LaunchEnv lenient;
        try {
            lenient = LaunchEnv.detectWithoutRendezvous(envVars);
        } catch (LaunchEnvException e) {
            return null;
        }
        boolean mpiLauncher = lenient.launcher() == LauncherKind.OPENMPI || lenient.launcher() == LauncherKind.MPICH;
        String mpi = envVars.getOrDefault("DSCOMM_MPI", "").strip().toLowerCase(java.util.Locale.ROOT);
        boolean mpiOff = mpi.equals("0") || mpi.equals("off") || mpi.equals("false") || mpi.equals("no");
        return mpiLauncher && !mpiOff && lenient.masterPort() == 0 && lenient.worldSize() > 1 ? lenient : null;
    }

    /**
     * The rendezvous through MPI, by the public API as a program makes it (the JIT warm-up off:
     * it would only time the compilers): what the world communicator chose, and on how many nodes.
     */
    private static int throughMpi(DoctorReport report, LaunchEnv env, String node, Map<String, String> envVars) {
        launcherAndNode(report, env, node);
        long start = System.nanoTime();
        try (Communicator world = Communicator.init(CommConfig.builder().environment(envVars).warmUp(false).build())) {
            report.line("rendezvous", "rendezvous", "through MPI (no MASTER_PORT needed) ok in "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
            report.line("topology", "topology", world.size() + " ranks on " + world.nodes() + " node(s); this rank: rank "
                    + world.rank() + " (verified through MPI)");
            report.line("backend", "backend", world.backend().toString());
            world.barrier();
            return 0;
        } catch (CommException | IllegalArgumentException | IllegalStateException e) {
            report.line("rendezvous", "rendezvous", "FAILED through MPI: " + e.getMessage());
            return 1;
        }
    }

    private static String hint(int v) {
        return v < 0 ? "?" : Integer.toString(v);
    }
}
