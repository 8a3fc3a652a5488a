package ds.comm.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * A collective, an {@code init()} or a split failed on this rank with a CommException: what the
 * application is about to catch, with the rank blamed. Carries the stack trace (rare, and where
 * it was called from is what one wants to know).
 */
@Name(FailureEvent.NAME)
@Label("Failure")
@Category("ds-comm")
@Description("A ds-comm call failed with a CommException (peer lost, timeout, mismatch, set-up, aborted)")
public final class FailureEvent extends Event {

    /** The event type's name in recordings. */
    public static final String NAME = "ds.comm.Failure";

    @Label("Exception")
    @Description("The public exception thrown: PeerLostException, CollectiveTimeoutException, "
            + "CollectiveMismatchException or CommException")
    String exception;

    @Label("Kind")
    @Description("peer_lost, timeout, mismatch, setup or aborted")
    String kind;

    @Label("Blamed Rank")
    @Description("World rank the failure is blamed on; -1 when none is")
    int blamedRank;

    @Label("Group")
    String group;

    @Label("World Rank")
    @Description("This process's world rank; -1 when init() failed before it was known")
    int worldRank;

    @Label("Operation")
    @Description("The call, e.g. allReduce(fp32,sum,1024), or init")
    String operation;

    @Label("Message")
    String message;

    /** Fills every field; call only when {@link #shouldCommit()} said yes. */
    public void set(String exception, String kind, int blamedRank, String group, int worldRank, String operation,
                    String message) {
        this.exception = exception;
        this.kind = kind;
        this.blamedRank = blamedRank;
        this.group = group;
        this.worldRank = worldRank;
        this.operation = operation;
        this.message = message;
    }
}
