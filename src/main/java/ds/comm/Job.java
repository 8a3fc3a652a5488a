package ds.comm;

import ds.comm.hier.HierCollective;
import ds.comm.hier.HierLayout;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.mpi.MpiCollective;
import ds.comm.mpi.MpiImplementation;
import ds.comm.mpi.MpiLibrary;
import ds.comm.lanes.Reducers;
import ds.comm.ring.PeerLinks;
import ds.comm.ring.RingCollective;
import ds.comm.ring.RingEndpoint;
import ds.comm.shm.CrossGroupWatch;
import ds.comm.shm.ShmCollective;
import ds.comm.spi.Collective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import ds.comm.spi.SoloCollective;
import ds.comm.topology.FixedRankRecord;
import ds.comm.topology.JobSecret;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LauncherKind;
import ds.comm.topology.NodeIdentity;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.LaunchLedger;
import ds.comm.topology.MeetingRecord;
import ds.comm.topology.ProcessIdentity;
import ds.comm.topology.ShmView;
import ds.comm.topology.Topology;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What all communicators of one process share: the resolved configuration, the verified
 * topology, the ring endpoint and the reduction kernels. Reference-counted: the last
 * communicator to close releases the endpoint.
 */
final class Job {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    private final Resolved config;
    private final LaunchEnv launch;
    private final Topology topology;
    private final RingEndpoint endpoint;
    private final Reducer reducer;
    private final MpiCollective mpiWorld;
    /** See {@link #asyncQueues()}; copy-on-write: read on every call, written once per group. */
    private final List<ProgressQueue> asyncQueues = new CopyOnWriteArrayList<>();
    private final WarmUp warmUp;
    /** Ranks of this job on this node (this one included). */
    private final int ranksOnNode;
    /** The resolved settings with idle strategies that know how many ranks share this node. */
    private final Settings settings;
    private final AtomicInteger users = new AtomicInteger();
    /** Finds calls on this job's SHM groups made in different orders by different ranks. */
    private final CrossGroupWatch crossGroupWatch = new CrossGroupWatch();

    private Job(Resolved config, LaunchEnv launch, Topology topology, RingEndpoint endpoint, Reducer reducer,
                MpiCollective mpiWorld) {
        this.config = config;
        int ranksOnNode = topology.ranksOn(topology.nodeOf(topology.rank())).length;
        this.warmUp = WarmUp.of(config.warmUp());
        this.ranksOnNode = ranksOnNode;
        // Waiting adapts to how many of our ranks share this machine's processors. Where node
        // identities are simulated (DSCOMM_NODE_ID), the node's count understates it: 4 ranks on
        // 2 simulated nodes of a 2-core machine spun as if each had a core, and HIER's small
        // all-reduces took 1.3 ms instead of ~0.1 ms.
        int sharingProcessors = !NodeIdentity.overridden(config.environment()) ? ranksOnNode
                : topology.ranksRunningHere();
        this.settings = config.settings().withIdle(Resolved.idleStrategies(config.idle(), sharingProcessors));
        this.launch = launch;
        this.topology = topology;
        this.endpoint = endpoint;
        this.reducer = reducer;
        this.mpiWorld = mpiWorld;
    }

    static Job start(CommConfig commConfig) {
        Resolved config = Resolved.of(commConfig);
        Reducer reducer = config.vectorBits() < 0 ? Reducers.fromEnvironment(null)
                : config.vectorBits() == 0 ? Reducers.scalar() : Reducers.vector(config.vectorBits());
        String nodeId = NodeIdentity.detect(config.environment(), config.settings().shmDir());
        LaunchEnv lenient = LaunchEnv.detectWithoutRendezvous(config.environment());
        if (config.backend() == Backend.MPI) {
            return startOverMpi(config, lenient, nodeId, reducer);
        }
        if (meetsThroughMpi(config, lenient)) {
            // Started by mpirun/mpiexec: the job meets through MPI (no MASTER_PORT needed) and, in
            // AUTO, MPI carries cross-node traffic (SHM still serves what is node-local). Without a
            // loadable MPI library the socket rendezvous remains, if MASTER_PORT says where.
            try {
                return startOverMpi(config, lenient, nodeId, reducer);
            } catch (CommFailure f) {
                if (lenient.masterPort() == 0) {
                    throw new CommFailure(f.kind(), f.peerRank(), f.group(), "init", "the ranks could not meet through MPI ("
                            + f.getMessage() + ") and MASTER_PORT is not set for the socket rendezvous; "
                            + lenient.launcher().masterHint(), f);
                }
                LOG.log(System.Logger.Level.WARNING,
                        "started by " + lenient.launcher() + " but MPI is unusable (" + f.getMessage()
                                + "); using the socket rendezvous at MASTER_ADDR:MASTER_PORT instead");
            }
        }
        if (ringMeetsThroughMpi(config, lenient)) {
            try {
                return startRingThroughMpi(config, lenient, nodeId, reducer);
            } catch (CommFailure f) {
                throw new CommFailure(f.kind(), f.peerRank(), f.group(), "init", "the ranks could not learn rank 0's"
                        + " address through MPI (" + f.getMessage() + ") and MASTER_PORT is not set; "
                        + lenient.launcher().masterHint(), f);
            }
        }
        LaunchEnv launch = LaunchEnv.detect(config.environment());
        RingEndpoint endpoint = null;
        try {
            int ringPort = 0;
            JobSecret secret = JobSecret.fromEnvironment(config.environment());
            if (launch.worldSize() > 1) {
                // The ring handshake proves the same secret as the rendezvous, in both directions.
                endpoint = RingEndpoint.bind(secret);
                ringPort = endpoint.port();
            }
            // The secret authenticates every rendezvous connection (and rank 0's answer).
            Topology topology = Rendezvous.join(launch, nodeId, ringPort, shmView(config), config.settings().timeoutNanos(),
                    secret, LaunchLedger.fromEnvironment(config.environment()));
            return new Job(config, launch, topology, endpoint, reducer, null);
        } catch (RuntimeException e) {
            if (endpoint != null) endpoint.close();
            throw e;
        }
    }

    /**
     * Whether a job started by an MPI launcher bootstraps through MPI rather than the socket
     * rendezvous: always in AUTO (MPI then also carries cross-node traffic), and for a forced SHM
     * or HIER when MASTER_PORT is not set (their node-local part needs only the verified node
     * table, and HIER's leaders then talk over MPI). A forced RING needs socket addresses, which
     * only the socket rendezvous exchanges; DSCOMM_MPI=0 keeps MPI out entirely.
     */
    static boolean meetsThroughMpi(Resolved config, LaunchEnv launch) {
        boolean mpiLaunched = launch.launcher() == LauncherKind.OPENMPI || launch.launcher() == LauncherKind.MPICH;
        if (!mpiLaunched || !config.mpiEnabled() || launch.worldSize() < 2) return false;
        return switch (config.backend()) {
            case AUTO -> true;
            case SHM, HIER -> launch.masterPort() == 0;
            default -> false;
        };
    }

    /**
     * Whether a forced RING under an MPI launcher without MASTER_PORT uses MPI only to bring the
     * ranks together: MPI tells every rank where rank 0's socket rendezvous listens (and its job
     * secret), the ordinary rendezvous then exchanges ring addresses as it always does, and MPI
     * is finalised before the first collective.
     */
    static boolean ringMeetsThroughMpi(Resolved config, LaunchEnv launch) {
        boolean mpiLaunched = launch.launcher() == LauncherKind.OPENMPI || launch.launcher() == LauncherKind.MPICH;
        return mpiLaunched && config.mpiEnabled() && launch.worldSize() > 1 && config.backend() == Backend.RING
                && launch.masterPort() == 0;
    }

    /**
     * The socket rendezvous with MASTER_ADDR, MASTER_PORT and the job secret supplied by rank 0
     * over MPI. Rank 0 opens its listener on an ephemeral port first (no window in which another
     * process could take it) and advertises 127.0.0.1 when the MPI node table shows one node, its
     * host name otherwise, unless MASTER_ADDR names an address. Without DSCOMM_JOB_SECRET rank 0
     * draws a random secret, so the rendezvous and the ring are authenticated all the same.
     */
    private static Job startRingThroughMpi(Resolved config, LaunchEnv lenient, String nodeId, Reducer reducer) {
        MpiImplementation expected = mpiImplementationOf(lenient, config.environment());
        MpiLibrary lib = MpiLibrary.load(config.mpiLibrary(), expected, config.environment());
        RingEndpoint endpoint = null;
        Rendezvous.Listener listener = null;
        LaunchEnv launch;
        JobSecret secret;
        try (MpiCollective world = MpiCollective.world(lib, config.settings(), reducer, mpiThreads(config));
             Arena arena = Arena.ofConfined()) {
            if (world.size() != lenient.worldSize()) {
                throw new IllegalStateException("the launcher (" + lenient.launcher() + ") started " + lenient.worldSize()
                        + " ranks but " + lib.describe() + " sees a world of " + world.size()
                        + "; set DSCOMM_MPI_LIB to the launcher's own library");
            }
            Topology nodes = exchangeOverMpi(world, nodeId, shmView(config));
            MemorySegment record;
            if (world.rank() == 0) {
                String given = config.environment().get(JobSecret.ENV);
                String secretText = given == null || given.isEmpty() ? JobSecret.generate() : given;
                String addr = config.environment().containsKey("MASTER_ADDR") ? lenient.masterAddr()
                        : nodes.nodes().size() == 1 ? LaunchEnv.DEFAULT_MASTER_ADDR : localHostName();
                MeetingRecord.requireFits(secretText, addr);
                listener = Rendezvous.listen(world.size(), JobSecret.of(secretText));
                record = new MeetingRecord(secretText, addr, listener.port()).encode(arena);
            } else {
                record = arena.allocate(MeetingRecord.BYTES);
            }
            world.broadcast(record, 0);
            MeetingRecord meeting = MeetingRecord.decode(record);
            secret = JobSecret.of(meeting.secret());
            String addr = meeting.address();
            int port = meeting.port();
            launch = new LaunchEnv(lenient.launcher(), lenient.rank(), lenient.worldSize(), lenient.localRank(),
                    lenient.localSize(), addr, port, lenient.timeout(), lenient.nodeIdOverride());
            // Every rank leaves MPI here, together: the job from now on is the socket ring's.
        } catch (RuntimeException e) {
            if (listener != null) listener.close();
            throw e;
        }
        try {
            endpoint = RingEndpoint.bind(secret);
            long timeout = config.settings().timeoutNanos();
            Topology topology = launch.rank() == 0
                    ? Rendezvous.join(launch, nodeId, endpoint.port(), shmView(config), timeout, listener)
                    : Rendezvous.join(launch, nodeId, endpoint.port(), shmView(config), timeout, secret, LaunchLedger.none());
            return new Job(config, launch, topology, endpoint, reducer, null);
        } catch (RuntimeException e) {
            if (listener != null) listener.close();
            if (endpoint != null) endpoint.close();
            throw e;
        }
    }

    private static String localHostName() {
        try {
            return java.net.InetAddress.getLocalHost().getCanonicalHostName();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException("rank 0 cannot name its own host to the other ranks (" + e.getMessage()
                    + "); set MASTER_ADDR to an address of rank 0's node", e);
        }
    }

    /** The MPI implementation the launcher belongs to, whose library must be loaded. */
    static MpiImplementation mpiImplementationOf(LaunchEnv launch, java.util.Map<String, String> env) {
        return switch (launch.launcher()) {
            case OPENMPI -> MpiImplementation.OPEN_MPI;
            case MPICH -> MpiImplementation.ofHydra(env);
            default -> MpiImplementation.UNKNOWN;
        };
    }

    /**
     * With the MPI backend the job is MPI's: rank and size come from MPI_COMM_WORLD (no
     * MASTER_PORT needed), and the node table is exchanged through MPI itself, so locality is
     * still verified from node identities rather than taken from launcher variables.
     */
    private static Job startOverMpi(Resolved config, LaunchEnv launch, String nodeId, Reducer reducer) {
        MpiImplementation expected = mpiImplementationOf(launch, config.environment());
        MpiLibrary lib = MpiLibrary.load(config.mpiLibrary(), expected, config.environment());
        MpiCollective world = MpiCollective.world(lib, config.settings(), reducer, mpiThreads(config));
        try {
            if (launch.launched() && launch.worldSize() != world.size()) {
                String source = config.mpiLibrary() != null ? "chosen by DSCOMM_MPI_LIB=" + config.mpiLibrary()
                        : "chosen for " + expected.displayName();
                throw new IllegalStateException("the launcher (" + launch.launcher() + ") started " + launch.worldSize()
                        + " ranks but " + lib.describe() + " (" + source + ") sees a world of " + world.size()
                        + ": is the MPI library from a different MPI than the launcher? Set DSCOMM_MPI_LIB to the"
                        + " launcher's own library");
            }
            Topology topology = exchangeOverMpi(world, nodeId, shmView(config));
            return new Job(config, launch, topology, null, reducer, world);
        } catch (RuntimeException e) {
            world.close();
            throw e;
        }
    }

    /** The MPI backend's name for the configured thread level. */
    private static MpiLibrary.Threads mpiThreads(Resolved config) {
        return switch (config.mpiThreads()) {
            case SINGLE -> MpiLibrary.Threads.SINGLE;
            case MULTIPLE -> MpiLibrary.Threads.MULTIPLE;
        };
    }

    /** One all-gather of every rank's {@link FixedRankRecord} and a broadcast token: the topology. */
    private static Topology exchangeOverMpi(MpiCollective world, String nodeId, ShmView shmView) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mine = FixedRankRecord.of(nodeId, shmView, arena);
            MemorySegment all = arena.allocate((long) FixedRankRecord.BYTES * world.size());
            world.allGather(mine, all, ElementType.INT32);
            MemorySegment token = world.rank() == 0 ? FixedRankRecord.newToken(arena)
                    : arena.allocate(FixedRankRecord.TOKEN_BYTES);
            world.broadcast(token, 0);
            return FixedRankRecord.topology(world.rank(), all, world.size(), token);
        }
    }

    Resolved config() {
        return config;
    }

    LaunchEnv launch() {
        return launch;
    }

    Topology topology() {
        return topology;
    }

    Reducer reducer() {
        return reducer;
    }

    Settings settings() {
        return settings;
    }

    /** Ranks of this job on this node, this one included. */
    int ranksOnNode() {
        return ranksOnNode;
    }

    /** The JIT warm-up started with this job; {@code init()} finishes it. */
    WarmUp warmUp() {
        return warmUp;
    }

    void acquire() {
        users.incrementAndGet();
    }

    /**
     * The non-blocking queues of this job's communicators while MPI runs one call at a time
     * (only those register), so that a call on one group can first finish what the others issued
     * before it ({@code Communicator.drainOtherGroups}).
     */
    List<ProgressQueue> asyncQueues() {
        return asyncQueues;
    }

    void addAsyncQueue(ProgressQueue q) {
        asyncQueues.add(q);
    }

    void removeAsyncQueue(ProgressQueue q) {
        asyncQueues.remove(q);
    }

    /** For a job whose first communicator failed to open: releases what start() took. */
    void acquireAndRelease() {
        acquire();
        release();
    }

    void release() {
        if (users.decrementAndGet() == 0) {
            if (endpoint != null) endpoint.close();
            if (mpiWorld != null) mpiWorld.close();
        }
    }

    /** The world's members' shared-memory views, as the rendezvous table announced them. */
    ShmView[] worldViews(int[] worldRanks) {
        ShmView[] views = new ShmView[worldRanks.length];
        for (int i = 0; i < views.length; i++) views[i] = topology.record(worldRanks[i]).shmView();
        return views;
    }

    /**
     * Chooses the backend for a group, from verified facts: the same on every member, since
     * every input is the same on every member (the topology, and {@code views}, which all
     * members exchanged).
     *
     * @param views every member's view of its shared-memory directory, in group order
     */
    BackendChoice choose(GroupSpec group, ShmView[] views) {
        requireOneByteOrder(topology, group);
        int[] members = group.members();
        String[] nodes = new String[members.length];
        int onThisNode = 0;
        String here = topology.nodeOf(topology.rank());
        for (int i = 0; i < members.length; i++) {
            nodes[i] = topology.nodeOf(members[i]);
            if (nodes[i].equals(here)) onThisNode++;
        }
        String shmProblem = BackendPolicy.shmProblem(members, nodes, views);
        if (shmProblem != null) {
            // The decision is the group's; the path is this rank's setting, for the user to check.
            shmProblem += " (this rank's directory: " + settings().shmDir() + ")";
        }
        BackendChoice choice = BackendPolicy.choose(config, new BackendPolicy.Facts(members, nodes, shmProblem,
                mpiWorld != null));
        if (shmProblem != null && config.shmEnabled() && onThisNode > 1
                && (choice.backend() == Backend.RING || choice.backend() == Backend.MPI)) {
            // AUTO wanted shared memory here and silently getting a slower path would surprise.
            LOG.log(System.Logger.Level.WARNING, "ds-comm group " + group.name() + ": shared memory is unusable ("
                    + shmProblem + "); using " + (choice.backend() == Backend.RING ? "the socket ring" : "MPI")
                    + " instead");
        }
        if (choice.backend() == Backend.MPI && mpiWorld != null) {
            // Name the library and version actually loaded: "Open MPI v4.1.4 (libmpi.so.40), 2 nodes; ..."
            long distinct = java.util.Arrays.stream(nodes).distinct().count();
            choice = new BackendChoice(Backend.MPI, mpiWorld.describe().replaceFirst("^mpi: ", "") + ", " + distinct
                    + (distinct == 1 ? " node; " : " nodes; ") + choice.reason());
        }
        return choice;
    }

    /**
     * Tensor payloads travel in native byte order, so a group whose members disagree on it (a
     * ring joining x86 and s390x ranks) would sum byte-swapped garbage. Refuse it at init, naming
     * the ranks and their orders, before any collective runs.
     */
    static void requireOneByteOrder(Topology topology, GroupSpec group) {
        int[] members = group.members();
        java.nio.ByteOrder first = topology.byteOrderOf(members[0]);
        for (int r : members) {
            if (topology.byteOrderOf(r) != first) {
                StringBuilder who = new StringBuilder();
                for (int m : members) {
                    if (who.length() > 0) who.append(", ");
                    who.append("rank ").append(m).append(' ').append(topology.byteOrderOf(m));
                }
                throw new IllegalStateException("group " + group.name() + " mixes byte orders (" + who
                        + "): ds-comm moves tensors in native byte order and cannot reduce across them;"
                        + " run the group on CPUs of one byte order");
            }
        }
    }

    /** What this rank sees of its shared-memory directory now, to be announced to its group. */
    ShmView shmView() {
        return shmView(config);
    }

    static ShmView shmView(Resolved config) {
        var dir = config.settings().shmDir();
        long segment = config.settings().shmBytes();
        if (!config.shmEnabled()) return new ShmView(ShmView.DISABLED, segment);
        if (!Files.isDirectory(dir)) return new ShmView(ShmView.MISSING, segment);
        if (!Files.isWritable(dir)) return new ShmView(ShmView.NOT_WRITABLE, segment);
        try {
            return new ShmView(Files.getFileStore(dir).getUsableSpace(), segment);
        } catch (IOException e) {
            return new ShmView(ShmView.UNREADABLE, segment);
        }
    }

    /**
     * Opens the engine the choice names, for this process's place in the group.
     *
     * @param mpi    the group's own MPI communicator in a job over MPI, else null
     */
    Collective open(GroupSpec group, BackendChoice choice, MpiCollective mpi) {
        return switch (choice.backend()) {
            case LOCAL -> new SoloCollective();
            case SHM -> ShmCollective.open(group, settings(), reducer, processes(group.members()), crossGroupWatch);
            case RING -> RingCollective.open(group, settings(), reducer, endpoint, ringAddresses(group.members()));
            case HIER -> openHierarchical(group, mpi);
            case MPI -> {
                if (mpi == null) {
                    throw new IllegalStateException("group " + group.name() + ": backend mpi must be chosen for the whole job at"
                            + " init (DSCOMM_BACKEND=mpi, CommConfig.backend(MPI), or AUTO under mpirun), not for one split");
                }
                yield mpi.hold();
            }
            case AUTO -> throw new IllegalStateException("AUTO is resolved by the policy, never opened");
        };
    }

    /**
     * SHM among this node's members; between node leaders the ring, or in a job over MPI an MPI
     * communicator split from the group's own (every member takes part in that split; the
     * non-leaders free their half at once). Sub-group names extend the group's: "NAME.nK" for
     * node K's local group, "NAME.x" for the leaders.
     */
    private Collective openHierarchical(GroupSpec group, MpiCollective mpi) {
        HierLayout layout = HierLayout.of(group, topology::nodeOf);
        GroupSpec localGroup = layout.localGroup();
        Collective local = null;
        Collective leaders = null;
        try {
            local = localGroup.size() == 1 ? new SoloCollective()
                    : ShmCollective.open(localGroup, settings(), reducer, processes(localGroup.members()), crossGroupWatch);
            if (mpi != null) {
                MpiCollective half = mpi.split(layout.leader() ? 0 : 1, group.myIndex());
                if (layout.leader()) leaders = half;
                else half.close();
            } else if (layout.leader()) {
                GroupSpec leadersGroup = layout.leadersGroup();
                leaders = leadersGroup.size() == 1 ? new SoloCollective()
                        : RingCollective.open(leadersGroup, settings(), reducer, endpoint, ringAddresses(leadersGroup.members()));
            }
            // Point-to-point between nodes goes straight from rank to rank: over the group's MPI
            // communicator in a job over MPI, else over on-demand connections of the ring endpoints.
            PeerLinks links = mpi != null ? null : new PeerLinks(group, endpoint,
                    ringAddresses(group.members()), settings().timeoutNanos(), settings().idle().get(),
                    (int) Math.min(settings().chunkBytes(), 1 << 20));
            return new HierCollective(layout, local, leaders, mpi != null ? mpi : links, links);
        } catch (RuntimeException e) {
            if (leaders != null) leaders.close();
            if (local != null) local.close();
            throw e;
        }
    }

    /** The processes of {@code worldRanks} as the rendezvous table announced them. */
    private ProcessIdentity[] processes(int[] worldRanks) {
        ProcessIdentity[] processes = new ProcessIdentity[worldRanks.length];
        for (int i = 0; i < worldRanks.length; i++) {
            processes[i] = topology.processOf(worldRanks[i]);
        }
        return processes;
    }

    List<InetSocketAddress> ringAddresses(int[] worldRanks) {
        List<InetSocketAddress> out = new ArrayList<>(worldRanks.length);
        for (int r : worldRanks) out.add(topology.ringAddress(r));
        return out;
    }

    RingEndpoint endpoint() {
        return endpoint;
    }

    /** The MPI world in a job over MPI, else null. */
    MpiCollective mpiWorld() {
        return mpiWorld;
    }
}
