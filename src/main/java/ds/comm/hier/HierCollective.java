package ds.comm.hier;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.BackendCollective;
import ds.comm.spi.Collective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Compositions;

import java.lang.foreign.Arena;
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
 * <p>A failure of either level fails the whole group (its levels can no longer line up).
 * Not thread-safe, like every {@link Collective}.
 */
public final class HierCollective extends BackendCollective {

    private final int rank;
    private final int size;
    private final int[] nodeOfRank;
    private final int[] localIndexOfRank;
    private final int myNode;
    private final Collective local;
    private final Collective leaders;
    private Arena scratchArena;
    private MemorySegment scratch = MemorySegment.NULL;
    /** All-to-all(v), gather, scatter and reduce, composed from this collective's two-level calls. */
    private final Compositions composed;

    /**
     * @param groupName        the group's name
     * @param rank             this rank's group index
     * @param nodeOfRank       for each group rank, the index of its node (0 = first node seen)
     * @param localIndexOfRank for each group rank, its index inside its node's local group
     * @param local            the collective over this node's members (leader at index 0)
     * @param leaders          the collective over node leaders, or null when this rank is not a leader
     */
    public HierCollective(String groupName, int rank, int[] nodeOfRank, int[] localIndexOfRank, Collective local,
                          Collective leaders) {
        this(groupName, rank, nodeOfRank, localIndexOfRank, local, leaders, null);
    }

    /**
     * As above, knowing every group rank's world rank, so that failures of the composed
     * collectives name world ranks like the levels' own failures do.
     *
     * @param worldRanks for each group rank its world rank, or null to name group ranks
     */
    public HierCollective(String groupName, int rank, int[] nodeOfRank, int[] localIndexOfRank, Collective local,
                          Collective leaders, int[] worldRanks) {
        super("hier", groupName, rank, nodeOfRank.length);
        this.rank = rank;
        this.size = nodeOfRank.length;
        this.nodeOfRank = nodeOfRank.clone();
        this.localIndexOfRank = localIndexOfRank.clone();
        this.myNode = nodeOfRank[rank];
        this.local = local;
        this.leaders = leaders;
        int[] world = worldRanks == null ? null : worldRanks.clone();
        this.composed = new Compositions(this, groupName, world == null ? r -> r : r -> world[r]);
        if ((localIndexOfRank[rank] == 0) != (leaders != null)) {
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
        try {
            for (int r = 0; r < size; r++) {
                MemorySegment slot = out.asSlice(r * block, block);
                if (r == rank) MemorySegment.copy(in, 0, slot, 0, block);
                broadcastTwoLevel(slot, r);
            }
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        checkUsable("reduceScatter");
        MemorySegment all = scratch(in.byteSize());
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

    // All-to-all(v), gather, scatter and reduce: compositions of the two-level allGather,
    // broadcast and allReduce above (Compositions), in bounded scratch. Correct for any layout
    // of ranks over nodes; not tuned (an allGather here is N two-level broadcasts).

    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        checkUsable("allToAll");
        try {
            composed.allToAll(in, out, type);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        checkUsable("allToAllV");
        try {
            composed.allToAllV(in, sendCounts, out, recvCounts, type);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void gather(MemorySegment in, MemorySegment out, int root) {
        checkUsable("gather");
        try {
            composed.gather(in, out, root);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        checkUsable("scatter");
        try {
            composed.scatter(in, out, root);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    @Override
    public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        checkUsable("reduce");
        try {
            composed.reduce(buf, type, op, root);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
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

    private MemorySegment scratch(long bytes) {
        if (scratch.byteSize() < bytes) {
            if (scratchArena != null) scratchArena.close();
            scratchArena = Arena.ofShared();
            scratch = scratchArena.allocate(Math.max(bytes, 4096), 64);
        }
        return scratch.asSlice(0, bytes);
    }

    @Override
    protected void release() {
        try {
            if (leaders != null) leaders.close();
        } finally {
            local.close();
            composed.close();
            if (scratchArena != null) {
                scratchArena.close();
                scratchArena = null;
                scratch = MemorySegment.NULL;
            }
        }
    }
}
