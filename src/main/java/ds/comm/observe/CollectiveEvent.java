package ds.comm.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;
import jdk.jfr.Timespan;

/**
 * One collective call of one rank, from argument checks done to return: its duration is what
 * the caller waited. Only calls that returned normally are recorded (a failure is a
 * {@link FailureEvent}).
 *
 * <p>Threshold 1 ms by default, so that a recording started for other reasons (a JVM run with
 * the JDK's default.jfc) takes the slow calls only and not a hundred thousand events a second;
 * {@code bin/dscomm bench --jfr} and docs/observability.md's settings set it to 0 for every call.
 * No stack trace by default: the caller's stack is the same for millions of calls.
 */
@Name(CollectiveEvent.NAME)
@Label("Collective")
@Category("ds-comm")
@Description("One collective call (allReduce, allGather, reduceScatter, broadcast, barrier) of one rank")
@StackTrace(false)
@Threshold("1 ms")
public final class CollectiveEvent extends GroupMemberEvent {

    /** The event type's name in recordings. */
    public static final String NAME = "ds.comm.Collective";

    @Label("Operation")
    @Description("allReduce, allGather, reduceScatter, broadcast or barrier")
    String operation;

    @Label("Data Type")
    @Description("Element type: fp32, fp64, bf16, fp16, int32, int64; absent for broadcast and barrier")
    String dtype;

    @Label("Reduce Op")
    @Description("sum, prod, min or max; absent for collectives that do not reduce")
    String reduceOp;

    @Label("Bytes")
    @Description("Message size as nccl-tests counts it: the buffer of allReduce and broadcast, the whole output "
            + "of allGather, the whole input of reduceScatter; 0 for barrier")
    @DataAmount
    long bytes;

    @Label("Root")
    @Description("Group rank of the broadcast's root; -1 for other collectives")
    int root;






    @Label("Peer Wait")
    @Description("Part of the duration this rank spent waiting for peers: shm its step waits; ring its stretches "
            + "without socket progress; mpi the whole time inside the MPI library, which cannot tell waiting from "
            + "moving data; hier the sum of its levels; local 0. -1 ns when the recording began during the call")
    @Timespan(Timespan.NANOSECONDS)
    long peerWait;

    /** Fills every field; call only when {@link #shouldCommit()} said yes. */
    public void set(String operation, String dtype, String reduceOp, long bytes, int root, String group, int groupSize,
                    int rank, int worldRank, String backend, long peerWaitNanos) {
        this.operation = operation;
        this.dtype = dtype;
        this.reduceOp = reduceOp;
        this.bytes = bytes;
        this.root = root;
        this.peerWait = peerWaitNanos;
        member(group, groupSize, rank, worldRank, backend);
    }
}
