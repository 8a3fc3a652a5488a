package ds.comm.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * A communicator opened (the world at {@code init()}, or a split): its duration covers the
 * backend's choice and set-up (mapping segments, connecting the ring, the open barrier).
 */
@Name(GroupOpenEvent.NAME)
@Label("Group Open")
@Category("ds-comm")
@Description("A communicator (the world or a split) was opened on this rank")
@StackTrace(false)
public final class GroupOpenEvent extends GroupMemberEvent {

    /** The event type's name in recordings. */
    public static final String NAME = "ds.comm.GroupOpen";






    @Label("Reason")
    @Description("Why this backend, as Communicator.backend() says it")
    String reason;

    /** Fills every field; call only when {@link #shouldCommit()} said yes. */
    public void set(String group, int groupSize, int rank, int worldRank, String backend, String reason) {
        this.reason = reason;
        member(group, groupSize, rank, worldRank, backend);
    }
}
