package ds.comm.topology;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the launcher told this process: its rank, the world size, the local rank and local size
 * hints, where rank 0 listens for the rendezvous, and the ds-comm settings read from the
 * environment ({@code DSCOMM_TIMEOUT}, {@code DSCOMM_NODE_ID}).
 *
 * <p>Launchers are tried in this order; the first whose rank or size variable is present wins
 * (for Slurm only SLURM_PROCID counts: SLURM_NTASKS alone is set in any allocation shell):
 * <ol>
 *   <li>explicit {@code DSCOMM_RANK / DSCOMM_WORLD_SIZE / DSCOMM_LOCAL_RANK / DSCOMM_LOCAL_SIZE};</li>
 *   <li>the PyTorch family {@code RANK / WORLD_SIZE / LOCAL_RANK}: {@code bin/dscomm launch} when
 *       {@code DSCOMM_LAUNCHER=dscomm}, torchrun when {@code LOCAL_WORLD_SIZE} or a
 *       {@code TORCHELASTIC_*} variable is set, DeepSpeed when {@code LOCAL_SIZE} is set, torchrun's
 *       plain {@code env://} convention otherwise;</li>
 *   <li>Open MPI {@code OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE};</li>
 *   <li>MPICH / Intel MPI (Hydra) {@code PMI_RANK / PMI_SIZE / MPI_LOCALRANKID / MPI_LOCALNRANKS};</li>
 *   <li>Slurm srun {@code SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID} and the local task count
 *       from {@code SLURM_NTASKS_PER_NODE} or {@code SLURM_TASKS_PER_NODE} (e.g. {@code 2(x3),1});
 *       without MASTER_ADDR/MASTER_PORT, the rendezvous defaults to the first host of
 *       {@code SLURM_STEP_NODELIST} and {@link #slurmPort a port derived from the job and step ids};</li>
 *   <li>none: a single-process world of size 1.</li>
 * </ol>
 * The PyTorch family comes before MPI and Slurm because torchrun and DeepSpeed are themselves
 * often started by srun or mpirun, and then their own variables describe the worker processes.
 *
 * <p>The local rank and local size are hints only (-1 when the launcher does not say): the
 * rendezvous computes the verified values from node identities, see {@link Topology}.
 *
 * @param launcher       which launcher's variables were used
 * @param rank           this process's rank, {@code 0 <= rank < worldSize}
 * @param worldSize      number of processes in the job, 1..{@value #MAX_WORLD_SIZE}
 * @param localRank      the launcher's local rank hint, or -1 when unknown
 * @param localSize      the launcher's local size hint, or -1 when unknown
 * @param masterAddr     host name or address of rank 0's rendezvous listener (MASTER_ADDR)
 * @param masterPort     port of rank 0's rendezvous listener (MASTER_PORT), 0 when not set
 *                       (allowed only for a world of size 1)
 * @param timeout        bound on setup steps and on every collective (DSCOMM_TIMEOUT)
 * @param nodeIdOverride DSCOMM_NODE_ID, or null when the node identity is to be computed
 */
public record LaunchEnv(LauncherKind launcher,
                        int rank,
                        int worldSize,
                        int localRank,
                        int localSize,
                        String masterAddr,
                        int masterPort,
                        Duration timeout,
                        String nodeIdOverride) {

    /** Largest world the rendezvous accepts. */
    public static final int MAX_WORLD_SIZE = 65_536;

    /** MASTER_ADDR when the variable is not set. */
    public static final String DEFAULT_MASTER_ADDR = "127.0.0.1";

    /** DSCOMM_TIMEOUT when the variable is not set. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** Longest DSCOMM_NODE_ID accepted, in UTF-8 bytes (the rendezvous bound on strings). */
    public static final int MAX_NODE_ID_BYTES = 1024;

    private static final Pattern NODE_ID = Pattern.compile("[\\x21-\\x7e]+");
    private static final Pattern SLURM_TASKS_ENTRY = Pattern.compile("(\\d{1,9})(?:\\(x(\\d{1,9})\\))?");

    /** Validates the invariants that {@link #detect} guarantees, for values built by hand. */
    public LaunchEnv {
        Objects.requireNonNull(launcher, "launcher");
        Objects.requireNonNull(masterAddr, "masterAddr");
        Objects.requireNonNull(timeout, "timeout");
        if (worldSize < 1 || worldSize > MAX_WORLD_SIZE) {
            throw new LaunchEnvException("world size " + worldSize + " is outside 1.." + MAX_WORLD_SIZE);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new LaunchEnvException("rank " + rank + " is outside 0.." + (worldSize - 1));
        }
        if (localSize != -1 && (localSize < 1 || localSize > worldSize)) {
            throw new LaunchEnvException("local size " + localSize + " is outside 1.." + worldSize);
        }
        if (localRank < -1 || (localRank >= 0 && localSize > 0 && localRank >= localSize)) {
            throw new LaunchEnvException("local rank " + localRank + " is not below local size " + localSize);
        }
        // 0 = no socket rendezvous (a world of one, or ranks that meet through MPI);
        // detect(Map) demands a real port whenever a rendezvous is needed.
        if (masterPort < 0 || masterPort > 65_535) {
            throw new LaunchEnvException("master port " + masterPort + " is outside 0..65535");
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new LaunchEnvException("timeout " + timeout + " is not positive");
        }
        if (timeout.compareTo(Quantities.MAX_DURATION) > 0) {
            throw new LaunchEnvException("timeout " + timeout + " is longer than " + Quantities.format(Quantities.MAX_DURATION));
        }
    }

    /** A single-process world: no launcher, rank 0 of 1, default address and timeout. */
    public static LaunchEnv single() {
        return new LaunchEnv(LauncherKind.NONE, 0, 1, 0, 1, DEFAULT_MASTER_ADDR, 0, DEFAULT_TIMEOUT, null);
    }

    /** {@link #detect} on this process's environment. */
    public static LaunchEnv fromSystem() {
        return detect(System.getenv());
    }

    /**
     * Reads the launch environment.
     *
     * @param env environment variables, e.g. {@link System#getenv()}
     * @return the launcher's view of this process
     * @throws LaunchEnvException when a variable is malformed or inconsistent; the message names
     *                            the variable and its value
     */
    public static LaunchEnv detect(Map<String, String> env) {
        return detect(env, true);
    }

    /**
     * Like {@link #detect(Map)} for a job whose ranks find each other by other means (the MPI
     * backend exchanges the node table through MPI itself), so MASTER_PORT is not required.
     *
     * @param env the process environment
     * @return the launcher's view of this process
     */
    public static LaunchEnv detectWithoutRendezvous(Map<String, String> env) {
        return detect(env, false);
    }

    private static LaunchEnv detect(Map<String, String> env, boolean needMasterPort) {
        Objects.requireNonNull(env, "env");
        Duration timeout = parseTimeout(env);
        String nodeId = parseNodeId(env);
        String masterAddr = env.getOrDefault("MASTER_ADDR", DEFAULT_MASTER_ADDR).strip();
        if (masterAddr.isEmpty()) {
            throw new LaunchEnvException("MASTER_ADDR is empty; unset it for 127.0.0.1 or set it to rank 0's address");
        }

        Family family = Family.find(env);
        if (family == Family.SLURM) {
            env = withSlurmRendezvous(env);
            masterAddr = env.getOrDefault("MASTER_ADDR", DEFAULT_MASTER_ADDR).strip();
        }
        if (family == null) {
            return new LaunchEnv(LauncherKind.NONE, 0, 1, 0, 1, masterAddr, optionalPort(env), timeout, nodeId);
        }
        int worldSize = required(env, family.sizeVar, family.rankVar);
        if (worldSize < 1) {
            throw new LaunchEnvException(family.sizeVar + "=" + env.get(family.sizeVar) + " must be at least 1");
        }
        if (worldSize > MAX_WORLD_SIZE) {
            throw new LaunchEnvException(family.sizeVar + "=" + env.get(family.sizeVar)
                    + " exceeds the largest supported world of " + MAX_WORLD_SIZE + " ranks");
        }
        int rank = required(env, family.rankVar, family.sizeVar);
        if (rank >= worldSize) {
            throw new LaunchEnvException(family.rankVar + "=" + rank + " is not below " + family.sizeVar + "=" + worldSize);
        }
        String localSizeName = family.localSizeVar(env);
        int localSize;
        if (localSizeName == null) {
            localSizeName = slurmLocalSizeVar(env);
            localSize = localSizeOfSlurm(env);
        } else {
            localSize = optional(env, localSizeName);
        }
        if (localSize == 0) {
            throw new LaunchEnvException(localSizeName + "=" + env.get(localSizeName) + " must be at least 1");
        }
        if (localSize > worldSize) {
            throw new LaunchEnvException(localSizeName + "=" + env.get(localSizeName) + " exceeds "
                    + family.sizeVar + "=" + worldSize);
        }
        int localRank = optional(env, family.localRankVar);
        if (localRank >= worldSize) {
            throw new LaunchEnvException(family.localRankVar + "=" + localRank + " is not below "
                    + family.sizeVar + "=" + worldSize);
        }
        if (localRank >= 0 && localSize > 0 && localRank >= localSize) {
            throw new LaunchEnvException(family.localRankVar + "=" + localRank + " is not below "
                    + localSizeName + "=" + env.get(localSizeName));
        }
        int masterPort = optionalPort(env);
        LauncherKind kind = family.kind(env);
        if (needMasterPort && worldSize > 1 && masterPort == 0) {
            throw new LaunchEnvException("MASTER_PORT is not set; it is required when the world has " + worldSize
                    + " ranks (" + family.sizeVar + "=" + worldSize + ", launcher " + kind + "): MASTER_ADDR and"
                    + " MASTER_PORT name rank 0's address and a free port; " + kind.masterHint());
        }
        return new LaunchEnv(kind, rank, worldSize, localRank, localSize, masterAddr, masterPort, timeout, nodeId);
    }

    /** Lowest port {@link #slurmPort} returns: unprivileged. */
    public static final int SLURM_PORT_BASE = 12_000;

    /** Consecutive steps of one job that get distinct ports. */
    public static final int SLURM_PORT_STEPS = 16;

    /** Jobs whose ports differ before the formula wraps around. */
    public static final int SLURM_PORT_JOBS = 1_250;

    /**
     * The rendezvous port of a Slurm job step when MASTER_PORT is not set:
     * {@code 12000 + (SLURM_JOB_ID mod 1250) * 16 + (SLURM_STEP_ID mod 16)}.
     *
     * <p>Every task of a step sees the same job and step ids, so all ranks compute the same port
     * with no communication. The result lies in 12000..31999: unprivileged, and below Linux's
     * default ephemeral range (32768..60999), so an outgoing connection of some other program is
     * unlikely to hold it. Sixteen consecutive steps of a job ({@code srun ... &} twice) and 1250
     * consecutive jobs get distinct ports; jobs further apart may share one, which matters only
     * when both put rank 0 on the same node at the same time (then the second fails at once,
     * naming the port, and MASTER_PORT chooses another).
     *
     * @param jobId  SLURM_JOB_ID
     * @param stepId SLURM_STEP_ID
     * @return the port
     */
    public static int slurmPort(long jobId, long stepId) {
        if (jobId < 0 || stepId < 0) throw new IllegalArgumentException("negative Slurm id: job " + jobId + ", step " + stepId);
        return SLURM_PORT_BASE + (int) (jobId % SLURM_PORT_JOBS) * SLURM_PORT_STEPS + (int) (stepId % SLURM_PORT_STEPS);
    }

    /**
     * Under srun without MASTER_ADDR/MASTER_PORT: the first host of the step's node list (where
     * task 0 runs under every standard distribution) and {@link #slurmPort}. Returns the
     * environment with the derived values added, or unchanged when the variables are set or the
     * step does not say enough (then the usual "not set" message names Slurm's remedy).
     */
    private static Map<String, String> withSlurmRendezvous(Map<String, String> env) {
        boolean needAddr = !env.containsKey("MASTER_ADDR");
        boolean needPort = !env.containsKey("MASTER_PORT");
        if (!needAddr && !needPort) return env;
        Map<String, String> out = new HashMap<>(env);
        if (needAddr) {
            String listVar = "SLURM_STEP_NODELIST";
            if (env.containsKey(listVar)) {
                String first;
                try {
                    first = SlurmHostList.first(env.get(listVar));
                } catch (IllegalArgumentException e) {
                    throw new LaunchEnvException(listVar + ": " + e.getMessage() + "; set MASTER_ADDR to rank 0's host");
                }
                String procId = env.get("SLURM_PROCID");
                String nodeIndex = env.get("SLURM_NODEID");
                if ("0".equals(procId == null ? null : procId.strip()) && nodeIndex != null && !nodeIndex.strip().equals("0")) {
                    // Rank 0 knows where it runs: an unusual distribution (arbitrary, a host file)
                    // put it elsewhere, and every rank would wait for a listener that never opens.
                    throw new LaunchEnvException("rank 0 runs on node " + nodeIndex.strip() + " of the step, not on "
                            + first + ", the first host of " + listVar + "=" + env.get(listVar)
                            + "; export MASTER_ADDR (rank 0's host) and MASTER_PORT before srun");
                }
                out.put("MASTER_ADDR", first);
            }
        }
        if (needPort) {
            String job = env.containsKey("SLURM_JOB_ID") ? "SLURM_JOB_ID" : "SLURM_JOBID";
            String step = env.containsKey("SLURM_STEP_ID") ? "SLURM_STEP_ID" : "SLURM_STEPID";
            if (env.containsKey(job) && env.containsKey(step) && (!needAddr || out.containsKey("MASTER_ADDR"))) {
                long jobId = slurmId(job, env.get(job));
                long stepId = slurmId(step, env.get(step));
                out.put("MASTER_PORT", Integer.toString(slurmPort(jobId, stepId)));
            }
        }
        return out;
    }

    private static long slurmId(String name, String value) {
        String s = value.strip();
        if (s.isEmpty() || s.length() > 18 || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new LaunchEnvException(name + "='" + value + "' is not a Slurm id (a non-negative integer)");
        }
        return Long.parseLong(s);
    }

    /** {@link #timeout()} in nanoseconds. */
    public long timeoutNanos() {
        return timeout.toNanos();
    }

    /** True when a launcher started this process (any launcher other than {@link LauncherKind#NONE}). */
    public boolean launched() {
        return launcher != LauncherKind.NONE;
    }

    /**
     * The variables of one launcher family. {@code localSizeVar} is null for Slurm, whose local
     * task count needs parsing.
     */
    private enum Family {
        DSCOMM("DSCOMM_RANK", "DSCOMM_WORLD_SIZE", "DSCOMM_LOCAL_RANK", "DSCOMM_LOCAL_SIZE"),
        PYTORCH("RANK", "WORLD_SIZE", "LOCAL_RANK", null) {
            @Override
            String localSizeVar(Map<String, String> env) {
                return kind(env) == LauncherKind.DEEPSPEED ? "LOCAL_SIZE" : "LOCAL_WORLD_SIZE";
            }
        },
        OPENMPI("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                "OMPI_COMM_WORLD_LOCAL_SIZE"),
        MPICH("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
        SLURM("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", null);

        final String rankVar;
        final String sizeVar;
        final String localRankVar;
        private final String localSizeVar;

        Family(String rankVar, String sizeVar, String localRankVar, String localSizeVar) {
            this.rankVar = rankVar;
            this.sizeVar = sizeVar;
            this.localRankVar = localRankVar;
            this.localSizeVar = localSizeVar;
        }

        /** The local size variable, or null when it must be parsed from Slurm's task list. */
        String localSizeVar(Map<String, String> env) {
            return localSizeVar;
        }

        static Family find(Map<String, String> env) {
            for (Family f : values()) {
                // SLURM_NTASKS alone describes an allocation (an sbatch or salloc shell), not a
                // task that srun started; only SLURM_PROCID marks a launched task.
                boolean sizeCounts = f != SLURM;
                if (env.containsKey(f.rankVar) || (sizeCounts && env.containsKey(f.sizeVar))) {
                    return f;
                }
            }
            return null;
        }

        LauncherKind kind(Map<String, String> env) {
            return switch (this) {
                case DSCOMM -> LauncherKind.DSCOMM;
                case PYTORCH -> {
                    if ("dscomm".equals(env.get("DSCOMM_LAUNCHER"))) yield LauncherKind.DSCOMM;
                    if (env.containsKey("LOCAL_WORLD_SIZE")) yield LauncherKind.TORCHRUN;
                    for (String k : env.keySet()) {
                        if (k.startsWith("TORCHELASTIC_")) yield LauncherKind.TORCHRUN;
                    }
                    yield env.containsKey("LOCAL_SIZE") ? LauncherKind.DEEPSPEED : LauncherKind.TORCHRUN;
                }
                case OPENMPI -> LauncherKind.OPENMPI;
                case MPICH -> LauncherKind.MPICH;
                case SLURM -> LauncherKind.SLURM;
            };
        }
    }

    private static int required(Map<String, String> env, String name, String companion) {
        String v = env.get(name);
        if (v == null && name.equals("SLURM_NTASKS")) {
            name = "SLURM_NPROCS";
            v = env.get(name);
        }
        if (v == null) {
            throw new LaunchEnvException(companion + "=" + env.get(companion) + " is set but " + name + " is not");
        }
        return nonNegative(name, v);
    }

    /** The variable's value, or -1 when it is not set. */
    private static int optional(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null ? -1 : nonNegative(name, v);
    }

    private static int nonNegative(String name, String value) {
        String s = value.strip();
        if (s.startsWith("-") && s.length() > 1 && s.chars().skip(1).allMatch(Character::isDigit)) {
            throw new LaunchEnvException(name + "=" + value + " is negative");
        }
        if (s.isEmpty() || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new LaunchEnvException(name + "='" + value + "' is not a non-negative integer");
        }
        if (s.length() > 9) {
            throw new LaunchEnvException(name + "=" + value + " is too large");
        }
        return Integer.parseInt(s);
    }

    private static int optionalPort(Map<String, String> env) {
        String v = env.get("MASTER_PORT");
        if (v == null) {
            return 0;
        }
        int port;
        try {
            port = nonNegative("MASTER_PORT", v);
        } catch (LaunchEnvException e) {
            throw new LaunchEnvException("MASTER_PORT='" + v + "' is not a port number (1..65535)");
        }
        if (port < 1 || port > 65_535) {
            throw new LaunchEnvException("MASTER_PORT=" + v + " is not a port number (1..65535)");
        }
        return port;
    }

    private static String slurmLocalSizeVar(Map<String, String> env) {
        return env.containsKey("SLURM_NTASKS_PER_NODE") ? "SLURM_NTASKS_PER_NODE" : "SLURM_TASKS_PER_NODE";
    }

    /**
     * Slurm's local task count. {@code SLURM_NTASKS_PER_NODE} is set only with
     * {@code --ntasks-per-node}; {@code SLURM_TASKS_PER_NODE} lists the count of every node of the
     * step in a compressed form ({@code 2(x3),1} = 2,2,2,1), indexed by {@code SLURM_NODEID}.
     * Returns -1 when the count cannot be known for this node (no node id and unequal counts).
     */
    private static int localSizeOfSlurm(Map<String, String> env) {
        String name = slurmLocalSizeVar(env);
        String v = env.get(name);
        if (v == null) {
            return -1;
        }
        Matcher plain = SLURM_TASKS_ENTRY.matcher(v.strip());
        if (plain.matches() && plain.group(2) == null) {
            // A single count ("4", as --ntasks-per-node gives) applies to every node.
            return Integer.parseInt(plain.group(1));
        }
        int nodeId = optional(env, "SLURM_NODEID");
        int index = 0;
        int uniform = -2;
        for (String entry : v.strip().split(",", -1)) {
            Matcher m = SLURM_TASKS_ENTRY.matcher(entry.strip());
            if (!m.matches()) {
                throw new LaunchEnvException(name + "='" + v + "' is not a Slurm task count list such as 2(x3),1");
            }
            int count = Integer.parseInt(m.group(1));
            int repeat = m.group(2) == null ? 1 : Integer.parseInt(m.group(2));
            if (repeat < 1) {
                throw new LaunchEnvException(name + "='" + v + "' has a repeat count of 0");
            }
            if (nodeId >= index && nodeId < index + repeat) {
                return count;
            }
            index += repeat;
            uniform = uniform == -2 || uniform == count ? count : -1;
        }
        if (nodeId >= 0) {
            throw new LaunchEnvException("SLURM_NODEID=" + nodeId + " is not below the " + index + " nodes of "
                    + name + "=" + v);
        }
        return uniform;
    }

    private static Duration parseTimeout(Map<String, String> env) {
        String v = env.get("DSCOMM_TIMEOUT");
        if (v == null || v.isBlank()) {
            return DEFAULT_TIMEOUT; // blank is unset, as for every DSCOMM_* variable
        }
        try {
            return Quantities.duration("DSCOMM_TIMEOUT", v, Quantities.MIN_DURATION, Quantities.MAX_DURATION);
        } catch (IllegalArgumentException e) {
            throw new LaunchEnvException(e.getMessage());
        }
    }

    static String parseNodeId(Map<String, String> env) {
        String v = env.get("DSCOMM_NODE_ID");
        if (v == null) {
            return null;
        }
        if (!NODE_ID.matcher(v).matches()) {
            throw new LaunchEnvException("DSCOMM_NODE_ID='" + v + "' must be non-empty printable ASCII without spaces");
        }
        if (v.length() > MAX_NODE_ID_BYTES) {
            throw new LaunchEnvException("DSCOMM_NODE_ID is " + v.length() + " characters long; at most "
                    + MAX_NODE_ID_BYTES + " are allowed");
        }
        return v;
    }
}
