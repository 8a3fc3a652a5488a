package ds.comm.tool;

/**
 * How {@code launch -n N --nodes M} places ranks on simulated nodes: contiguous blocks, the first
 * {@code N mod M} nodes one rank larger (3 ranks on 2 nodes = 2 + 1), as torchrun numbers ranks
 * node after node.
 *
 * @param ranks number of ranks
 * @param nodes number of nodes, 1..ranks
 */
record NodeSplit(int ranks, int nodes) {

    NodeSplit {
        if (ranks < 1) {
            throw new IllegalArgumentException("need at least one rank, got " + ranks);
        }
        if (nodes < 1 || nodes > ranks) {
            throw new IllegalArgumentException("cannot place " + ranks + " ranks on " + nodes
                    + " nodes: every node needs at least one rank");
        }
    }

    /** The node that hosts {@code rank}. */
    int nodeOf(int rank) {
        int base = ranks / nodes;
        int big = ranks % nodes; // nodes 0..big-1 hold base+1 ranks
        int inBig = big * (base + 1);
        return rank < inBig ? rank / (base + 1) : big + (rank - inBig) / base;
    }

    /** First rank on {@code node}. */
    int firstRankOn(int node) {
        int base = ranks / nodes;
        int big = ranks % nodes;
        return node * base + Math.min(node, big);
    }

    /** Number of ranks on {@code node}. */
    int sizeOf(int node) {
        return ranks / nodes + (node < ranks % nodes ? 1 : 0);
    }

    /** Position of {@code rank} on its node. */
    int localRank(int rank) {
        return rank - firstRankOn(nodeOf(rank));
    }

    /** Number of ranks on the node of {@code rank}. */
    int localSize(int rank) {
        return sizeOf(nodeOf(rank));
    }
}
