package ds.comm;

import ds.comm.hier.HierCollective;
import ds.comm.lanes.Reducer;
import ds.comm.lanes.Reducers;
import ds.comm.ring.RingCollective;
import ds.comm.ring.RingEndpoint;
import ds.comm.shm.ShmCollective;
import ds.comm.spi.Collective;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LauncherKind;
import ds.comm.topology.NodeIdentity;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.Topology;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What all communicators of one process share: the resolved configuration, the verified
 * topology, the ring endpoint and the reduction kernels. Reference-counted: the last
 * communicator to close releases the endpoint.
 */
final class Job {

    private final Resolved config;
    private final LaunchEnv launch;
    private final Topology topology;
    private final RingEndpoint endpoint;
    private final Reducer reducer;
    private final AtomicInteger users = new AtomicInteger();

    private Job(Resolved config, LaunchEnv launch, Topology topology, RingEndpoint endpoint, Reducer reducer) {
        this.config = config;
        this.launch = launch;
        this.topology = topology;
        this.endpoint = endpoint;
        this.reducer = reducer;
    }

    static Job start(CommConfig commConfig) {
        Resolved config = Resolved.of(commConfig);
        Reducer reducer = config.vectorBits() < 0 ? Reducers.fromEnvironment(null)
                : config.vectorBits() == 0 ? Reducers.scalar() : Reducers.vector(config.vectorBits());
        LaunchEnv launch = LaunchEnv.detect(config.environment());
        String nodeId = NodeIdentity.detect(config.environment(), config.settings().shmDir());
        RingEndpoint endpoint = null;
        try {
            int ringPort = 0;
            if (launch.worldSize() > 1) {
                endpoint = RingEndpoint.bind();
                ringPort = endpoint.port();
            }
            Topology topology = Rendezvous.join(launch, nodeId, ringPort, config.settings().timeoutNanos());
            return new Job(config, launch, topology, endpoint, reducer);
        } catch (RuntimeException e) {
            if (endpoint != null) endpoint.close();
            throw e;
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
        return config.settings();
    }

    void acquire() {
        users.incrementAndGet();
    }

    /** For a job whose first communicator failed to open: releases what start() took. */
    void acquireAndRelease() {
        acquire();
        release();
    }

    void release() {
        if (users.decrementAndGet() == 0 && endpoint != null) endpoint.close();
    }

    /** Chooses the backend for a group, from verified facts. */
    BackendChoice choose(GroupSpec group) {
        int[] members = group.members();
        String[] nodes = new String[members.length];
        int onThisNode = 0;
        String here = topology.nodeOf(topology.rank());
        for (int i = 0; i < members.length; i++) {
            nodes[i] = topology.nodeOf(members[i]);
            if (nodes[i].equals(here)) onThisNode++;
        }
        return BackendPolicy.choose(config, new BackendPolicy.Facts(members, nodes, shmProblem(onThisNode),
                launch.launcher() == LauncherKind.OPENMPI || launch.launcher() == LauncherKind.MPICH));
    }

    /** Why SHM cannot hold {@code localRanks} segments here, or null when it can. */
    String shmProblem(int localRanks) {
        var dir = settings().shmDir();
        if (!Files.isDirectory(dir)) return dir + " does not exist";
        if (!Files.isWritable(dir)) return dir + " is not writable";
        long need = settings().shmBytes() * localRanks;
        try {
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < need) return dir + " has " + free + " bytes free, " + need + " needed for " + localRanks + " ranks";
        } catch (IOException e) {
            return dir + " unreadable: " + e.getMessage();
        }
        return null;
    }

    /** Opens the engine the choice names, for this process's place in the group. */
    Collective open(GroupSpec group, BackendChoice choice) {
        return switch (choice.backend()) {
            case LOCAL -> new SoloCollective();
            case SHM -> ShmCollective.open(group, settings(), reducer);
            case RING -> RingCollective.open(group, settings(), reducer, endpoint, ringAddresses(group.members()));
            case HIER -> openHierarchical(group);
            case MPI, AUTO -> throw new IllegalStateException("backend " + choice.backend().label() + " is not available in this build");
        };
    }

    /**
     * SHM among this node's members, ring among node leaders. Sub-group names extend the
     * group's: "NAME.nK" for node K's local group, "NAME.x" for the leaders.
     */
    private Collective openHierarchical(GroupSpec group) {
        int[] members = group.members();
        int n = members.length;
        List<String> nodeOrder = new ArrayList<>();
        int[] nodeOfRank = new int[n];
        int[] localIndex = new int[n];
        int[] perNode = new int[n];
        for (int i = 0; i < n; i++) {
            String node = topology.nodeOf(members[i]);
            int k = nodeOrder.indexOf(node);
            if (k < 0) {
                k = nodeOrder.size();
                nodeOrder.add(node);
            }
            nodeOfRank[i] = k;
            localIndex[i] = perNode[k]++;
        }
        int me = group.myIndex();
        int myNode = nodeOfRank[me];
        int[] localMembers = new int[perNode[myNode]];
        int[] leaderMembers = new int[nodeOrder.size()];
        for (int i = 0; i < n; i++) {
            if (nodeOfRank[i] == myNode) localMembers[localIndex[i]] = members[i];
            if (localIndex[i] == 0) leaderMembers[nodeOfRank[i]] = members[i];
        }
        Collective local = null;
        Collective leaders = null;
        try {
            local = localMembers.length == 1 ? new SoloCollective()
                    : ShmCollective.open(new GroupSpec(group.name() + ".n" + myNode, group.jobToken(), localMembers, localIndex[me]),
                    settings(), reducer);
            if (localIndex[me] == 0) {
                leaders = leaderMembers.length == 1 ? new SoloCollective()
                        : RingCollective.open(new GroupSpec(group.name() + ".x", group.jobToken(), leaderMembers, myNode),
                        settings(), reducer, endpoint, ringAddresses(leaderMembers));
            }
            return new HierCollective(me, nodeOfRank, localIndex, local, leaders);
        } catch (RuntimeException e) {
            if (leaders != null) leaders.close();
            if (local != null) local.close();
            throw e;
        }
    }

    List<InetSocketAddress> ringAddresses(int[] worldRanks) {
        List<InetSocketAddress> out = new ArrayList<>(worldRanks.length);
        for (int r : worldRanks) out.add(topology.ringAddress(r));
        return out;
    }

    RingEndpoint endpoint() {
        return endpoint;
    }
}
