package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The ring link's share of the exchange all-reduce of groups of 3 to {@link MeshLinks#MAX_RANKS}
 * ranks: a direct reduce-scatter, then a direct all-gather, in two dependent phases instead of
 * the ring's 2(N-1) steps (see {@link MeshLinks#armExchange} for the direct links' share).
 *
 * <h2>Schedule</h2>
 * The elements are split into N segments as the ring splits them (sizes differ by at most one
 * element, the first {@code count % N} one larger); segment q is rank q's to reduce.
 * <ol>
 *   <li>Phase 1 (frame 0 on every link): rank r sends segment q of its buffer to rank q, for
 *       every q != r, and receives segment r of every other rank's buffer into slot q of the
 *       group's exchange slots.</li>
 *   <li>Once all N-1 have arrived, rank r reduces segment r in rank order 0..N-1 (its own
 *       contribution read in place) into its buffer: the accumulation order, hence the bits, of
 *       the small algorithm and of the shared-memory backend's small algorithm.</li>
 *   <li>Phase 2 (frame 1): rank r sends its reduced segment to every other rank and receives
 *       segment q, reduced by rank q, straight into its buffer.</li>
 * </ol>
 * Each rank sends 2(N-1)/N of the buffer, as around the ring; what changes is that a rank's
 * frames of one phase depend on nothing but that phase, so a call waits for two scheduler
 * wake-ups instead of 2(N-1) (4 ranks on 2 cores over loopback: every ring step is a hand-over
 * between processes that share a core). 16-bit floats travel as they are: phase 1 carries one
 * rank's own values and phase 2 the rounded results, and the owner widens all N contributions,
 * combines them in fp32 and rounds once, as the lanes kernels do.
 *
 * <h2>Why memory is never overwritten while still needed</h2>
 * Phase 2 writes segment q of this rank's buffer, which phase 1 sent to rank q. Rank q sends
 * it only after it reduced, i.e. after it received this rank's phase-1 frame completely, so
 * that frame was completely written before the overwrite can arrive. The reduction writes
 * segment r only, which no send of phase 1 reads. The slots are read only by the reduction,
 * and written again only in the next call's phase 1, after this call returned.
 */
final class ExchangePass extends BalancedPass implements DirectSchedule {

    private final Reducer reducer;
    private final MemorySegment[] sources;
    private final long[] sourceOffsets;
    private final SegmentView slotsView = new SegmentView();

    private MeshLinks mesh;
    private MemorySegment work;
    private MemorySegment slots;
    private long slotStride;
    private ElementType type;
    private Combiner combiner;
    private int elementSize;
    private long elementBase;
    private long elementExtra;
    private boolean reduced;

    ExchangePass(int size, int rank, Reducer reducer, long chunkBytes) {
        super(size, rank, chunkBytes);
        this.reducer = reducer;
        this.sources = new MemorySegment[size];
        this.sourceOffsets = new long[size];
    }

    /**
     * Arms an all-reduce of {@code elements} elements of {@code work} (native, at most 2 GiB), with
     * {@code slots} holding N slots {@code slotStride} bytes apart, each at least one segment long.
     */
    void arm(MemorySegment work, MemorySegment slots, long slotStride, ElementType type, Combiner op, long elements,
             MeshLinks links) {
        identify(FrameDescriptor.KIND_ALL_REDUCE_EXCHANGE, type, op, elements, 0);
        this.work = work;
        this.slots = slots;
        this.slotStride = slotStride;
        this.type = type;
        this.combiner = op;
        this.elementSize = type.byteSize();
        this.elementBase = elements / n;
        this.elementExtra = elements % n;
        this.mesh = links;
        this.reduced = false;
        bindOutput(work);
        slotsView.bind(slots);
        frames = 2;
    }

    /** Byte offset of segment q in the buffer. */
    private long segmentOffset(int q) {
        return segmentStart(q, elementBase, elementExtra) * elementSize;
    }

    /** Bytes of segment q. */
    private int segmentBytes(int q) {
        return (int) (segmentLength(q, elementBase, elementExtra) * elementSize);
    }

    /** Byte offset of slot q (segment r of rank q's buffer) in the slots. */
    private long slotOffset(int q) {
        return q * slotStride;
    }

    /**
     * Reduces this rank's segment once every phase-1 frame arrived (the ring's and the direct
     * links'); the phase-2 frames wait for it.
     */
    @Override
    boolean sendReady(int frame, int received) {
        if (frame == 0) return true;
        if (!reduced && received >= 1 && mesh.firstFramesReceived()) {
            reduceOwnSegment();
        }
        return reduced;
    }

    private void reduceOwnSegment() {
        for (int q = 0; q < n; q++) {
            sources[q] = q == r ? work : slots;
            sourceOffsets[q] = q == r ? segmentOffset(r) : slotOffset(q);
        }
        reducer.reduce(type, combiner, work, segmentOffset(r), sources, sourceOffsets, n, segmentBytes(r) / elementSize);
        reduced = true;
    }

    // The direct links' share (MeshLinks): frame 0 to q carries segment q of the working buffer
    // and lands, from q, in slot q; frame 1 carries this rank's reduced segment, and from q lands
    // in segment q of the working buffer.

    @Override
    public int directFrames() {
        return 2;
    }

    @Override
    public MemorySegment directSource(int frame) {
        return work;
    }

    @Override
    public long directSourceOffset(int frame, int q) {
        return segmentOffset(frame == 0 ? q : r);
    }

    @Override
    public int directSendBytes(int frame, int q) {
        return segmentBytes(frame == 0 ? q : r);
    }

    @Override
    public MemorySegment directTarget(int frame) {
        return frame == 0 ? slots : work;
    }

    @Override
    public long directTargetOffset(int frame, int q) {
        return frame == 0 ? slotOffset(q) : segmentOffset(q);
    }

    @Override
    public int directRecvBytes(int frame, int q) {
        return segmentBytes(frame == 0 ? r : q);
    }

    @Override
    public boolean directMaySend(int frame) {
        return frame == 0 || reduced;
    }

    /** Frame 0 carries the right neighbour's segment, frame 1 this rank's reduced one. */
    private int sentSegment(int frame) {
        return frame == 0 ? (r + 1) % n : r;
    }

    @Override
    int stage(int frame, MemorySegment dst, long dstOffset) {
        int q = sentSegment(frame);
        int bytes = segmentBytes(q);
        MemorySegment.copy(work, segmentOffset(q), dst, dstOffset, bytes);
        return bytes;
    }

    @Override
    ByteBuffer sendView(int frame) {
        int q = sentSegment(frame);
        return outputSendView.available() ? outputSendView.slice(segmentOffset(q), segmentBytes(q)) : null;
    }

    @Override
    ByteBuffer recvView(int frame) {
        int left = mod(r - 1, n);
        if (frame == 0) {
            return slotsView.available() ? slotsView.slice(slotOffset(left), segmentBytes(r)) : null;
        }
        return outputRecvView.available() ? outputRecvView.slice(segmentOffset(left), segmentBytes(left)) : null;
    }

    @Override
    int expectedPayload(int frame) {
        return frame == 0 ? segmentBytes(r) : segmentBytes(mod(r - 1, n));
    }

    @Override
    void consume(int frame, MemorySegment src, int length) {
        int left = mod(r - 1, n);
        if (frame == 0) {
            MemorySegment.copy(src, 0, slots, slotOffset(left), length);
        } else {
            MemorySegment.copy(src, 0, work, segmentOffset(left), length);
        }
    }

    @Override
    void forget() {
        work = null;
        slots = null;
        mesh = null;
        slotsView.forget();
        super.forget();
    }

    @Override
    String describe() {
        return "allReduce(" + ElementType.ofCode(dtype) + "," + Combiner.ofCode(op) + "," + count + ")";
    }
}
