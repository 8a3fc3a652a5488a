package ds.comm.ring;

import ds.comm.spi.CommFailure;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.function.IntFunction;

/**
 * The direct links of a ring group of 3 to {@link #MAX_RANKS} ranks, and what runs over them:
 * the direct small all-reduce, the exchange all-reduce above it ({@link #armExchange}, segments
 * instead of whole buffers, two frames per link) and the dissemination barrier.
 *
 * <p>The direct small all-reduce: every rank
 * sends its whole buffer to every other rank at once instead of passing blocks around the ring,
 * so the call costs one network latency instead of N-1 (a ring of 4 ranks on 2 cores waited for
 * three scheduler wake-ups in a row: 157 us at 4 KiB against Open MPI TCP's 127 us).
 *
 * <h2>Connections</h2>
 * One connection per ordered pair (sender, receiver) that is not a ring link: the pair's data
 * goes over the ring's own connection when the receiver is the sender's right neighbour. The
 * sender opens it when it opens the group ({@link RingCollective#open}: same authenticated
 * handshake, purpose DATA, keyed by the sender's world rank), which needs only the receiver's
 * listener; the receiver takes it from its endpoint during its first direct call, without
 * waiting (a rank that waited in open() for every peer to open the group could deadlock with
 * peers opening several groups in another order). A peer that called something else has thus
 * still connected, and its neighbours report the mismatch from the ring frames.
 *
 * <h2>A call</h2>
 * The ring part is an ordinary one-step {@link GatheringPass}: each rank sends its block to the
 * right and receives its left neighbour's, with every header field compared as in every ring
 * call; this keeps mismatches between neighbours (another collective, size, type or operation
 * on one rank) detected exactly as before, whichever algorithm the other rank runs. The mesh
 * part sends the same block, behind the same {@link FrameDescriptor} header (kind
 * {@link FrameDescriptor#KIND_ALL_REDUCE_DIRECT}, frame 0), to the N-2 other ranks and receives
 * theirs, each header checked field by field and its payload length bounds-checked before a
 * byte of payload is stored. {@link FramePump} drives both parts in one loop and one selector.
 * The reduction afterwards is the small algorithm's: every rank reduces the N blocks locally in
 * rank order 0..N-1, so the bits are exactly those of the ring all-gather it replaces.
 *
 * <h2>The barrier</h2>
 * Groups of 4 or more ranks run their barrier as a dissemination ({@link #armBarrier}): the
 * ring part is round 0, round k (k >= 1) an empty frame to r + 2^k over a direct link, sent only
 * once every earlier round arrived. The links a barrier does not use carry nothing in that call.
 *
 * <h2>Failures</h2>
 * End of stream or a reset on a mesh link names that rank ({@code PEER_LOST}); a header that
 * differs is {@code MISMATCH} naming the sender; a failing rank sends its abort frame over every
 * mesh link as well as to its right neighbour, so ranks waiting for it directly learn the culprit
 * at once. A rank that falls silent is found by its neighbours' heartbeats, whose failure then
 * reaches everyone the same way.
 *
 * <h2>Memory</h2>
 * One staging region (header + the largest small block) shared by all outgoing links, each with
 * its own {@link ByteBuffer} view (own position). Per incoming link a head buffer of header +
 * {@link FramePump#EAGER_PAYLOAD_BYTES}: blocks that small arrive with their header in one read
 * and are copied into the group's gather blocks; larger ones are read straight into them.
 * Everything is allocated when the group opens: a call allocates nothing.
 */
final class MeshLinks implements AutoCloseable {

    /** Largest group that uses the direct algorithm: (N-2) more connections each way per rank. */
    static final int MAX_RANKS = 8;

    private final int n;
    private final int me;
    private final int myWorld;
    private final int[] worldOf;
    private final String group;
    private final String self;
    /** To group rank q, or null for this rank and its right neighbour. */
    private final SocketChannel[] out;
    /** From group rank q once claimed; always null for this rank and its left neighbour. */
    private final SocketChannel[] in;
    /** Whether an incoming direct link from group rank q exists (all but this rank and its left neighbour). */
    private final boolean[] expectsIn;
    /** Takes group rank q's incoming link from the endpoint if it has connected, else null; never waits. */
    private final IntFunction<SocketChannel> claimIn;
    private Selector selector;
    private final SelectionKey[] outKey;
    private final SelectionKey[] inKey;
    private final MemorySegment staging;
    private final ByteBuffer[] outView;
    private final ByteBuffer[] inHeader;
    private final ByteBuffer[] inPayload;
    private final ByteBuffer[] inAbort;
    /** Where the payload of the frame being received from q goes: inPayload[q], or a scheduled call's view. */
    private final ByteBuffer[] inTarget;
    /**
     * Scheduled call: per outgoing link, the frame's header, followed by its payload when that is
     * shorter than {@link FramePump#DIRECT_SEND_MIN_BYTES} (one write and one packet instead of
     * two, as the ring link stages them), else the payload is {@link #outBody}.
     */
    private final ByteBuffer[] outHead;
    /** {@link #outHead} as segments, so that a small payload is copied behind the header without allocating. */
    private final MemorySegment[] outHeadSegment;
    /** Scheduled call: per outgoing link, the payload of the frame being sent, a view of the sender's memory. */
    private final ByteBuffer[] outBody;
    /**
     * Scheduled call: per link, views of the memory frames are sent from and (per frame index,
     * since the exchange's two frames land in different memory) received into, each with its
     * own position.
     */
    private final SegmentView[] outViewOfSource;
    private final SegmentView[] inViewOfFirstTarget;
    private final SegmentView[] inViewOfSecondTarget;
    /** Scheduled call: whether the small payload of the frame due to group rank q is staged behind its header. */
    private final boolean[] outStaged;
    /** The body of a frame whose payload is staged behind its header: nothing left to write. */
    private static final ByteBuffer NOTHING = ByteBuffer.allocateDirect(0);
    /** Scheduled call: the frame due next to group rank q, {@link #frames} once all went. */
    private final int[] outFrame;
    /** Scheduled call: the frame being received from group rank q. */
    private final int[] inFrame;
    /** 0 header, 1 payload, 2 abort explanation, 3 done; per in link. */
    private final int[] inState;
    /** Barrier round (1..) whose frame goes to group rank q, or 0: round 0 is the ring link. */
    private final int[] outRound;
    /** Barrier round (1..) whose frame comes from group rank q, or 0. */
    private final int[] inRound;
    /** The group rank whose frame completes round k (k >= 1). */
    private final int[] sourceOfRound;

    private RingPass pass;
    /**
     * The armed (or last) call's schedule when its frames differ per link (the exchange
     * all-reduce, the pairwise all-to-all), else null.
     */
    private DirectSchedule schedule;
    /** Scheduled call: frames per link, each way. */
    private int frames;
    /** Scheduled call: frame-0 frames not yet received (the exchange's phase 1). */
    private int firstPending;
    private int sequence;
    /** True while the armed call is the dissemination barrier, false for the direct all-reduce. */
    private boolean rounds;
    /** Frames the ring part of the call has received so far (the barrier's round 0). */
    private int ringReceived;
    private long blockBytes;
    private int outPending;
    private int inPending;
    private boolean armed;

    /**
     * @param out     connections to every group rank but this one and its right neighbour
     * @param claimIn takes the connection from group rank q (never this one or its left
     *                neighbour) if it has connected, else returns null; never waits
     * @param blocks  the group's gather memory, N blocks of at most {@code maxBlock} bytes
     * @param staging {@link FrameDescriptor#HEADER_LENGTH} + maxBlock bytes
     */
    MeshLinks(int rank, int[] worldOf, String group, String self, SocketChannel[] out, IntFunction<SocketChannel> claimIn,
              MemorySegment blocks, MemorySegment staging) throws IOException {
        this.n = worldOf.length;
        this.me = rank;
        this.myWorld = worldOf[rank];
        this.worldOf = worldOf.clone();
        this.group = group;
        this.self = self;
        this.out = out.clone();
        this.in = new SocketChannel[n];
        this.expectsIn = new boolean[n];
        this.claimIn = claimIn;
        this.staging = staging;
        this.outKey = new SelectionKey[n];
        this.inKey = new SelectionKey[n];
        this.outView = new ByteBuffer[n];
        this.inHeader = new ByteBuffer[n];
        this.inPayload = new ByteBuffer[n];
        this.inAbort = new ByteBuffer[n];
        this.inTarget = new ByteBuffer[n];
        this.outHead = new ByteBuffer[n];
        this.outHeadSegment = new MemorySegment[n];
        this.outBody = new ByteBuffer[n];
        this.outViewOfSource = new SegmentView[n];
        this.inViewOfFirstTarget = new SegmentView[n];
        this.inViewOfSecondTarget = new SegmentView[n];
        this.outFrame = new int[n];
        this.outStaged = new boolean[n];
        this.inFrame = new int[n];
        this.inState = new int[n];
        this.outRound = new int[n];
        this.inRound = new int[n];
        this.sourceOfRound = new int[n];
        // Round k >= 1 of the barrier: to r + 2^k, from r - 2^k. 2 <= 2^k < N, so neither is a
        // ring neighbour in that direction: every round after the first uses a direct link.
        for (int k = 1; (1 << k) < n; k++) {
            int dist = 1 << k;
            outRound[(rank + dist) % n] = k;
            inRound[(rank - dist + n) % n] = k;
            sourceOfRound[k] = (rank - dist + n) % n;
        }
        for (int q = 0; q < n; q++) {
            if (this.out[q] != null) {
                this.out[q].configureBlocking(false);
                outView[q] = staging.asByteBuffer();
                outHead[q] = ByteBuffer.allocateDirect(FrameDescriptor.HEADER_LENGTH + FramePump.DIRECT_SEND_MIN_BYTES)
                        .order(ByteOrder.BIG_ENDIAN);
                outHeadSegment[q] = MemorySegment.ofBuffer(outHead[q]);
                outViewOfSource[q] = new SegmentView();
            }
            if (q != rank && q != (rank - 1 + n) % n) {
                expectsIn[q] = true;
                // Header and, for blocks of at most FramePump.EAGER_PAYLOAD_BYTES, the payload in one read.
                inHeader[q] = ByteBuffer.allocateDirect(FrameDescriptor.HEADER_LENGTH + FramePump.EAGER_PAYLOAD_BYTES)
                        .order(ByteOrder.BIG_ENDIAN);
                inPayload[q] = blocks.asByteBuffer();
                inAbort[q] = ByteBuffer.allocateDirect(FramePump.MAX_ABORT_DETAIL);
                inViewOfFirstTarget[q] = new SegmentView();
                inViewOfSecondTarget[q] = new SegmentView();
            }
        }
    }

    /**
     * Registers every link with the pump's selector, interest none until a call waits; incoming
     * links as they are claimed.
     */
    void register(Selector pumpSelector) throws IOException {
        this.selector = pumpSelector;
        for (int q = 0; q < n; q++) {
            if (out[q] != null) outKey[q] = out[q].register(selector, 0);
        }
    }

    /** Claims group rank q's incoming link if it has connected; true once it is here. */
    private boolean claim(int q) {
        SocketChannel c = claimIn.apply(q);
        if (c == null) return false;
        try {
            c.configureBlocking(false);
            inKey[q] = c.register(selector, 0);
        } catch (IOException | RuntimeException e) {
            RingEndpoint.closeQuietly(c);
            throw failure(CommFailure.Kind.SETUP, worldOf[q], "cannot register the direct link from world rank "
                    + worldOf[q] + ": " + e.getMessage(), e);
        }
        in[q] = c;
        return true;
    }

    /**
     * Prepares a call: stages {@code buf} behind a header whose sequence number {@link #start}
     * fills in. {@code identity} is the ring part's pass, whose header fields the mesh frames
     * carry and are compared with.
     */
    void arm(RingPass identity, MemorySegment buf) {
        armCall(identity, null, false, buf.byteSize());
        MemorySegment.copy(buf, 0, staging, FrameDescriptor.HEADER_LENGTH, blockBytes);
    }

    /** What every kind of call arms: its identity, and which of the algorithms it runs. */
    private void armCall(RingPass identity, DirectSchedule directSchedule, boolean barrierRounds, long bytes) {
        pass = identity;
        schedule = directSchedule;
        frames = directSchedule == null ? 1 : directSchedule.directFrames();
        rounds = barrierRounds;
        blockBytes = bytes;
        armed = true;
    }

    /**
     * Prepares a dissemination barrier: ceil(log2 N) rounds, in round k each rank sends an empty
     * frame to rank r + 2^k and waits for one from r - 2^k, and sends round k only once every
     * earlier round arrived. Round 0 is {@code identity}, the ring part (right neighbour, left neighbour);
     * the other rounds go over direct links. After the last round every rank has heard,
     * directly or through others, from every rank, so all have entered. N * ceil(log2 N)
     * frames in ceil(log2 N) latencies, against N * (N-1) in N-1 around the ring (4 ranks on 2
     * cores: 8 frames instead of 12, each a write and a read that a rank with no core of its
     * own waits for) and N * (N-1) in one latency directly.
     */
    void armBarrier(RingPass identity) {
        armCall(identity, null, true, 0);
    }

    /**
     * Prepares the direct links' share of an exchange all-reduce ({@link ExchangePass}, which
     * is also the ring part and says where every segment and slot lies): frame 0 to group rank q
     * carries segment q of the working buffer, frame 1 this rank's segment once it is reduced;
     * frame 0 from q lands in slot q, frame 1 in segment q of the working buffer. Headers are
     * written per link (segments differ in length by up to one element), payloads straight from
     * and into the working buffer and the slots.
     */
    void armExchange(ExchangePass identity) {
        armCall(identity, identity, false, 0);
    }

    /**
     * Prepares the direct links' share of a pairwise all-to-all ({@link AllToAllPass}, also the
     * ring part): one frame to group rank q carrying block q of the input, one from q landing in
     * block q of the output, straight from and into the caller's (native) memory.
     */
    void armAllToAll(AllToAllPass identity) {
        armCall(identity, identity, false, 0);
    }

    /** Scheduled call: whether every frame 0 of the direct links arrived (the exchange's phase 1). */
    boolean firstFramesReceived() {
        return firstPending == 0;
    }

    private void startScheduled() {
        outPending = 0;
        inPending = 0;
        firstPending = 0;
        for (int q = 0; q < n; q++) {
            if (out[q] != null) {
                outFrame[q] = 0;
                prepareScheduledFrame(q);
                outPending += frames;
            }
            if (expectsIn[q]) {
                inFrame[q] = 0;
                armScheduledReceive(q);
                inPending += frames;
                firstPending++;
            }
        }
    }

    /** Header and payload view of the frame due next to group rank q. */
    private void prepareScheduledFrame(int q) {
        int frame = outFrame[q];
        int bytes = schedule.directSendBytes(frame, q);
        // The header alone until a small payload is staged behind it.
        ByteBuffer head = outHead[q].clear().limit(FrameDescriptor.HEADER_LENGTH);
        FrameDescriptor.encode(head, 0, pass.kind, pass.dtype, pass.op, 0, sequence, frame, pass.count, bytes, pass.aux);
        if (bytes < FramePump.DIRECT_SEND_MIN_BYTES) {
            // Staged behind the header. The payload is final when the frame may go
            // (directMaySend), not necessarily now: the exchange's frame 1 is prepared before
            // its segment is reduced, so it is staged only then (stageIfDue).
            outBody[q] = NOTHING;
            outStaged[q] = false;
            stageIfDue(q);
            return;
        }
        outViewOfSource[q].bind(schedule.directSource(frame));
        outBody[q] = outViewOfSource[q].slice(schedule.directSourceOffset(frame, q), bytes);
    }

    /** Copies a small payload behind its header once the frame may go; a no-op for other frames. */
    private void stageIfDue(int q) {
        int frame = outFrame[q];
        if (outStaged[q] || outBody[q] != NOTHING || !schedule.directMaySend(frame)) return;
        int bytes = schedule.directSendBytes(frame, q);
        MemorySegment.copy(schedule.directSource(frame), schedule.directSourceOffset(frame, q), outHeadSegment[q],
                FrameDescriptor.HEADER_LENGTH, bytes);
        outHead[q].limit(FrameDescriptor.HEADER_LENGTH + bytes);
        outStaged[q] = true;
    }

    /** Payload length frame {@code inFrame[q]} from group rank q must carry in a scheduled call. */
    private int scheduledExpected(int q) {
        return schedule.directRecvBytes(inFrame[q], q);
    }

    private void armScheduledReceive(int q) {
        int frame = inFrame[q];
        int expected = scheduledExpected(q);
        inHeader[q].clear().limit(FrameDescriptor.HEADER_LENGTH + FramePump.eagerPayload(expected));
        SegmentView view = frame == 0 ? inViewOfFirstTarget[q] : inViewOfSecondTarget[q];
        view.bind(schedule.directTarget(frame));
        inTarget[q] = view.slice(schedule.directTargetOffset(frame, q), expected);
        inState[q] = 0;
    }

    /** Scheduled call: writes what the socket takes of the frame due to group rank q, if it may go; true if bytes moved. */
    private boolean sendScheduled(int q) {
        if (outFrame[q] >= frames || !schedule.directMaySend(outFrame[q])) return false;
        stageIfDue(q);
        long written = 0;
        try {
            if (outHead[q].hasRemaining()) written = out[q].write(outHead[q]);
            if (!outHead[q].hasRemaining() && outBody[q].hasRemaining()) written += out[q].write(outBody[q]);
        } catch (IOException e) {
            throw ioFailure(e, q, "writing to");
        }
        if (!outHead[q].hasRemaining() && !outBody[q].hasRemaining()) {
            outPending--;
            if (++outFrame[q] < frames) prepareScheduledFrame(q);
            return true;
        }
        return written > 0;
    }

    /** Whether the link to group rank q still has a frame to write in the armed call (scheduled or not). */
    private boolean sendOutstanding(int q) {
        if (schedule != null) return out[q] != null && outFrame[q] < frames;
        return outView[q] != null && outView[q].hasRemaining();
    }

    /** Starts the armed call as call {@code seq} of the group. */
    void start(int seq) {
        sequence = seq;
        if (schedule != null) {
            startScheduled();
            return;
        }
        // clear(): a barrier leaves the links it did not use at limit 0, and encode writes within the limit.
        ByteBuffer header = outView[firstOut()].clear();
        FrameDescriptor.encode(header, 0, pass.kind, pass.dtype, pass.op, 0, seq, 0, pass.count, (int) blockBytes,
                pass.aux);
        int frame = (int) (FrameDescriptor.HEADER_LENGTH + blockBytes);
        outPending = 0;
        inPending = 0;
        ringReceived = 0;
        for (int q = 0; q < n; q++) {
            if (out[q] != null) {
                // A link the barrier does not use carries nothing this call.
                boolean used = !rounds || outRound[q] > 0;
                outView[q].clear().limit(used ? frame : 0);
                if (used) outPending++;
            }
            if (expectsIn[q]) {
                if (rounds && inRound[q] == 0) {
                    inState[q] = 3;
                    continue;
                }
                inHeader[q].clear().limit(FrameDescriptor.HEADER_LENGTH + FramePump.eagerPayload(blockBytes));
                long from = q * blockBytes;
                inPayload[q].limit((int) (from + blockBytes)).position((int) from);
                inTarget[q] = inPayload[q];
                inState[q] = 0;
                inPending++;
            }
        }
    }

    /** True while a started call still has frames to send or receive. */
    boolean pending() {
        return armed && (outPending > 0 || inPending > 0);
    }

    /** Ends the call (completed or failed): the links stay open for the next. */
    void finish() {
        armed = false;
        pass = null;
    }

    /**
     * Writes and reads what the sockets take without waiting; true if any byte moved.
     *
     * @param ringFramesReceived frames the ring part has received so far (the barrier's round 0)
     */
    boolean poll(int ringFramesReceived) {
        ringReceived = ringFramesReceived;
        boolean progress = false;
        for (int q = 0; q < n; q++) {
            ByteBuffer o = outView[q];
            if (schedule != null) {
                if (out[q] != null) progress |= sendScheduled(q);
            } else if (o != null && o.hasRemaining() && mayWrite(q)) {
                try {
                    if (out[q].write(o) > 0) progress = true;
                } catch (IOException e) {
                    throw ioFailure(e, q, "writing to");
                }
                if (!o.hasRemaining()) outPending--;
            }
            if (expectsIn[q] && inState[q] < 3 && (in[q] != null || claim(q))) {
                progress |= receive(q);
            }
        }
        return progress;
    }

    private boolean receive(int q) {
        boolean progress = false;
        if (inState[q] == 0) {
            progress = read(q, inHeader[q]) > 0;
            if (inHeader[q].position() < FrameDescriptor.HEADER_LENGTH) return progress;
            ByteBuffer h = inHeader[q];
            if (FrameDescriptor.magic(h) == FrameDescriptor.MAGIC && FrameDescriptor.kind(h) == FrameDescriptor.KIND_ABORT) {
                long length = FrameDescriptor.payloadLength(h);
                if (length > FramePump.MAX_ABORT_DETAIL) {
                    throw mismatch(q, "abort frame announces " + length + " bytes of explanation");
                }
                inAbort[q].clear().limit((int) length);
                inState[q] = 2;
            } else {
                int frame = schedule != null ? inFrame[q] : 0;
                String wrong = FramePump.identityMismatch(h, pass, sequence, frame);
                if (wrong != null) throw mismatch(q, wrong);
                long length = FrameDescriptor.payloadLength(h);
                long expected = schedule != null ? scheduledExpected(q) : blockBytes;
                if (length != expected) {
                    throw mismatch(q, "frame " + frame + " carries " + length + " payload bytes, expected " + expected);
                }
                inState[q] = 1;
            }
            FramePump.takeEarlyPayload(h, inState[q] == 1 ? inTarget[q] : inAbort[q]);
        }
        ByteBuffer target = inState[q] == 1 ? inTarget[q] : inAbort[q];
        if (target.hasRemaining() && read(q, target) > 0) progress = true;
        if (!target.hasRemaining()) {
            if (inState[q] == 2) throw abortReceived(q);
            inPending--;
            progress = true;
            if (schedule != null && inFrame[q] == 0) firstPending--;
            if (schedule != null && inFrame[q] + 1 < frames) {
                // Frame f from q is complete (the exchange's phase 1); the next may follow on the same link.
                inFrame[q]++;
                armScheduledReceive(q);
            } else {
                inState[q] = 3;
            }
        }
        return progress;
    }

    /**
     * Whether the frame to group rank q may go now: always, except a barrier round k before
     * every earlier round arrived. Every earlier one, not only round k-1: frames of different
     * rounds come over different links and may arrive in any order, and a round sent after
     * round k-1 alone could carry a rank's word for peers it has not heard from yet.
     */
    private boolean mayWrite(int q) {
        if (!rounds) return true;
        if (ringReceived == 0) return false;
        for (int j = outRound[q] - 1; j >= 1; j--) {
            if (inState[sourceOfRound[j]] != 3) return false;
        }
        return true;
    }

    /** Sets what the selector should wake for: the links this call still waits on, or none. */
    void interest() {
        boolean active = pending();
        for (int q = 0; q < n; q++) {
            if (outKey[q] != null) {
                boolean writable = schedule != null ? outFrame[q] < frames && schedule.directMaySend(outFrame[q])
                        : outView[q].hasRemaining() && mayWrite(q);
                outKey[q].interestOps(active && writable ? SelectionKey.OP_WRITE : 0);
            }
            if (inKey[q] != null) {
                inKey[q].interestOps(active && inState[q] < 3 ? SelectionKey.OP_READ : 0);
            }
        }
    }

    /** World rank of a peer the call still waits for (a frame to or from it), or -1. */
    int laggard() {
        for (int q = 0; q < n; q++) {
            if (expectsIn[q] && inState[q] < 3) return worldOf[q];
        }
        for (int q = 0; q < n; q++) {
            if (sendOutstanding(q)) return worldOf[q];
        }
        return -1;
    }

    /** Scheduled call: world rank of a peer whose frame 0 has not arrived, or -1 (also for other calls). */
    int firstFrameLaggard() {
        if (schedule == null) return -1;
        for (int q = 0; q < n; q++) {
            if (expectsIn[q] && inFrame[q] == 0 && inState[q] < 3) return worldOf[q];
        }
        return -1;
    }

    /** For a timeout's message: which direct frames are still missing. Only called on failure. */
    String progressReport() {
        if (schedule != null) return scheduledReport();
        StringBuilder from = new StringBuilder();
        StringBuilder to = new StringBuilder();
        for (int q = 0; q < n; q++) {
            if (expectsIn[q] && inState[q] < 3) {
                from.append(from.isEmpty() ? "" : ", ").append(worldOf[q]).append(in[q] == null ? " (never connected)" : "");
            }
            if (sendOutstanding(q)) to.append(to.isEmpty() ? "" : ", ").append(worldOf[q]);
        }
        return "direct frames not yet received from world ranks [" + from + "], not yet sent to [" + to + "]";
    }

    /** A scheduled call's {@link #progressReport}: which frame (the exchange's 0: phase 1, 1: phase 2) each link still misses. */
    private String scheduledReport() {
        StringBuilder first = new StringBuilder();
        StringBuilder second = new StringBuilder();
        StringBuilder to = new StringBuilder();
        for (int q = 0; q < n; q++) {
            if (expectsIn[q] && inState[q] < 3) {
                StringBuilder b = inFrame[q] == 0 ? first : second;
                b.append(b.isEmpty() ? "" : ", ").append(worldOf[q]).append(in[q] == null ? " (never connected)" : "");
            }
            if (sendOutstanding(q)) to.append(to.isEmpty() ? "" : ", ").append(worldOf[q]).append(" (frame ").append(outFrame[q]).append(')');
        }
        return "direct frames not yet received: frame 0 from world ranks [" + first + "]"
                + (frames > 1 ? ", frame 1 from world ranks [" + second + "]" : "") + "; not yet sent to [" + to + "]";
    }

    /**
     * Best effort, bounded by {@code deadline}: completes partly written frames (a receiver must
     * see whole frames), then sends {@code abortFrame} (header + explanation) over every link.
     */
    void sendAbort(ByteBuffer abortFrame, long deadline) {
        for (int q = 0; q < n; q++) {
            if (out[q] == null) continue;
            try {
                if (schedule != null) {
                    // A frame is partly written once its header started and its payload is not through.
                    boolean started = outFrame[q] < frames && outHead[q].position() > 0;
                    if (started && !(writeFully(q, outHead[q], deadline) && writeFully(q, outBody[q], deadline))) continue;
                } else {
                    ByteBuffer partial = outView[q];
                    if (partial.position() > 0 && partial.hasRemaining() && !writeFully(q, partial, deadline)) continue;
                }
                writeFully(q, abortFrame.duplicate(), deadline);
            } catch (IOException | RuntimeException ignored) {
                // This peer is gone or we were closed: the others may still be told.
            }
        }
    }

    private boolean writeFully(int q, ByteBuffer b, long deadline) throws IOException {
        while (b.hasRemaining()) {
            if (out[q].write(b) == 0) {
                if (System.nanoTime() - deadline > 0) return false;
                Thread.onSpinWait();
            }
        }
        return true;
    }

    /** Drops every reference to caller memory (the scheduled calls' views); called when the collective closes. */
    void forget() {
        schedule = null;
        pass = null;
        for (int q = 0; q < n; q++) {
            outBody[q] = null;
            inTarget[q] = null;
            if (outViewOfSource[q] != null) outViewOfSource[q].forget();
            if (inViewOfFirstTarget[q] != null) inViewOfFirstTarget[q].forget();
            if (inViewOfSecondTarget[q] != null) inViewOfSecondTarget[q].forget();
        }
    }

    /**
     * Closes every link, claiming first those that connected but were never used, so that they
     * do not wait at the endpoint until the process ends.
     */
    @Override
    public void close() {
        for (int q = 0; q < n; q++) {
            RingEndpoint.closeQuietly(out[q]);
            if (in[q] == null && expectsIn[q]) {
                try {
                    in[q] = claimIn.apply(q);
                } catch (RuntimeException ignored) {
                    // A bad claim was closed by the claimer.
                }
            }
            RingEndpoint.closeQuietly(in[q]);
        }
    }

    private int firstOut() {
        for (int q = 0; q < n; q++) {
            if (out[q] != null) return q;
        }
        throw new IllegalStateException("a mesh of " + n + " ranks has no direct link");
    }

    private int read(int q, ByteBuffer into) {
        try {
            int got = in[q].read(into);
            if (got < 0) {
                throw failure(CommFailure.Kind.PEER_LOST, worldOf[q],
                        "world rank " + worldOf[q] + " closed its direct connection to this rank", null);
            }
            return got;
        } catch (IOException e) {
            throw ioFailure(e, q, "reading from");
        }
    }

    private CommFailure abortReceived(int q) {
        return FramePump.abortFailure(inHeader[q], inAbort[q], inAbort[q].position(), worldOf[q], myWorld, group,
                pass.describe(), self);
    }

    private CommFailure mismatch(int q, String detail) {
        return failure(CommFailure.Kind.MISMATCH, worldOf[q], "direct frame from world rank " + worldOf[q] + ": " + detail,
                null);
    }

    private CommFailure ioFailure(IOException e, int q, String direction) {
        if (e instanceof ClosedChannelException) {
            return failure(CommFailure.Kind.ABORTED, -1, "the collective was closed during the call", e);
        }
        return failure(CommFailure.Kind.PEER_LOST, worldOf[q], direction + " world rank " + worldOf[q]
                + " (direct connection) failed: " + e.getMessage(), e);
    }

    private CommFailure failure(CommFailure.Kind kind, int peer, String detail, Throwable cause) {
        return new CommFailure(kind, peer, group, pass == null ? "allReduce" : pass.describe(), self + ": " + detail, cause);
    }
}
