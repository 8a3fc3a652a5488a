package ds.comm.hier;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.BackendCollective;
import ds.comm.spi.Collective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.ComposingCollective;
import ds.comm.spi.PointToPoint;
import ds.comm.spi.Scratch;

import java.lang.foreign.MemorySegment;

/**
 * A group spanning nodes, as two levels: {@code local} holds this node's members (index 0 is
 * the node's leader, its lowest group rank) and {@code leaders} holds one leader per node, in
 * the order the nodes first appear in the group.
 *
 * <p>All-reduce: reduce inside the node through shared memory, all-reduce between leaders, then
 * broadcast inside the node. Every rank ends with the bits its leader received from the
 * leaders' all-reduce, so results are bit-identical on every rank; they are a deterministic
 * function of the inputs and of the group's layout over nodes (node-local sums in local rank
 * order, then the leaders' backend order).
 *
 * <p>Point-to-point: between two ranks of one node through the node's shared memory
 * ({@code local}'s mailboxes); between nodes through {@code remote}, a point-to-point transport
 * over the whole group (the ring endpoints' on-demand connections, or the group's MPI
 * communicator in a job over MPI), without passing through the leaders.
 *
 * <p>All-to-all: hierarchical ({@link #allToAll}): blocks between members of a node through its
 * shared memory; blocks between nodes gathered on the node's leader, exchanged between leaders
 * (one all-to-all-v, each pair of nodes sending only the blocks between them) and scattered to
 * their receivers: every block crosses between nodes once. All-to-all-v, gather, scatter and
 * reduce are composed from the two-level allGather, broadcast and allReduce
 * ({@link ComposingCollective}), in bounded scratch: correct for any layout of ranks over nodes;
 * not tuned (an allGather here is N two-level broadcasts).
 *
 * <p>A failure of either level fails the whole group (its levels can no longer line up).
 * Not thread-safe, like every {@link Collective}.
 */
public final class HierCollective extends ComposingCollective {

    private final int rank;
    private final int size;
    private final int[] nodeOfRank;
    private final int[] localIndexOfRank;
    private final int myNode;
    /** Group ranks of each node's members, in local order (index 0: the leader). */
    private final int[][] membersOfNode;
    /** Per node: its position among the other nodes' members in the remote block order (see {@link #allToAll}). */
    private final int[] remoteStartOfNode;
    /**
     * Elements to and from each node in the leaders' all-to-all-v, reused by every call: leader a
     * sends leader c as many as it receives from it (L(a) x L(c) blocks both ways).
     */
    private final long[] leaderCounts;
    private final Collective local;
    private final Collective leaders;
    private final PointToPoint remote;
    private final AutoCloseable remoteResource;
    /** Scratch of reduceScatter and allToAll, handed out as cached slices (no allocation per call). */
    private final Scratch scratch = new Scratch();
    /** allGather: the slots of the last output seen ({@link #gatherSlots}); dropped on close. */
    private final MemorySegment[] gatherSlots;
    private MemorySegment slotsOf;
    private long slotBytes = -1;

    /**
     * @param layout  how the group spans nodes, as this process sees it
     * @param local   the collective over this node's members ({@link HierLayout#localGroup()})
     * @param leaders the collective over node leaders ({@link HierLayout#leadersGroup()}), or
     *                null when this rank is not a leader
     */
    public HierCollective(HierLayout layout, Collective local, Collective leaders) {
        this(layout, local, leaders, null, null);
    }

    /**
     * As the three-argument constructor, with a transport for point-to-point transfers between
     * nodes.
     *
     * @param remote         point-to-point over every rank of the group, by group rank; null: transfers
     *                       between nodes are refused with an {@link IllegalStateException}
     * @param remoteResource closed with this collective (null when someone else owns {@code remote})
     */
    public HierCollective(HierLayout layout, Collective local, Collective leaders, PointToPoint remote,
                          AutoCloseable remoteResource) {
        // Failures of the composed collectives name world ranks, like the levels' own failures.
        super("hier", layout.group());
        this.rank = layout.group().myIndex();
        this.size = layout.group().size();
        this.nodeOfRank = layout.nodeOfRank();
        this.localIndexOfRank = layout.localIndexOfRank();
        this.myNode = layout.myNode();
        int[] perNode = new int[layout.nodes()];
        for (int node : nodeOfRank) perNode[node]++;
        this.membersOfNode = new int[layout.nodes()][];
        for (int k = 0; k < perNode.length; k++) membersOfNode[k] = new int[perNode[k]];
        for (int r = 0; r < size; r++) membersOfNode[nodeOfRank[r]][localIndexOfRank[r]] = r;
        this.remoteStartOfNode = new int[layout.nodes()];
        int at = 0;
        for (int k = 0; k < perNode.length; k++) {
            remoteStartOfNode[k] = at;
            if (k != myNode) at += perNode[k];
        }
        this.leaderCounts = new long[layout.nodes()];
        this.gatherSlots = new MemorySegment[size];
        this.local = local;
        this.leaders = leaders;
        this.remote = remote;
        this.remoteResource = remoteResource;
        if (layout.leader() != (leaders != null)) {
            throw new IllegalArgumentException("rank " + rank + " is " + (leaders == null ? "a leader without" : "not a leader but has")
                    + " a leaders' collective");
        }
    }

    @Override
    public void measureWaits(boolean on) {
        local.measureWaits(on);
        if (leaders != null) leaders.measureWaits(on);
    }

    /** The node's shared-memory waits plus, on a leader, the leaders' waits. */
    @Override
    public long peerWaitNanos() {
        return local.peerWaitNanos() + (leaders == null ? 0 : leaders.peerWaitNanos());
    }

    @Override
    public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
        checkUsable("allReduce");
        try {
            allReduceTwoLevel(buf, type, op);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    private void allReduceTwoLevel(MemorySegment buf, ElementType type, Combiner op) {
        local.allReduce(buf, type, op);
        if (leaders != null) leaders.allReduce(buf, type, op);
        local.broadcast(buf, 0);
    }

    @Override
    public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
        // Every rank's block reaches everyone by a hierarchical broadcast from its owner: correct
        // for uneven nodes and exact for any bytes (no arithmetic touches the payload).
        checkUsable("allGather");
        long block = in.byteSize();
        MemorySegment[] slots = gatherSlots(out, block);
        try {
            for (int r = 0; r < size; r++) {
                MemorySegment slot = slots[r];
                if (r == rank) MemorySegment.copy(in, 0, slot, 0, block);
                broadcastTwoLevel(slot, r);
            }
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    /**
     * The N slots of {@code out}, the same instances as last time for the same output and block:
     * a program that gathers into the same tensor allocates nothing per call.
     */
    private MemorySegment[] gatherSlots(MemorySegment out, long block) {
        if (out != slotsOf || block != slotBytes) {
            for (int r = 0; r < size; r++) gatherSlots[r] = out.asSlice(r * block, block);
            slotsOf = out;
            slotBytes = block;
        }
        return gatherSlots;
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        checkUsable("reduceScatter");
        scratch.reserve(in.byteSize());
        MemorySegment all = scratch.slice(0, in.byteSize());
        MemorySegment.copy(in, 0, all, 0, in.byteSize());
        try {
            allReduceTwoLevel(all, type, op);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
        MemorySegment.copy(all, rank * out.byteSize(), out, 0, out.byteSize());
    }

    @Override
    public void broadcast(MemorySegment buf, int root) {
        checkUsable("broadcast");
        try {
            broadcastTwoLevel(buf, root);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    private void broadcastTwoLevel(MemorySegment buf, int root) {
        int rootNode = nodeOfRank[root];
        if (myNode == rootNode) {
            local.broadcast(buf, localIndexOfRank[root]);
            if (leaders != null) leaders.broadcast(buf, rootNode);
        } else {
            if (leaders != null) leaders.broadcast(buf, rootNode);
            local.broadcast(buf, 0);
        }
    }

    /**
     * Hierarchical, for any layout of ranks over nodes. With b bytes per block, node a of L(a)
     * members and R = N - L(a) ranks on other nodes ("remote order": the other nodes' members by
     * node, then local index):
     * <ol>
     *   <li>the blocks between this node's members: one all-to-all of the node (L(a) blocks);</li>
     *   <li>the blocks for other nodes, R per member in remote order: gathered on the leader;</li>
     *   <li>between leaders, one all-to-all-v: leader a sends leader c the L(a) x L(c) blocks
     *       from its members to c's, ordered by sender then receiver;</li>
     *   <li>the leader regroups what arrived by receiver (R blocks each, in remote order of
     *       their senders) and scatters it to its members.</li>
     * </ol>
     * Every block crosses between nodes once, in one exchange between leaders (the composition
     * moved every rank's contribution to every rank, in N two-level broadcasts per round). Each
     * level checks its own calls (sizes, types), so a rank that differs fails its node, and a
     * node that differs fails the leaders' count step, and either failure fails both levels.
     */
    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        checkUsable("allToAll");
        try {
            allToAllTwoLevel(in, out, type);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    private void allToAllTwoLevel(MemorySegment in, MemorySegment out, ElementType type) {
        long block = in.byteSize() / size;
        int[] mine = membersOfNode[myNode];
        int members = mine.length;
        int remote = size - members;
        boolean leader = leaders != null;
        long nodeBytes = members * block;
        long remoteBytes = remote * block;
        // Scratch: the node's exchange (in, out), this rank's remote blocks and the ones it gets,
        // and on the leader the gathered, sent, received and regrouped blocks.
        long leaderBytes = leader ? members * remoteBytes : 0;
        scratch.reserve(2 * nodeBytes + 2 * remoteBytes + 4 * leaderBytes);
        MemorySegment nodeIn = scratch.slice(0, nodeBytes);
        MemorySegment nodeOut = scratch.slice(nodeBytes, nodeBytes);
        MemorySegment remoteIn = scratch.slice(2 * nodeBytes, remoteBytes);
        MemorySegment remoteOut = scratch.slice(2 * nodeBytes + remoteBytes, remoteBytes);
        long base = 2 * nodeBytes + 2 * remoteBytes;
        // 1. Inside the node.
        for (int j = 0; j < members; j++) MemorySegment.copy(in, mine[j] * block, nodeIn, j * block, block);
        local.allToAll(nodeIn, nodeOut, type);
        for (int j = 0; j < members; j++) MemorySegment.copy(nodeOut, j * block, out, mine[j] * block, block);
        if (remote == 0) return;
        // 2. The blocks for other nodes, in remote order, gathered on the leader.
        for (int k = 0; k < membersOfNode.length; k++) {
            if (k == myNode) continue;
            int[] theirs = membersOfNode[k];
            for (int j = 0; j < theirs.length; j++) {
                MemorySegment.copy(in, theirs[j] * block, remoteIn, (remoteStartOfNode[k] + j) * block, block);
            }
        }
        MemorySegment gathered = leader ? scratch.slice(base, leaderBytes) : null;
        // A member's gather output is never touched; remoteOut stands in for it.
        local.gather(remoteIn, gathered == null ? remoteOut : gathered, 0);
        if (leader) {
            // 3. Between leaders: to node k, the blocks [sender i][receiver j of k].
            MemorySegment sent = scratch.slice(base + leaderBytes, leaderBytes);
            MemorySegment received = scratch.slice(base + 2 * leaderBytes, leaderBytes);
            MemorySegment regrouped = scratch.slice(base + 3 * leaderBytes, leaderBytes);
            long es = type.byteSize();
            long at = 0;
            for (int k = 0; k < membersOfNode.length; k++) {
                int theirs = k == myNode ? 0 : membersOfNode[k].length;
                for (int i = 0; i < members && theirs > 0; i++) {
                    MemorySegment.copy(gathered, (i * (long) remote + remoteStartOfNode[k]) * block, sent, at, theirs * block);
                    at += theirs * block;
                }
                leaderCounts[k] = members * (long) theirs * block / es;
            }
            leaders.allToAllV(sent, leaderCounts, received, leaderCounts, type);
            // 4. From node k arrived [its sender s][this node's receiver j]; member j gets, in
            // remote order, the block of every remote sender.
            at = 0;
            for (int k = 0; k < membersOfNode.length; k++) {
                if (k == myNode) continue;
                int theirs = membersOfNode[k].length;
                for (int s = 0; s < theirs; s++) {
                    for (int j = 0; j < members; j++) {
                        MemorySegment.copy(received, at, regrouped, (j * (long) remote + remoteStartOfNode[k] + s) * block, block);
                        at += block;
                    }
                }
            }
            local.scatter(regrouped, remoteOut, 0);
        } else {
            local.scatter(remoteIn, remoteOut, 0);
        }
        for (int k = 0; k < membersOfNode.length; k++) {
            if (k == myNode) continue;
            int[] theirs = membersOfNode[k];
            for (int s = 0; s < theirs.length; s++) {
                MemorySegment.copy(remoteOut, (remoteStartOfNode[k] + s) * block, out, theirs[s] * block, block);
            }
        }
    }

    @Override
    public void barrier() {
        checkUsable("barrier");
        try {
            local.barrier();
            if (leaders != null) leaders.barrier();
            local.barrier();
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void send(MemorySegment buf, int peer) {
        PointToPoint via = route(peer, true, buf.byteSize());
        try {
            if (via == local) {
                local.send(buf, localIndexOfRank[peer]);
            } else {
                via.send(buf, peer);
            }
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void recv(MemorySegment buf, int peer) {
        PointToPoint via = route(peer, false, buf.byteSize());
        try {
            if (via == local) {
                local.recv(buf, localIndexOfRank[peer]);
            } else {
                via.recv(buf, peer);
            }
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    /** The node's shared memory for a peer on this node, else the remote transport. */
    private PointToPoint route(int peer, boolean send, long bytes) {
        checkPeer(peer);
        String op = send ? PointToPoint.describe(true, bytes, rank, peer) : PointToPoint.describe(false, bytes, peer, rank);
        checkUsable(op);
        if (nodeOfRank[peer] == myNode) return local;
        if (remote == null) {
            throw new IllegalStateException(op + " on group " + groupName() + ": no transport between nodes was opened");
        }
        return remote;
    }

    /**
     * A failure of one level fails the other: members of this node waiting in the node level for
     * a leader that failed between nodes (or leaders waiting for a node that failed) then learn
     * at once whom the failure blames, instead of timing out.
     */
    @Override
    protected void onFailure(CommFailure f) {
        if (local instanceof BackendCollective b) b.abortWith(f);
        if (leaders instanceof BackendCollective b) b.abortWith(f);
    }

    @Override
    protected void release() {
        try {
            if (remoteResource != null) remoteResource.close();
        } catch (Exception ignored) {
            // Closing connections never fails in a way a caller could act on.
        }
        try {
            if (leaders != null) leaders.close();
        } finally {
            local.close();
            closeCompositions();
            scratch.close();
            java.util.Arrays.fill(gatherSlots, null);
            slotsOf = null;
        }
    }
}
