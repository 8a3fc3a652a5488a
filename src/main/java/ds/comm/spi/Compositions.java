package ds.comm.spi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.function.IntUnaryOperator;

/**
 * All-to-all(v), gather, scatter and reduce composed from a backend's own allGather, broadcast
 * and allReduce, in bounded scratch memory: the algorithms of the backends that have no native
 * schedule for them (the socket ring, the hierarchical composite).
 *
 * <h2>Algorithms</h2>
 * <ul>
 *   <li><b>allToAll / allToAllV</b>: rounds of one allGather each. In round k every rank
 *       contributes, for every destination j, piece k (at most {@link #piece} bytes) of its
 *       block for j; after the allGather rank r keeps, from every origin i, the piece i put in
 *       slot r. A contribution has one slot per peer, none for the contributor itself (which
 *       halved the bytes of a 2-rank all-to-all). Each rank still receives N-1 times what it
 *       needs (an allGather moves everything to everyone), so from 3 ranks on this costs more
 *       on the wire than a pairwise all-to-all (the ring's own, in groups of up to 8), in exchange
 *       for reusing the allGather's framing, deadlines, mismatch and peer-loss detection
 *       unchanged, and for scratch memory bounded by {@link #GATHERED_BUDGET} whatever the
 *       message size.</li>
 *   <li><b>allToAllV counts</b>: a first allGather of every rank's sendCounts and recvCounts
 *       gives every rank the whole count matrix; each rank checks that rank i's sendCounts[j]
 *       equals rank j's recvCounts[i] for every pair, so every rank (not only the two of a bad
 *       pair) fails with the same {@link CommFailure.Kind#MISMATCH} naming the first bad pair.
 *       The number of rounds is the largest pair's bytes over the piece: the same on every rank.</li>
 *   <li><b>gather</b>: rounds of one allGather of a piece of every rank's input; the root keeps
 *       them. Traffic to non-roots is wasted, latency is one allGather per round.</li>
 *   <li><b>scatter</b>: rounds of one broadcast, from the root, of a piece of every block.</li>
 *   <li><b>reduce</b>: rounds of one allReduce of a piece copied into scratch; the root copies
 *       the result back, the other ranks' buffers are never written. The result is the backend's
 *       allReduce of each piece, so it equals the backend's allReduce of the whole buffer for
 *       buffers up to {@link #REDUCE_PIECE_BYTES} (and for any size where the backend's
 *       accumulation order does not depend on the message size).</li>
 * </ul>
 *
 * <p>Every allGather contribution of allToAll and gather carries an 8-byte header (operation,
 * element type, byte count), which every rank compares across all ranks: an allGather pads its
 * pieces to whole 8-byte words, so its own size check alone could not tell 9 bytes from 10.
 *
 * <p>Only one call at a time (like every {@link Collective}); scratch is allocated on first
 * use and kept until {@link #close()}.
 */
public final class Compositions implements AutoCloseable {

    /** Bytes of the gathered buffer of one round (N contributions); bounds the scratch memory. */
    static final long GATHERED_BUDGET = 1L << 20;
    /** Bytes per allReduce piece of {@link #reduce}. */
    public static final long REDUCE_PIECE_BYTES = 1L << 16;
    private static final long HEADER = 8;

    private static final int TAG_ALL_TO_ALL = 1;
    private static final int TAG_ALL_TO_ALL_V = 2;
    private static final int TAG_GATHER = 3;

    private final ComposingCollective c;
    private final String group;
    private final IntUnaryOperator worldRank;
    private final int rank;
    private final int size;
    /** Bytes each rank contributes per destination per round (a multiple of 8). */
    private final long piece;
    /** Scratch memory and its cached slices (calls at repeated sizes allocate nothing). */
    private final Scratch scratch = new Scratch();

    /**
     * @param collective the backend whose allGather, broadcast and allReduce the compositions run on
     * @param group      the group's name, for failure messages
     * @param worldRank  maps a group rank to the world rank a failure names
     */
    Compositions(ComposingCollective collective, String group, IntUnaryOperator worldRank) {
        this.c = collective;
        this.group = group;
        this.worldRank = worldRank;
        this.rank = collective.rank();
        this.size = collective.size();
        long n = size;
        this.piece = Math.max(64, (GATHERED_BUDGET / n - HEADER) / Math.max(1, n - 1) & -64L);
    }

    /** Bytes of one piece per destination and round (for tests). */
    public long piece() {
        return piece;
    }

    /** Equal-block all-to-all; see the class comment. */
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        c.beginCall("allToAll");
        try {
            long block = in.byteSize() / size;
            // Pieces no larger than the block (in whole words): a small exchange sends small frames.
            long piece = Math.min(this.piece, (block + 7) & -8L);
            long rounds = piece == 0 ? 1 : (block + piece - 1) / piece;
            long contribution = HEADER + (size - 1) * piece;
            scratch(contribution * (size + 1));
            MemorySegment mine = slice(0, contribution);
            MemorySegment all = slice(contribution, contribution * size);
            long header = header(TAG_ALL_TO_ALL, type, in.byteSize());
            for (long k = 0; k < rounds; k++) {
                long off = k * piece;
                long len = Math.max(0, Math.min(piece, block - off));
                mine.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, header);
                for (int j = 0; j < size; j++) {
                    if (j != rank) MemorySegment.copy(in, j * block + off, mine, HEADER + peerSlot(j, rank) * piece, len);
                }
                c.allGather(mine, all, ElementType.INT64);
                checkHeaders(all, contribution, header, "allToAll");
                for (int i = 0; i < size; i++) {
                    if (i == rank) {
                        MemorySegment.copy(in, rank * block + off, out, rank * block + off, len);
                    } else {
                        MemorySegment.copy(all, i * contribution + HEADER + peerSlot(rank, i) * piece, out, i * block + off, len);
                    }
                }
            }
        } finally {
            c.endCall();
        }
    }

    /**
     * Variable all-to-all with counts in elements; displacements are the prefix sums. See the
     * class comment for the count check.
     */
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        c.beginCall("allToAllV");
        try {
            long maxPair = allToAllVCounts(sendCounts, recvCounts, type);
            allToAllVPieces(in, sendCounts, out, recvCounts, type, maxPair);
        } finally {
            c.endCall();
        }
    }

    /**
     * The count step of an allToAllV, inside the caller's call: one allGather of every rank's
     * sendCounts and recvCounts (behind a header, so that different types or operations fail
     * here), then every rank checks the whole matrix, so a bad pair fails every rank alike.
     * A backend with its own payload schedule runs this first and chooses from the result.
     *
     * @return the largest pair's element count, the same on every rank
     * @throws CommFailure MISMATCH naming the first bad pair (recorded with the backend)
     */
    public long allToAllVCounts(long[] sendCounts, long[] recvCounts, ElementType type) {
        int n = size;
        long countBytes = HEADER + 16L * n;
        scratch(countBytes * (n + 1));
        MemorySegment counts = slice(0, countBytes);
        MemorySegment allCounts = slice(countBytes, countBytes * n);
        long header = header(TAG_ALL_TO_ALL_V, type, n);
        counts.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, header);
        for (int j = 0; j < n; j++) {
            counts.set(ValueLayout.JAVA_LONG_UNALIGNED, HEADER + 8L * j, sendCounts[j]);
            counts.set(ValueLayout.JAVA_LONG_UNALIGNED, HEADER + 8L * (n + j), recvCounts[j]);
        }
        c.allGather(counts, allCounts, ElementType.INT64);
        checkHeaders(allCounts, countBytes, header, "allToAllV");
        try {
            return checkCountMatrix(allCounts, HEADER, countBytes, n, rank, worldRank, group, "allToAllV", type);
        } catch (CommFailure f) {
            throw c.recordFailure(f);
        }
    }

    /**
     * The payload step of an allToAllV whose counts {@link #allToAllVCounts} checked, inside the
     * caller's call: rounds of one allGather of a piece of every block.
     */
    public void allToAllVPieces(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts,
                                ElementType type, long maxPair) {
        int n = size;
        int es = type.byteSize();
        long maxBytes = maxPair * es;
        // Pieces no larger than the largest pair (the same on every rank: the matrix is shared).
        long piece = Math.min(this.piece, (maxBytes + 7) & -8L);
        long rounds = piece == 0 ? 0 : (maxBytes + piece - 1) / piece;
        long contribution = (long) (n - 1) * piece;
        scratch(contribution * (n + 1));
        MemorySegment mine = slice(0, contribution);
        MemorySegment all = slice(contribution, contribution * n);
        long selfSendAt = 0;
        long selfRecvAt = 0;
        for (int j = 0; j < rank; j++) {
            selfSendAt += sendCounts[j] * es;
            selfRecvAt += recvCounts[j] * es;
        }
        for (long k = 0; k < rounds; k++) {
            long off = k * piece;
            packPeerPieces(in, sendCounts, es, off, piece, mine);
            c.allGather(mine, all, ElementType.INT64);
            // Origin i put the piece for this rank in its slot for this rank; its own piece never left.
            unpackPeerPieces(all, contribution, recvCounts, es, off, piece, out);
            long self = pieceLength(recvCounts[rank], es, off, piece);
            if (self > 0) MemorySegment.copy(in, selfSendAt + off, out, selfRecvAt + off, self);
        }
    }

    /*
     * Variable blocks cut into pieces: block j of a packed buffer starts at the sum of the blocks
     * before it (counts in elements of es bytes), and round k moves bytes [off, off + piece) of
     * every block, off = k * piece. Shared by every backend's all-to-all-v that runs in rounds.
     */

    /** Bytes of the piece at {@code off} of a block of {@code count} elements: 0 past the block's end. */
    public static long pieceLength(long count, int es, long off, long piece) {
        return Math.max(0, Math.min(piece, count * es - off));
    }

    /**
     * Copies the piece at {@code off} of every block of {@code in} (block j: {@code counts[j]}
     * elements) to {@code slots} at {@code j * piece}, except block {@code skip} (-1: none).
     */
    public static void packPieces(MemorySegment in, long[] counts, int es, long off, long piece, MemorySegment slots, int skip) {
        long at = 0;
        for (int j = 0; j < counts.length; j++) {
            long len = pieceLength(counts[j], es, off, piece);
            if (j != skip && len > 0) MemorySegment.copy(in, at + off, slots, j * piece, len);
            at += counts[j] * es;
        }
    }

    /**
     * Where origin {@code origin} puts the piece for {@code dest} in its allGather contribution:
     * one slot per peer, in rank order, none for itself (it would be sent and never read).
     */
    private static long peerSlot(int dest, int origin) {
        return dest < origin ? dest : dest - 1;
    }

    /** {@link #packPieces} into one slot per peer ({@link #peerSlot}), this rank's block left out. */
    private void packPeerPieces(MemorySegment in, long[] counts, int es, long off, long piece, MemorySegment slots) {
        long at = 0;
        for (int j = 0; j < counts.length; j++) {
            long len = pieceLength(counts[j], es, off, piece);
            if (j != rank && len > 0) MemorySegment.copy(in, at + off, slots, peerSlot(j, rank) * piece, len);
            at += counts[j] * es;
        }
    }

    /** The inverse of {@link #packPeerPieces} over every origin's contribution in {@code gathered}. */
    private void unpackPeerPieces(MemorySegment gathered, long contribution, long[] counts, int es, long off, long piece,
                                  MemorySegment out) {
        long at = 0;
        for (int i = 0; i < counts.length; i++) {
            long len = pieceLength(counts[i], es, off, piece);
            if (i != rank && len > 0) {
                MemorySegment.copy(gathered, i * contribution + peerSlot(rank, i) * piece, out, at + off, len);
            }
            at += counts[i] * es;
        }
    }

    /**
     * The inverse: copies the piece at {@code off} of every block of {@code out} (block i:
     * {@code counts[i]} elements) from {@code from} at {@code base + i * stride}, except block
     * {@code skip} (-1: none).
     */
    public static void unpackPieces(MemorySegment from, long base, long stride, long[] counts, int es, long off, long piece,
                                    MemorySegment out, int skip) {
        long at = 0;
        for (int i = 0; i < counts.length; i++) {
            long len = pieceLength(counts[i], es, off, piece);
            if (i != skip && len > 0) MemorySegment.copy(from, base + i * stride, out, at + off, len);
            at += counts[i] * es;
        }
    }

    /** Gather to {@code root}; {@code out} is only touched on the root. */
    public void gather(MemorySegment in, MemorySegment out, int root) {
        c.beginCall("gather");
        try {
            long bytes = in.byteSize();
            long chunk = Math.max(64, (GATHERED_BUDGET / size - HEADER) & -64L);
            long rounds = Math.max(1, (bytes + chunk - 1) / chunk);
            long contribution = HEADER + chunk;
            MemorySegment mine = scratch(contribution * (size + 1));
            long header = header(TAG_GATHER, null, bytes) | ((long) (root & 0xff) << 40);
            for (long k = 0; k < rounds; k++) {
                long off = k * chunk;
                long len = Math.max(0, Math.min(chunk, bytes - off));
                mine.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, header);
                MemorySegment.copy(in, off, mine, HEADER, len);
                // Whole words only: the allGather counts INT64 elements; the header carries the bytes.
                long words = HEADER + ((len + 7) & -8L);
                MemorySegment all = slice(contribution, words * size);
                c.allGather(slice(0, words), all, ElementType.INT64);
                checkHeaders(all, words, header, "gather");
                if (rank == root) {
                    for (int i = 0; i < size; i++) {
                        MemorySegment.copy(all, i * words + HEADER, out, i * bytes + off, len);
                    }
                }
            }
        } finally {
            c.endCall();
        }
    }

    /** Scatter from {@code root}; {@code in} is only read on the root. */
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        c.beginCall("scatter");
        try {
            long bytes = out.byteSize();
            long chunk = Math.max(64, (GATHERED_BUDGET / size) & -64L);
            long rounds = Math.max(1, (bytes + chunk - 1) / chunk);
            MemorySegment packed = scratch(chunk * size);
            for (long k = 0; k < rounds; k++) {
                long off = k * chunk;
                long len = Math.max(0, Math.min(chunk, bytes - off));
                if (rank == root) {
                    for (int j = 0; j < size; j++) MemorySegment.copy(in, j * bytes + off, packed, j * len, len);
                }
                // Exact bytes: the broadcast's own size check catches ranks that disagree on out's size.
                c.broadcast(slice(0, len * size), root);
                MemorySegment.copy(packed, rank * len, out, off, len);
            }
        } finally {
            c.endCall();
        }
    }

    /** Reduce to {@code root} by allReduce of pieces in scratch; other ranks' {@code buf} is not written. */
    public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        c.beginCall("reduce");
        try {
            long bytes = buf.byteSize();
            MemorySegment work = scratch(Math.min(Math.max(bytes, 8), REDUCE_PIECE_BYTES));
            long off = 0;
            do {
                long len = Math.min(REDUCE_PIECE_BYTES, bytes - off);
                MemorySegment.copy(buf, off, work, 0, len);
                c.allReduce(slice(0, len), type, op);
                if (rank == root) MemorySegment.copy(work, 0, buf, off, len);
                off += len;
            } while (off < bytes);
        } finally {
            c.endCall();
        }
    }

    /**
     * Checks a count matrix gathered from every rank (row i, at {@code i * rowBytes + rowOffset}:
     * rank i's N sendCounts, then its N recvCounts, native longs) and returns the largest pair
     * count. Every rank that holds the whole matrix throws the same failure, naming the first
     * pair (in row-major order) whose counts disagree; the failure blames the other rank of that
     * pair (or its sender), as a world rank through {@code worldRank}.
     */
    public static long checkCountMatrix(MemorySegment all, long rowOffset, long rowBytes, int n, int rank,
                                        IntUnaryOperator worldRank, String group, String operation, ElementType type) {
        long max = 0;
        long limit = Long.MAX_VALUE / 16;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                long sent = all.get(ValueLayout.JAVA_LONG_UNALIGNED, i * rowBytes + rowOffset + 8L * j);
                long received = all.get(ValueLayout.JAVA_LONG_UNALIGNED, j * rowBytes + rowOffset + 8L * (n + i));
                if (sent != received || sent < 0 || sent > limit) {
                    int blamed = i == rank ? j : i;
                    throw new CommFailure(CommFailure.Kind.MISMATCH, worldRank.applyAsInt(blamed), group,
                            operation + "(" + type.name().toLowerCase(Locale.ROOT) + ")",
                            "rank " + rank + ": allToAllV counts disagree for the pair group rank " + i + " -> " + j
                                    + ": rank " + i + " has sendCounts[" + j + "] = " + sent + " but rank " + j
                                    + " has recvCounts[" + i + "] = " + received + " elements", null);
                }
                max = Math.max(max, sent);
            }
        }
        return max;
    }

    private void checkHeaders(MemorySegment all, long stride, long mine, String operation) {
        for (int i = 0; i < size; i++) {
            long theirs = all.get(ValueLayout.JAVA_LONG_UNALIGNED, i * stride);
            if (theirs != mine) {
                throw c.recordFailure(new CommFailure(CommFailure.Kind.MISMATCH, worldRank.applyAsInt(i), group,
                        operation + "(" + describeHeader(mine) + ")", "rank " + rank + " called " + operation + "("
                        + describeHeader(mine) + ") but rank " + i + " called " + describeHeader(theirs), null));
            }
        }
    }

    private static long header(int tag, ElementType type, long bytes) {
        return ((long) tag << 56) | ((long) (type == null ? 0 : type.code()) << 48) | (bytes & 0xFF_FFFF_FFFFL);
    }

    private static String describeHeader(long h) {
        int tag = (int) (h >>> 56);
        String kind = switch (tag) {
            case TAG_ALL_TO_ALL -> "allToAll";
            case TAG_ALL_TO_ALL_V -> "allToAllV";
            case TAG_GATHER -> "gather";
            default -> "another collective";
        };
        ElementType type = ElementType.ofCode((int) (h >>> 48) & 0xff);
        String what = tag == TAG_GATHER ? "root " + ((h >>> 40) & 0xff) + ", " : "";
        long amount = h & 0xFF_FFFF_FFFFL;
        String unit = tag == TAG_ALL_TO_ALL_V ? " ranks" : " bytes";
        return kind + "(" + (type == null ? "" : type.name().toLowerCase(Locale.ROOT) + ", ") + what + amount + unit + ")";
    }

    private MemorySegment scratch(long bytes) {
        return scratch.reserve(bytes);
    }

    private MemorySegment slice(long offset, long length) {
        return scratch.slice(offset, length);
    }

    /** Frees the scratch memory; idempotent. */
    @Override
    public void close() {
        scratch.close();
    }
}
