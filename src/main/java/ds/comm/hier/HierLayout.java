package ds.comm.hier;

import ds.comm.spi.GroupSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * How a group spans nodes, as the two levels of a {@link HierCollective} see it: nodes numbered
 * in the order they first appear in the group, each member's index inside its node's local
 * group (the node's lowest group rank is its leader, index 0), and the sub-groups this process
 * belongs to.
 *
 * <pre>
 *   group ranks      0   1   2   3   4          nodes  A   B   A   B   C
 *   nodeOfRank       0   1   0   1   2
 *   localIndexOfRank 0   0   1   1   0          leaders: ranks 0 (A), 1 (B), 4 (C)
 * </pre>
 *
 * <p>A pure function of the members and of the node each lives on, so every member computes the
 * same layout without exchanging anything.
 *
 * @param group            the whole group, as this process sees it
 * @param nodeOfRank       for each group rank, the index of its node
 * @param localIndexOfRank for each group rank, its index inside its node's local group
 * @param nodes            number of distinct nodes
 */
public record HierLayout(GroupSpec group, int[] nodeOfRank, int[] localIndexOfRank, int nodes) {

    /**
     * The layout of {@code group} given the node of each member.
     *
     * @param nodeOfWorldRank the node identity of a world rank (any value with equals)
     */
    public static HierLayout of(GroupSpec group, IntFunction<?> nodeOfWorldRank) {
        int n = group.size();
        List<Object> nodeOrder = new ArrayList<>();
        int[] nodeOfRank = new int[n];
        int[] localIndex = new int[n];
        int[] perNode = new int[n];
        for (int i = 0; i < n; i++) {
            Object node = nodeOfWorldRank.apply(group.worldRank(i));
            int k = nodeOrder.indexOf(node);
            if (k < 0) {
                k = nodeOrder.size();
                nodeOrder.add(node);
            }
            nodeOfRank[i] = k;
            localIndex[i] = perNode[k]++;
        }
        return new HierLayout(group, nodeOfRank, localIndex, nodeOrder.size());
    }

    /** Defensive copies: the arrays are shared with nobody. */
    public HierLayout {
        nodeOfRank = nodeOfRank.clone();
        localIndexOfRank = localIndexOfRank.clone();
    }

    /** This process's node. */
    public int myNode() {
        return nodeOfRank[group.myIndex()];
    }

    /** Whether this process leads its node (the node's lowest group rank). */
    public boolean leader() {
        return localIndexOfRank[group.myIndex()] == 0;
    }

    /** This node's members, leader first: "NAME.nK" for node K. */
    public GroupSpec localGroup() {
        int me = group.myIndex();
        int myNode = myNode();
        int count = 0;
        for (int k : nodeOfRank) if (k == myNode) count++;
        int[] members = new int[count];
        for (int i = 0; i < nodeOfRank.length; i++) {
            if (nodeOfRank[i] == myNode) members[localIndexOfRank[i]] = group.worldRank(i);
        }
        return new GroupSpec(group.name() + ".n" + myNode, group.jobToken(), members, localIndexOfRank[me]);
    }

    /** One leader per node, in node order: "NAME.x"; only a leader is a member. */
    public GroupSpec leadersGroup() {
        if (!leader()) throw new IllegalStateException("rank " + group.myIndex() + " of " + group.name() + " is not a leader");
        int[] members = new int[nodes];
        for (int i = 0; i < nodeOfRank.length; i++) {
            if (localIndexOfRank[i] == 0) members[nodeOfRank[i]] = group.worldRank(i);
        }
        return new GroupSpec(group.name() + ".x", group.jobToken(), members, myNode());
    }

    @Override
    public int[] nodeOfRank() {
        return nodeOfRank.clone();
    }

    @Override
    public int[] localIndexOfRank() {
        return localIndexOfRank.clone();
    }
}
