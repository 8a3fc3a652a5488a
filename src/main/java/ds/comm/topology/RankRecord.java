package ds.comm.topology;

import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One row of the verified rank table: what a rank told rank 0 about itself at rendezvous.
 *
 * @param rank          world rank
 * @param nodeId        the rank's {@link NodeIdentity}
 * @param ringAddress   where the rank's ring listener accepts connections: the local address of its
 *                      connection to rank 0 (an interface routable to rank 0) and its ring port
 * @param process       the rank's process (pid, start time, pid namespace): lets a local peer tell
 *                      a rank that died before it could be seen from a slow one
 * @param byteOrder     the rank's native byte order
 * @param localSizeHint the local size its launcher claimed, or -1 when unknown
 * @param shmView       what the rank saw of its shared-memory directory when it joined: every rank
 *                      decides SHM or not for the world from the same views
 */
public record RankRecord(int rank, String nodeId, InetSocketAddress ringAddress, ProcessIdentity process,
                         ByteOrder byteOrder, int localSizeHint, ShmView shmView) {

    /** Validates: the same bounds the rendezvous enforces on the wire. */
    public RankRecord {
        Objects.requireNonNull(nodeId, "nodeId");
        Objects.requireNonNull(ringAddress, "ringAddress");
        Objects.requireNonNull(process, "process");
        Objects.requireNonNull(byteOrder, "byteOrder");
        Objects.requireNonNull(shmView, "shmView");
        if (rank < 0 || rank >= LaunchEnv.MAX_WORLD_SIZE) {
            throw new IllegalArgumentException("rank " + rank + " is outside 0.." + (LaunchEnv.MAX_WORLD_SIZE - 1));
        }
        int idBytes = nodeId.getBytes(StandardCharsets.UTF_8).length;
        if (idBytes == 0 || idBytes > RendezvousDescriptor.MAX_STRING_BYTES) {
            throw new IllegalArgumentException("node id of rank " + rank + " has " + idBytes + " bytes; 1.."
                    + RendezvousDescriptor.MAX_STRING_BYTES + " allowed");
        }
        if (ringAddress.isUnresolved()) {
            throw new IllegalArgumentException("ring address of rank " + rank + " is unresolved: " + ringAddress);
        }
        if (localSizeHint < -1 || localSizeHint > LaunchEnv.MAX_WORLD_SIZE) {
            throw new IllegalArgumentException("local size hint of rank " + rank + " is " + localSizeHint);
        }
    }

    /** A record without a shared-memory view ({@link ShmView#NONE}). */
    public RankRecord(int rank, String nodeId, InetSocketAddress ringAddress, ProcessIdentity process,
                      ByteOrder byteOrder, int localSizeHint) {
        this(rank, nodeId, ringAddress, process, byteOrder, localSizeHint, ShmView.NONE);
    }

    /** A record whose process is known by pid alone (never judged gone by a peer). */
    public RankRecord(int rank, String nodeId, InetSocketAddress ringAddress, long pid, ByteOrder byteOrder,
                      int localSizeHint) {
        this(rank, nodeId, ringAddress, ProcessIdentity.ofPid(pid), byteOrder, localSizeHint);
    }

    /** Operating-system process id of the rank. */
    public long pid() {
        return process.pid();
    }
}
