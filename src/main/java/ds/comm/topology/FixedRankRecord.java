package ds.comm.topology;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The fixed-size record each rank contributes when a job meets through MPI instead of the
 * rendezvous: one all-gather of these (and a broadcast job token) gives every rank the same
 * {@link Topology}. Big-endian, so ranks of either byte order read each other.
 *
 * <pre>
 *   offset  size  field
 *        0     8  pid
 *        8     4  byte order: 1 big-endian, 0 little-endian
 *       12     4  node id length L, 1..1024
 *       16  1024  node id, UTF-8 (first L bytes)
 *     1040     8  shared-memory view: free bytes
 *     1048     8  shared-memory view: segment bytes
 *     1056        (BYTES)
 * </pre>
 *
 * Every field read from a peer is range-checked before use.
 */
public final class FixedRankRecord {

    /** Longest node id, in UTF-8 bytes. */
    public static final int MAX_NODE_ID_BYTES = 1024;
    /** Bytes of one record. */
    public static final int BYTES = 8 + 4 + 4 + MAX_NODE_ID_BYTES + 8 + 8;
    /** Bytes of the job token rank 0 broadcasts. */
    public static final int TOKEN_BYTES = 16;

    private static final int BYTE_ORDER_OFFSET = 8;
    private static final int NODE_ID_LENGTH_OFFSET = 12;
    private static final int NODE_ID_OFFSET = 16;
    private static final int SHM_VIEW_OFFSET = NODE_ID_OFFSET + MAX_NODE_ID_BYTES;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private FixedRankRecord() {
    }

    /** This process's record, allocated in {@code arena}. */
    public static MemorySegment of(String nodeId, ShmView shmView, Arena arena) {
        byte[] id = nodeId.getBytes(StandardCharsets.UTF_8);
        if (id.length < 1 || id.length > MAX_NODE_ID_BYTES) {
            throw new IllegalArgumentException("node id of " + id.length + " bytes (1 to " + MAX_NODE_ID_BYTES + "): " + nodeId);
        }
        MemorySegment mine = arena.allocate(BYTES);
        mine.set(LONG, 0, ProcessHandle.current().pid());
        mine.set(INT, BYTE_ORDER_OFFSET, ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? 1 : 0);
        mine.set(INT, NODE_ID_LENGTH_OFFSET, id.length);
        MemorySegment.copy(id, 0, mine, ValueLayout.JAVA_BYTE, NODE_ID_OFFSET, id.length);
        mine.set(LONG, SHM_VIEW_OFFSET, shmView.freeBytes());
        mine.set(LONG, SHM_VIEW_OFFSET + 8, shmView.segmentBytes());
        return mine;
    }

    /** A fresh random job token (rank 0's, to be broadcast). */
    public static MemorySegment newToken(Arena arena) {
        byte[] t = new byte[TOKEN_BYTES];
        new java.security.SecureRandom().nextBytes(t);
        MemorySegment token = arena.allocate(TOKEN_BYTES);
        MemorySegment.copy(t, 0, token, ValueLayout.JAVA_BYTE, 0, TOKEN_BYTES);
        return token;
    }

    /**
     * The topology every rank derives from the gathered records (rank r's at {@code r * BYTES})
     * and the broadcast token.
     *
     * @throws IllegalStateException naming the rank whose record is out of range
     */
    public static Topology topology(int myRank, MemorySegment all, int ranks, MemorySegment token) {
        if (all.byteSize() < (long) BYTES * ranks || token.byteSize() != TOKEN_BYTES) {
            throw new IllegalArgumentException(all.byteSize() + " bytes of records for " + ranks + " ranks, token of "
                    + token.byteSize());
        }
        List<RankRecord> records = new ArrayList<>();
        InetSocketAddress unused = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        for (int r = 0; r < ranks; r++) {
            long base = (long) r * BYTES;
            int len = all.get(INT, base + NODE_ID_LENGTH_OFFSET);
            if (len < 1 || len > MAX_NODE_ID_BYTES) {
                throw new IllegalStateException("rank " + r + " sent a node id of " + len + " bytes");
            }
            byte[] b = new byte[len];
            MemorySegment.copy(all, ValueLayout.JAVA_BYTE, base + NODE_ID_OFFSET, b, 0, len);
            ShmView view;
            try {
                view = new ShmView(all.get(LONG, base + SHM_VIEW_OFFSET), all.get(LONG, base + SHM_VIEW_OFFSET + 8));
            } catch (IllegalArgumentException e) {
                throw new IllegalStateException("rank " + r + " sent a bad shared-memory view: " + e.getMessage(), e);
            }
            ByteOrder order = all.get(INT, base + BYTE_ORDER_OFFSET) == 1 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
            records.add(new RankRecord(r, new String(b, StandardCharsets.UTF_8), unused,
                    ProcessIdentity.ofPid(all.get(LONG, base)), order, -1, view));
        }
        return new Topology(myRank, HexFormat.of().formatHex(token.toArray(ValueLayout.JAVA_BYTE)), records);
    }
}
