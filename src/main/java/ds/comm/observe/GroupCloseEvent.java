package ds.comm.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A communicator closed on this rank: its duration is the release of the backend. */
@Name(GroupCloseEvent.NAME)
@Label("Group Close")
@Category("ds-comm")
@Description("A communicator was closed on this rank")
@StackTrace(false)
public final class GroupCloseEvent extends GroupMemberEvent {

    /** The event type's name in recordings. */
    public static final String NAME = "ds.comm.GroupClose";





    @Label("Aborted")
    @Description("Whether a failure had aborted the communicator before it was closed")
    boolean aborted;

    /** Fills every field; call only when {@link #shouldCommit()} said yes. */
    public void set(String group, int groupSize, int rank, int worldRank, String backend, boolean aborted) {
        this.aborted = aborted;
        member(group, groupSize, rank, worldRank, backend);
    }
}
