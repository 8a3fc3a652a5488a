package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.util.Locale;

/**
 * Encodes what a rank is doing in a step into the three CALL words of its segment, so that
 * every peer can check, at no extra synchronisation, that all ranks run the same collective.
 *
 * <pre>
 *  word 0:  63..56 kind   55..48 type+1   47..40 op+1   39..32 zero   31..0 root+1
 *  word 1:  payload bytes (buffer of allReduce/reduce/broadcast, input of allGather/gather/allToAll,
 *           output of reduceScatter/scatter; the group size for allToAllV, whose per-pair counts
 *           are exchanged and checked in the call's first step instead)
 *  word 2:  63..8 chunk bytes of the plan   7..0 algorithm
 *           (symmetric all-reduce: 63..24 offset in the tensor, 23..8 symmetric buffer index)
 * </pre>
 *
 * <p>Word 2 makes a difference in {@code smallMessageBytes} or {@code chunkBytes} between ranks
 * (which would give them different step counts) a detected mismatch rather than a silent
 * desynchronisation. Zero in a type, op or root field means "not applicable". Kinds, types and
 * ops are stored as their explicit stable codes ({@link ElementType#code()}, {@link Combiner#code()},
 * {@link Kind#code}), so that reordering an enum cannot change the /dev/shm format.
 */
final class CallDescriptor {

    /** What a step belongs to. */
    enum Kind {
        OPEN(0, "open"), BARRIER(1, "barrier"), ALL_REDUCE(2, "allReduce"), ALL_GATHER(3, "allGather"),
        REDUCE_SCATTER(4, "reduceScatter"), BROADCAST(5, "broadcast"),
        ALL_TO_ALL(6, "allToAll"), ALL_TO_ALL_V(7, "allToAllV"), GATHER(8, "gather"), SCATTER(9, "scatter"),
        REDUCE(10, "reduce");

        /** The kind's number in word 0: stable, never the declaration order (a test pins it). */
        final int code;
        final String label;

        Kind(int code, String label) {
            this.code = code;
            this.label = label;
        }

        /** The kind of {@code code}, or null for an unknown code. */
        static Kind ofCode(int code) {
            for (Kind k : values()) {
                if (k.code == code) return k;
            }
            return null;
        }
    }

    /** No payload movement: open and barrier steps. */
    static final int ALGORITHM_NONE = 0;
    /** Everything in one step: copy in, publish, everyone reads everything. */
    static final int ALGORITHM_ONE_STEP = 1;
    /** Chunked, one or two steps per chunk. */
    static final int ALGORITHM_CHUNKED = 2;
    /** In place in every rank's symmetric tensor; the plan's chunk field is {@code SymmetricBuffer.plan}. */
    static final int ALGORITHM_SYMMETRIC = 3;

    private CallDescriptor() {
    }

    static long word0(Kind kind, ElementType type, Combiner op, int root) {
        return ((long) kind.code << 56)
                | ((long) (type == null ? 0 : type.code()) << 48)
                | ((long) (op == null ? 0 : op.code()) << 40)
                | ((root + 1L) & 0xFFFF_FFFFL);
    }

    static long plan(int algorithm, long chunkBytes) {
        return (chunkBytes << 8) | algorithm;
    }

    /**
     * Human form, e.g. {@code allReduce(fp32, sum, 4096 bytes)}; words come from shared memory,
     * so every field is range-checked and an impossible value is shown raw.
     */
    static String describe(long word0, long bytes, long plan) {
        Kind kind = Kind.ofCode((int) (word0 >>> 56));
        int typeCode = (int) (word0 >>> 48) & 0xff;
        int opCode = (int) (word0 >>> 40) & 0xff;
        ElementType type = ElementType.ofCode(typeCode);
        Combiner op = Combiner.ofCode(opCode);
        long root = (word0 & 0xFFFF_FFFFL) - 1;
        if (kind == null || (typeCode != 0 && type == null) || (opCode != 0 && op == null)
                || (word0 & 0xFF_0000_0000L) != 0) {
            return "corrupt call descriptor 0x" + Long.toHexString(word0);
        }
        StringBuilder b = new StringBuilder(kind.label).append('(');
        if (type != null) b.append(type.name().toLowerCase(Locale.ROOT)).append(", ");
        if (op != null) b.append(op.name().toLowerCase(Locale.ROOT)).append(", ");
        if (root >= 0) b.append("root ").append(root).append(", ");
        // allToAllV's word 1 is the group size: its byte counts differ per rank and are checked pair by pair.
        b.append(bytes).append(kind == Kind.ALL_TO_ALL_V ? " ranks" : " bytes");
        int algorithm = (int) (plan & 0xff);
        if (algorithm == ALGORITHM_ONE_STEP) b.append(", one step");
        if (algorithm == ALGORITHM_CHUNKED) b.append(", chunks of ").append(plan >>> 8);
        if (algorithm == ALGORITHM_SYMMETRIC) {
            b.append(", symmetric buffer ").append((plan >>> 8) & 0xFFFF).append(" at offset ").append(plan >>> 24);
        }
        return b.append(')').toString();
    }

    /** Names the first field in which two calls differ. */
    static String difference(long a0, long a1, long a2, long b0, long b1, long b2) {
        if ((a0 >>> 56) != (b0 >>> 56)) return "collective";
        if (((a0 >>> 48) & 0xff) != ((b0 >>> 48) & 0xff)) return "element type";
        if (((a0 >>> 40) & 0xff) != ((b0 >>> 40) & 0xff)) return "reduction op";
        if (a0 != b0) return "root";
        if (a1 != b1) return "byte count";
        boolean symA = (a2 & 0xff) == ALGORITHM_SYMMETRIC;
        boolean symB = (b2 & 0xff) == ALGORITHM_SYMMETRIC;
        if (symA != symB) return "buffer kind (a symmetric tensor on one rank, an ordinary buffer on the other)";
        if (symA && ((a2 >>> 8) & 0xFFFF) != ((b2 >>> 8) & 0xFFFF)) return "symmetric buffer";
        if (symA && a2 != b2) return "offset in the symmetric tensor";
        if (a2 != b2) return "plan (smallMessageBytes/chunkBytes settings differ)";
        return "nothing";
    }
}
