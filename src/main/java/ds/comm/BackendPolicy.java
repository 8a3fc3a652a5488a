package ds.comm;

import ds.comm.topology.ShmView;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Chooses the backend of one group from verified facts, and says why.
 *
 * <p>A pure function of its inputs so every rule is unit-tested without processes. Order of
 * authority, most specific first: {@link CommConfig}, then DSCOMM_BACKEND, then DSCOMM_SHM=0,
 * then the AUTO rules: SHM when every member is on this node and SHM is usable; HIER when the
 * members span nodes and some node holds more than one of them; RING otherwise.
 */
final class BackendPolicy {

    /**
     * What the policy needs to know about a group.
     *
     * @param worldRanks  members' world ranks, in group order
     * @param nodeOf      node identity of each member, in group order
     * @param shmProblem  why SHM cannot be used here (directory missing, not writable, too little
     *                    space), or null when it can
     * @param overMpi     whether this job met through MPI (started by an MPI launcher with MPI
     *                    enabled, or MPI forced): then MPI carries whatever crosses nodes
     */
    record Facts(int[] worldRanks, String[] nodeOf, String shmProblem, boolean overMpi) {
    }

    private BackendPolicy() {
    }

    static BackendChoice choose(Resolved config, Facts facts) {
        int n = facts.worldRanks().length;
        String who = describeRanks(facts.worldRanks());
        if (n == 1) {
            return new BackendChoice(Backend.LOCAL, "single rank (" + who + "); collectives are local copies");
        }
        Map<String, Integer> perNode = new LinkedHashMap<>();
        for (String node : facts.nodeOf()) perNode.merge(node, 1, Integer::sum);
        int nodes = perNode.size();
        int busiest = perNode.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        boolean spans = nodes > 1;
        String where = spans ? who + " span " + nodes + " nodes" : who + " share one node";
        String shmOff = config.shmEnabled() ? null : "SHM disabled by " + config.shmSource();
        String shmNo = shmOff != null ? shmOff : facts.shmProblem() == null ? null : "SHM unusable: " + facts.shmProblem();

        switch (config.backend()) {
            case SHM -> {
                if (spans) {
                    throw new IllegalStateException("backend shm (" + config.backendSource() + ") cannot serve " + where
                            + ": shared memory needs every rank on one node; use auto, ring or hier");
                }
                if (shmNo != null) {
                    throw new IllegalStateException("backend shm (" + config.backendSource() + ") requested but " + shmNo);
                }
                return new BackendChoice(Backend.SHM, where + "; forced by " + config.backendSource());
            }
            case HIER -> {
                if (shmNo != null) {
                    throw new IllegalStateException("backend hier (" + config.backendSource() + ") needs shared memory but " + shmNo);
                }
                return new BackendChoice(Backend.HIER, where + "; forced by " + config.backendSource());
            }
            case RING -> {
                if (facts.overMpi()) {
                    throw new IllegalStateException("backend ring (" + config.backendSource() + ") needs the socket rendezvous"
                            + " (MASTER_ADDR, MASTER_PORT), but this job met through MPI; set DSCOMM_MPI=0 to use sockets");
                }
                return new BackendChoice(Backend.RING, where + "; forced by " + config.backendSource());
            }
            case MPI -> {
                return new BackendChoice(Backend.MPI, where + "; forced by " + config.backendSource());
            }
            case AUTO, LOCAL -> {
                // fall through to the automatic rules below
            }
        }
        // In a job that met through MPI, MPI (the cluster's fabric) carries whatever crosses
        // nodes; otherwise the socket ring does.
        Backend network = facts.overMpi() ? Backend.MPI : Backend.RING;
        String between = facts.overMpi() ? "MPI between nodes" : "ring between nodes";
        if (!spans) {
            if (shmNo == null) return new BackendChoice(Backend.SHM, where);
            return new BackendChoice(network, where + "; " + shmNo);
        }
        if (busiest > 1) {
            if (shmNo == null) {
                return new BackendChoice(Backend.HIER, where + ", up to " + busiest + " on one node; SHM inside each node, " + between);
            }
            return new BackendChoice(network, where + "; " + shmNo);
        }
        return new BackendChoice(network, where + ", one rank per node");
    }

    /**
     * Why shared memory cannot serve this group, from every member's own view of its node's
     * shared-memory directory, or null when it can. Every member computes this from the same
     * views (the rendezvous table for the world, the split's all-gather for a split), so every
     * member reaches the same answer: one rank's racing view of the free space can no longer put
     * it on SHM while a peer takes the ring.
     *
     * <p>Only nodes holding two or more members need segments; on each, the segments of all its
     * members must fit the free space every one of them saw. The first objection in group order
     * is the answer, naming the rank that saw it.
     *
     * @param worldRanks members' world ranks, in group order
     * @param nodeOf     members' node identities, in group order
     * @param views      members' views, in group order
     */
    static String shmProblem(int[] worldRanks, String[] nodeOf, ShmView[] views) {
        int n = worldRanks.length;
        if (nodeOf.length != n || views.length != n) {
            throw new IllegalArgumentException(n + " ranks, " + nodeOf.length + " nodes, " + views.length + " views");
        }
        Map<String, long[]> perNode = new LinkedHashMap<>(); // node -> {members, segment bytes needed}
        for (int i = 0; i < n; i++) {
            long[] acc = perNode.computeIfAbsent(nodeOf[i], k -> new long[2]);
            acc[0]++;
            acc[1] += views[i].segmentBytes();
        }
        for (int i = 0; i < n; i++) {
            long[] acc = perNode.get(nodeOf[i]);
            if (acc[0] < 2) continue;
            String objection = views[i].objection(acc[1], "world rank " + worldRanks[i]);
            if (objection != null) {
                return objection + (views[i].freeBytes() >= 0 ? " for " + acc[0] + " ranks on its node" : "");
            }
        }
        return null;
    }

    /** "ranks 0-3", "ranks 0,2,4-6", "rank 5". */
    static String describeRanks(int[] ranks) {
        int[] sorted = ranks.clone();
        java.util.Arrays.sort(sorted);
        StringBuilder sb = new StringBuilder(sorted.length == 1 ? "rank " : "ranks ");
        for (int i = 0; i < sorted.length; ) {
            int j = i;
            while (j + 1 < sorted.length && sorted[j + 1] == sorted[j] + 1) j++;
            if (i > 0) sb.append(',');
            sb.append(sorted[i]);
            if (j > i) sb.append('-').append(sorted[j]);
            i = j + 1;
        }
        return sb.toString();
    }
}
