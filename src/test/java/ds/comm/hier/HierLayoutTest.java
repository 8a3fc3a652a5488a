package ds.comm.hier;

import ds.comm.spi.GroupSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HierLayoutTest {

    /** World ranks 10..14 on nodes A B A B C (the class comment's picture). */
    private static HierLayout layoutSeenBy(int index) {
        GroupSpec g = new GroupSpec("tp", "abc", new int[]{10, 11, 12, 13, 14}, index);
        String[] nodeOfWorld = {"A", "B", "A", "B", "C"};
        return HierLayout.of(g, w -> nodeOfWorld[w - 10]);
    }

    @Test
    void nodesAreNumberedInOrderOfFirstAppearanceAndLeadersAreEachNodesLowestRank() {
        HierLayout l = layoutSeenBy(0);
        assertArrayEquals(new int[]{0, 1, 0, 1, 2}, l.nodeOfRank());
        assertArrayEquals(new int[]{0, 0, 1, 1, 0}, l.localIndexOfRank());
        assertEquals(3, l.nodes());
    }

    @Test
    void aLeaderBelongsToItsNodesGroupAndToTheLeadersGroup() {
        HierLayout l = layoutSeenBy(1);
        assertTrue(l.leader());
        GroupSpec local = l.localGroup();
        assertEquals("tp.n1", local.name());
        assertArrayEquals(new int[]{11, 13}, local.members());
        assertEquals(0, local.myIndex());
        GroupSpec leaders = l.leadersGroup();
        assertEquals("tp.x", leaders.name());
        assertArrayEquals(new int[]{10, 11, 14}, leaders.members());
        assertEquals(1, leaders.myIndex());
    }

    @Test
    void aNonLeaderHasOnlyItsNodesGroup() {
        HierLayout l = layoutSeenBy(2);
        assertFalse(l.leader());
        assertEquals(1, l.localGroup().myIndex());
        assertArrayEquals(new int[]{10, 12}, l.localGroup().members());
        assertThrows(IllegalStateException.class, l::leadersGroup);
    }

    @Test
    void everyMemberComputesTheSameNodeNumbering() {
        for (int i = 0; i < 5; i++) {
            assertArrayEquals(layoutSeenBy(0).nodeOfRank(), layoutSeenBy(i).nodeOfRank());
        }
    }
}
