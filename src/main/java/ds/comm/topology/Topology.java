package ds.comm.topology;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The verified, immutable table of the job: every rank's node, ring address, pid and byte order,
 * the same on every rank after {@link Rendezvous#join}, seen from one rank ({@link #rank()}).
 *
 * <p>Locality is decided by node identity only: ranks share a node (and may share memory) exactly
 * when their {@link NodeIdentity} strings are equal. Local ranks are positions in the sorted list
 * of a node's ranks, so they are verified facts rather than launcher hints.
 */
public final class Topology {

    private static final int HEX_TOKEN_CHARS = 2 * RendezvousDescriptor.TOKEN_BYTES;

    private final int rank;
    private final String jobToken;
    private final RankRecord[] records;
    private final int[] nodeIndexOfRank;
    private final int[] localRankOf;
    private final String[] nodes;
    private final int[][] ranksOfNode;
    private final Map<String, Integer> nodeIndex;

    /**
     * @param rank     this process's rank
     * @param jobToken random token shared by all ranks of the job, lower-case hex
     * @param records  one record per rank, ordered by rank (records.get(i).rank() == i)
     */
    public Topology(int rank, String jobToken, List<RankRecord> records) {
        Objects.requireNonNull(jobToken, "jobToken");
        Objects.requireNonNull(records, "records");
        if (!jobToken.matches("[0-9a-f]{1,64}")) {
            throw new IllegalArgumentException("job token must be lower-case hex: '" + jobToken + "'");
        }
        int n = records.size();
        if (n < 1 || n > LaunchEnv.MAX_WORLD_SIZE) {
            throw new IllegalArgumentException("world size " + n + " is outside 1.." + LaunchEnv.MAX_WORLD_SIZE);
        }
        if (rank < 0 || rank >= n) {
            throw new IllegalArgumentException("rank " + rank + " is outside 0.." + (n - 1));
        }
        this.rank = rank;
        this.jobToken = jobToken;
        this.records = records.toArray(new RankRecord[0]);
        this.nodeIndexOfRank = new int[n];
        this.localRankOf = new int[n];
        Map<String, Integer> index = new LinkedHashMap<>();
        int[] counts = new int[n];
        for (int r = 0; r < n; r++) {
            RankRecord rec = Objects.requireNonNull(this.records[r], "record of rank " + r);
            if (rec.rank() != r) {
                throw new IllegalArgumentException("record at position " + r + " is of rank " + rec.rank());
            }
            int node = index.computeIfAbsent(rec.nodeId(), k -> index.size());
            nodeIndexOfRank[r] = node;
            localRankOf[r] = counts[node]++;
        }
        this.nodes = index.keySet().toArray(new String[0]);
        this.ranksOfNode = new int[nodes.length][];
        for (int i = 0; i < nodes.length; i++) {
            ranksOfNode[i] = new int[counts[i]];
        }
        for (int r = 0; r < n; r++) {
            ranksOfNode[nodeIndexOfRank[r]][localRankOf[r]] = r;
        }
        this.nodeIndex = Map.copyOf(index);
    }

    /**
     * A world of one rank that needs no rendezvous.
     *
     * @param nodeId   this node's identity
     * @param ringPort this rank's ring port (0 when it has none)
     */
    public static Topology single(String nodeId, int ringPort) {
        byte[] token = new byte[RendezvousDescriptor.TOKEN_BYTES];
        new SecureRandom().nextBytes(token);
        RankRecord self = new RankRecord(0, nodeId, new InetSocketAddress(InetAddress.getLoopbackAddress(), ringPort),
                ProcessIdentity.current(), ByteOrder.nativeOrder(), 1);
        return new Topology(0, HexFormat.of().formatHex(token), List.of(self));
    }

    /** A world of one rank on node "local", without a ring port. */
    public static Topology single() {
        return single("local", 0);
    }

    /** Number of ranks. */
    public int worldSize() {
        return records.length;
    }

    /** This process's rank. */
    public int rank() {
        return rank;
    }

    /** Random token rank 0 drew for this job ({@value #HEX_TOKEN_CHARS} lower-case hex digits). */
    public String jobToken() {
        return jobToken;
    }

    /** Node identity of {@code rank}. */
    public String nodeOf(int rank) {
        return records[check(rank)].nodeId();
    }

    /** Node identity of this process. */
    public String myNode() {
        return nodeOf(rank);
    }

    /** Distinct node identities, in order of their lowest rank. */
    public List<String> nodes() {
        return List.of(nodes);
    }

    /** Ranks on {@code node}, ascending; empty when no rank runs there. */
    public int[] ranksOn(String node) {
        Integer i = nodeIndex.get(node);
        return i == null ? new int[0] : ranksOfNode[i].clone();
    }

    /** Lowest rank on {@code node}. */
    public int nodeLeader(String node) {
        Integer i = nodeIndex.get(node);
        if (i == null) {
            throw new IllegalArgumentException("no rank runs on node " + node);
        }
        return ranksOfNode[i][0];
    }

    /** Position of {@code rank} among the ranks of its node (verified, not the launcher's hint). */
    public int localRank(int rank) {
        return localRankOf[check(rank)];
    }

    /** Number of ranks on the node of {@code rank} (verified). */
    public int localSize(int rank) {
        return ranksOfNode[nodeIndexOfRank[check(rank)]].length;
    }

    /** Where {@code rank}'s ring listener accepts connections. */
    public InetSocketAddress ringAddress(int rank) {
        return records[check(rank)].ringAddress();
    }

    /** Process id of {@code rank}. */
    public long pidOf(int rank) {
        return records[check(rank)].pid();
    }

    /** The process of {@code rank}: its pid, start time and pid namespace as it announced them. */
    public ProcessIdentity processOf(int rank) {
        return records[check(rank)].process();
    }

    /** Native byte order of {@code rank}. */
    public ByteOrder byteOrderOf(int rank) {
        return records[check(rank)].byteOrder();
    }

    /** True when every rank has the same native byte order. */
    public boolean uniformByteOrder() {
        for (RankRecord r : records) {
            if (r.byteOrder() != records[0].byteOrder()) {
                return false;
            }
        }
        return true;
    }

    /** The full record of {@code rank}. */
    public RankRecord record(int rank) {
        return records[check(rank)];
    }

    /**
     * Ranks of the job whose processes certainly run on this machine ({@link ProcessIdentity#runsHere}),
     * at least this rank's node's. Differs from {@link #localSize} only when node identities do not
     * follow machines: {@code DSCOMM_NODE_ID} simulating several nodes on one machine, whose
     * ranks still share its processors. One {@code /proc} lookup per rank: call it once.
     */
    public int ranksRunningHere() {
        int here = 0;
        for (RankRecord r : records) {
            if (r.process().runsHere()) here++;
        }
        return Math.max(here, localSize(rank));
    }

    /** True when all of {@code ranks} (at least one) run on one node. */
    public boolean isNodeLocal(int[] ranks) {
        return nodeCount(ranks) == 1;
    }

    /** Number of distinct nodes among {@code ranks} (at least one rank, all in range). */
    public int nodeCount(int[] ranks) {
        if (ranks.length == 0) {
            throw new IllegalArgumentException("empty rank list");
        }
        boolean[] seen = new boolean[nodes.length];
        int count = 0;
        for (int r : ranks) {
            int node = nodeIndexOfRank[check(r)];
            if (!seen[node]) {
                seen[node] = true;
                count++;
            }
        }
        return count;
    }

    /** The local size {@code rank}'s launcher claimed, or -1 when it did not say. */
    public int localSizeHint(int rank) {
        return records[check(rank)].localSizeHint();
    }

    /**
     * True when this rank's launcher claimed a local size other than the verified number of ranks
     * on this node. The table wins; doctor prints the disagreement.
     */
    public boolean localSizeHintDisagrees() {
        int hint = localSizeHint(rank);
        return hint >= 0 && hint != localSize(rank);
    }

    /**
     * One canonical line describing the whole table (not which rank is looking), equal on every
     * rank of a correct rendezvous, e.g. for tests and for doctor.
     */
    public String digest() {
        StringBuilder b = new StringBuilder(64 + 96 * records.length);
        b.append("size=").append(records.length).append(" token=").append(jobToken).append(" nodes=[");
        for (int i = 0; i < nodes.length; i++) {
            b.append(i == 0 ? "" : "; ").append(nodes[i]).append(':').append(Arrays.toString(ranksOfNode[i]));
        }
        b.append("] ranks=[");
        for (RankRecord r : records) {
            b.append(r.rank() == 0 ? "" : "; ").append(r.rank()).append(" pid=").append(r.pid())
                    .append(" ring=").append(r.ringAddress().getAddress().getHostAddress()).append(':')
                    .append(r.ringAddress().getPort())
                    .append(r.byteOrder() == ByteOrder.LITTLE_ENDIAN ? " le" : " be");
        }
        return b.append(']').toString();
    }

    @Override
    public String toString() {
        return "Topology{rank " + rank + " of " + records.length + " on " + nodes.length + " node(s)}";
    }

    private int check(int r) {
        if (r < 0 || r >= records.length) {
            throw new IndexOutOfBoundsException("rank " + r + " is outside 0.." + (records.length - 1));
        }
        return r;
    }
}
