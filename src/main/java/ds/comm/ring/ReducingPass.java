package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
import ds.comm.lanes.Reducer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Ring reduce-scatter, optionally followed by ring all-gather: the bandwidth-optimal all-reduce
 * (each rank sends 2(N-1)/N of the data) and the reduce-scatter collective.
 *
 * <h2>Schedule</h2>
 * The elements are split into N segments (all-reduce: sizes differ by at most one element,
 * the first {@code count % N} one larger; reduce-scatter: the N blocks). In reduce-scatter
 * step {@code j = 0 .. N-2} rank r sends segment {@code r-j-shift} and receives segment
 * {@code r-j-1-shift} (mod N), which it combines with its own contribution; after the last step
 * rank r owns the complete reduction of segment {@code r+1} (all-reduce, shift 0) or {@code r}
 * (reduce-scatter, shift 1). All-gather step {@code t = 0 .. N-2} then sends segment
 * {@code r+1-t} and receives {@code r-t}, each owner's bits copied unchanged to every rank.
 *
 * <h2>Accumulation order</h2>
 * A segment's partial sum starts at one rank and travels right, each rank combining
 * {@code partial op own}: segment s is reduced in ring order starting at rank
 * {@code s + shift}, i.e. {@code ((x[s+shift] op x[s+shift+1]) op ...) op x[s+shift-1]}
 * (indices mod N). That order depends only on N and the sizes, never on timing, and the
 * all-gather copies one owner's bits, so every rank ends bit-identical. (It is not rank order
 * 0..N-1, so float results may differ in the last bits from the shared-memory backend.)
 *
 * <h2>16-bit floats</h2>
 * BF16/FP16 partial sums travel as fp32 and are rounded once by the segment's owner, so the
 * result is the fp32 reduction over all N contributions rounded once, as the lanes kernels do
 * for local sources. Step 0 carries no partial sum, only one rank's own 16-bit values, so it
 * is sent as 16-bit (exact) and widened by the receiver; later steps carry 4 bytes per element;
 * the all-gather carries the rounded 16-bit results.
 *
 * <h2>Pipelining and memory</h2>
 * Every segment is cut into chunks of {@code chunkBytes / wireSize} elements; frames go out in
 * step-major order within a round of K chunks per segment, so chunk k of step j is sent as soon
 * as chunk k of step j-1 has arrived: K chunks in flight overlap sending, receiving and reducing.
 * Partial sums wait for their next step in bank slots allocated once at open; a message larger
 * than one round simply runs more rounds through the same frame stream, without draining the
 * pipeline in between. A round uses N-2 banks (one per intermediate step) of K chunk slots; N
 * banks are used in rotation ({@link #physicalBank}).
 *
 * <h2>Why memory is never overwritten while still needed</h2>
 * Frames can be sent straight from tensor and bank memory, so a send may still be reading a
 * region while later frames arrive, and nothing but the ring itself orders the two: receiving a
 * frame proves only what its chain of causes proves. Receiving frame (q, s, k) from the left
 * means the left rank sent it, hence (FIFO) everything before it, hence received the frames
 * those depend on (step s-1 of the same chunk; a step-0 frame depends on nothing but its
 * predecessor), and so on around the ring back to this rank's own sends. Along that chain:
 * <ul>
 *   <li>the all-gather receive into segment r-t (step N-1+t) proves this rank completed its
 *       reduce-scatter step t send of the same chunk, the last reader of that memory, and the
 *       step-0 send of segment r is covered the same way by all-gather step 0;</li>
 *   <li>a bank slot is next rewritten by a receive that proves the send reading its previous
 *       contents completed. With rounds of 2(N-1) steps (all-reduce) N-2 banks would do;
 *       reduce-scatter's rounds of N-1 steps prove less per frame and need N in rotation,
 *       the count used for both. (Checked exhaustively for N = 3..12, K = 1..4 by a model of
 *       these causal chains in {@code ReducingPassBankTest}.)</li>
 * </ul>
 */
final class ReducingPass extends BalancedPass {

    private final Reducer reducer;
    /** Chunks per segment per round when N >= 3 (bounded by the banks' size). */
    private final int bankChunks;
    /** N banks of bankChunks slots of chunkBytes each (unused for N = 2). */
    private final MemorySegment banks;
    /** One fp32 chunk: the owner's widened contribution and final fp32 sum of 16-bit data. */
    private final MemorySegment scratch;
    private final SegmentView banksView = new SegmentView();
    private final SegmentView localView = new SegmentView();
    private final MemorySegment[] sources = new MemorySegment[2];
    private final long[] sourceOffsets = new long[2];

    // ---- the current call
    private ElementType type;
    private Combiner combiner;
    private boolean half;
    private int elementSize;
    /** Bytes per element of partial sums on the wire (4 for 16-bit floats). */
    private int wireSize;
    private MemorySegment local;
    private MemorySegment result;
    private boolean allReduce;
    private int shift;
    private long segmentBase;
    private long segmentExtra;
    private long chunkElements;
    private int chunksPerRound;
    private int stepsPerRound;

    // ---- decoded frame, written by decode()
    private int round;
    private int step;
    private int chunkInRound;
    private long chunkStart;

    ReducingPass(int size, int rank, Reducer reducer, long chunkBytes, int bankChunks, MemorySegment banks,
                 MemorySegment scratch) {
        super(size, rank, chunkBytes);
        this.reducer = reducer;
        this.bankChunks = bankChunks;
        this.banks = banks;
        this.scratch = scratch;
        banksView.bind(banks);
    }

    /** Bytes of bank memory a group of {@code size} ranks needs. */
    static long bankBytes(int size, int bankChunks, long chunkBytes) {
        return size <= 2 ? 0 : (long) size * bankChunks * chunkBytes;
    }

    /** Arms an in-place all-reduce of {@code buf}. */
    void armAllReduce(MemorySegment buf, ElementType elementType, Combiner op) {
        long elements = buf.byteSize() / elementType.byteSize();
        arm(FrameDescriptor.KIND_ALL_REDUCE_RING, buf, buf, elementType, op, elements / n, elements % n, true, 0,
                elements);
    }

    /** Arms a reduce-scatter of the N blocks of {@code in} into {@code out}. */
    void armReduceScatter(MemorySegment in, MemorySegment out, ElementType elementType, Combiner op) {
        long block = out.byteSize() / elementType.byteSize();
        arm(FrameDescriptor.KIND_REDUCE_SCATTER, in, out, elementType, op, block, 0, false, 1, block);
    }

    private void arm(int frameKind, MemorySegment localData, MemorySegment resultData, ElementType elementType,
                     Combiner op, long base, long extra, boolean gather, int segmentShift, long headerCount) {
        identify(frameKind, elementType, op, headerCount, 0);
        type = elementType;
        combiner = op;
        half = HalfFloats.isHalf(elementType);
        elementSize = elementType.byteSize();
        wireSize = half ? 4 : elementSize;
        local = localData;
        result = resultData;
        localView.bind(localData);
        bindOutput(resultData);
        allReduce = gather;
        shift = segmentShift;
        segmentBase = base;
        segmentExtra = extra;
        chunkElements = chunkBytes / wireSize;
        long longest = base + (extra > 0 ? 1 : 0);
        long chunksPerSegment = piecesAtLeastOne(longest, chunkElements);
        long k = n == 2 ? chunksPerSegment : Math.min(bankChunks, chunksPerSegment);
        long rounds = piecesAtLeastOne(longest, k * chunkElements);
        stepsPerRound = gather ? 2 * (n - 1) : n - 1;
        frames = frameCount(rounds * stepsPerRound * k, "message of ", longest * n, " elements", chunkBytes);
        chunksPerRound = (int) k;
    }

    @Override
    boolean sendReady(int frame, int received) {
        // Step 0 of a round sends this rank's own data; step j > 0 forwards what arrived in step
        // j-1 for the same chunk, i.e. receive frame (frame - K).
        return frame % (stepsPerRound * chunksPerRound) < chunksPerRound || received > frame - chunksPerRound;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        decode(frame);
        if (step < n - 1) {
            int segment = mod(r - step - shift, n);
            long length = chunkLength(segment);
            if (step == 0) {
                long bytes = length * elementSize;
                copy(local, elementOffset(segment) * elementSize, dst, dstOffset, bytes);
                return (int) bytes;
            }
            long bytes = length * wireSize;
            copy(banks, bankSlot(step - 1), dst, dstOffset, bytes);
            return (int) bytes;
        }
        int segment = mod(r + 1 - (step - (n - 1)), n);
        long bytes = chunkLength(segment) * elementSize;
        copy(result, elementOffset(segment) * elementSize, dst, dstOffset, bytes);
        return (int) bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        decode(frame);
        if (step < n - 1) {
            int segment = mod(r - step - shift, n);
            long length = chunkLength(segment);
            if (step == 0) {
                return localView.available()
                        ? localView.slice(elementOffset(segment) * elementSize, length * elementSize) : null;
            }
            return banksView.available() ? banksView.slice(bankSlot(step - 1), length * wireSize) : null;
        }
        int segment = mod(r + 1 - (step - (n - 1)), n);
        return outputSendView.available()
                ? outputSendView.slice(elementOffset(segment) * elementSize, chunkLength(segment) * elementSize) : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        decode(frame);
        if (step < n - 1 || !outputRecvView.available()) {
            return null;
        }
        int segment = mod(r - (step - (n - 1)), n);
        return outputRecvView.slice(elementOffset(segment) * elementSize, chunkLength(segment) * elementSize);
    }

    @Override
    int expectedPayload(int frame) {
        decode(frame);
        if (step < n - 1) {
            long length = chunkLength(mod(r - step - 1 - shift, n));
            return (int) (length * (step == 0 ? elementSize : wireSize));
        }
        return (int) (chunkLength(mod(r - (step - (n - 1)), n)) * elementSize);
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        decode(frame);
        if (step >= n - 1) {
            int segment = mod(r - (step - (n - 1)), n);
            copy(src, 0, result, elementOffset(segment) * elementSize, length);
            return;
        }
        int segment = mod(r - step - 1 - shift, n);
        long elements = chunkLength(segment);
        long localOffset = elementOffset(segment) * elementSize;
        boolean last = step == n - 2;
        if (half) {
            if (step == 0) {
                HalfFloats.widenInPlace(type, src, elements);
            }
            MemorySegment acc = last ? scratch : banks;
            long accOffset = last ? 0 : bankSlot(step);
            HalfFloats.widen(type, local, localOffset, acc, accOffset, elements);
            reduce(ElementType.FP32, acc, accOffset, src, acc, accOffset, elements);
            if (last) {
                HalfFloats.narrow(type, scratch, 0, result, resultOffset(segment), elements);
            }
        } else if (last) {
            reduce(type, result, resultOffset(segment), src, local, localOffset, elements);
        } else {
            reduce(type, banks, bankSlot(step), src, local, localOffset, elements);
        }
    }

    @Override
    void forget() {
        local = null;
        result = null;
        localView.forget();
        super.forget();
    }

    @Override
    String describe() {
        return (allReduce ? "allReduce(" : "reduceScatter(") + type + "," + combiner + ","
                + (allReduce ? segmentBase * n + segmentExtra : segmentBase) + ")";
    }

    /** dst = partial op own, in that order: the order the class comment documents. */
    private void reduce(ElementType t, MemorySegment dst, long dstOffset, MemorySegment partial, MemorySegment own,
                        long ownOffset, long elements) {
        // An empty piece (a segment shorter than its chunk grid) may sit at an offset just past
        // the end of the caller's buffer; the kernels rightly refuse such a range even when empty.
        if (elements == 0) return;
        sources[0] = partial;
        sourceOffsets[0] = 0;
        sources[1] = own;
        sourceOffsets[1] = ownOffset;
        reducer.reduce(t, combiner, dst, dstOffset, sources, sourceOffsets, 2, elements);
        sources[0] = null;
        sources[1] = null;
    }

    private void decode(int frame) {
        int perRound = stepsPerRound * chunksPerRound;
        round = frame / perRound;
        int inRound = frame - round * perRound;
        step = inRound / chunksPerRound;
        chunkInRound = inRound - step * chunksPerRound;
        chunkStart = ((long) round * chunksPerRound + chunkInRound) * chunkElements;
    }

    private long segmentLength(int segment) {
        return segmentLength(segment, segmentBase, segmentExtra);
    }

    /** Element length of the decoded chunk of {@code segment}; 0 past the segment's end. */
    private long chunkLength(int segment) {
        return Math.max(0, Math.min(chunkElements, segmentLength(segment) - chunkStart));
    }

    /** Element index (in local and, for all-reduce, result) of the decoded chunk of {@code segment}. */
    private long elementOffset(int segment) {
        return segmentStart(segment, segmentBase, segmentExtra) + chunkStart;
    }

    /** Byte offset in result of the decoded chunk of {@code segment}: reduce-scatter keeps only its own block. */
    private long resultOffset(int segment) {
        return (allReduce ? elementOffset(segment) : chunkStart) * elementSize;
    }

    /** Byte offset of the decoded chunk's slot in the bank of intermediate step {@code bank}. */
    private long bankSlot(int bank) {
        return (physicalBank(round, bank, n) * bankChunks + chunkInRound) * chunkBytes;
    }

    /**
     * The bank holding the partial sums of intermediate step {@code step} (0 .. N-3) in round
     * {@code round}: logical banks numbered across rounds, used in rotation over N physical ones.
     */
    static long physicalBank(long round, int step, int size) {
        return (round * (size - 2) + step) % size;
    }

    private static void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        if (bytes > 0) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
        }
    }
}
