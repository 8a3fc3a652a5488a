package ds.comm.observe;

import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;

/**
 * The fields every ds-comm event about a communicator carries: which group, this process's place
 * in it, and the backend serving it. JFR records a superclass's fields with the subclass's.
 */
abstract class GroupMemberEvent extends Event {

    @Label("Group")
    @Description("The communicator's name, unique within the job: w for the world, w.s1c0 for a split")
    String group;

    @Label("Group Size")
    int groupSize;

    @Label("Rank")
    @Description("This process's rank in the group")
    int rank;

    @Label("World Rank")
    int worldRank;

    @Label("Backend")
    @Description("shm, ring, hier, mpi or local")
    String backend;

    /** Fills the group fields; call only when {@link #shouldCommit()} said yes. */
    final void member(String group, int groupSize, int rank, int worldRank, String backend) {
        this.group = group;
        this.groupSize = groupSize;
        this.rank = rank;
        this.worldRank = worldRank;
        this.backend = backend;
    }
}
