package ds.comm.ring;

import ds.comm.spi.CommFailure;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.WaitMeter;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Moves the frames of one {@link RingPass} over a rank's two ring connections: non-blocking
 * channels polled in one loop that writes what it can to the right neighbour and reads what it
 * can from the left one. Sending and receiving therefore overlap (a ring in which everyone first
 * sends and then receives deadlocks once the socket buffers fill), and the reading side never
 * waits for anything but bytes, so the ring always drains.
 *
 * <p>All memory is allocated once by the owner: one send staging buffer (header + chunk), one
 * receive head buffer (header + {@link #EAGER_PAYLOAD_BYTES}: a small payload arrives with its
 * header in one read) and one receive payload buffer of a chunk. Payloads that are plain copies
 * of tensor memory are written from and read into it directly where the pass offers a view
 * ({@link RingPass#sendView}, {@link RingPass#recvView}); the rest goes through the staging
 * buffers (a reduction needs the received partial sum next to the local one anyway). Every
 * call has a deadline checked on every poll.
 *
 * <p>Waiting: unproductive polls go to the group's {@link IdleStrategy}
 * ({@link IdleStrategy#idleOrBlock()}), which spins or yields while that pays (lowest latency:
 * a blocked thread needs a scheduler wake-up) and otherwise says block. Then the loop blocks in
 * a {@link Selector} on exactly what it waits for (the left socket readable, and the right one
 * writable while a frame is half written), at most {@link #MAX_BLOCK_MILLIS} at a time: it
 * costs no CPU, and the kernel wakes the rank as soon as bytes arrive. How soon a wait blocks is
 * the strategy's to learn: at once on a node with more ranks than cores, where spinning would
 * take the core the sending neighbour needs (a fixed 1 ms of polling made 4 ranks on 2 cores
 * 40x slower than Open MPI over TCP).
 *
 * <p>Peer loss: end of stream or a reset on either connection names that neighbour. A neighbour
 * that simply goes silent (frozen, or its node gone without FIN/RST) is declared lost by the
 * group's {@link Heartbeat}; the loop reads its verdict (one acquire load) at the start of a call
 * and on every unproductive poll, so a wait for either neighbour ends within a poll (at most
 * {@link #MAX_BLOCK_MILLIS}) of the verdict, long before the call's deadline.
 */
final class FramePump {

    private final SocketChannel toRight;
    private final SocketChannel fromLeft;
    private final int rightWorld;
    private final int leftWorld;
    private final int myWorld;
    private final String group;
    private final String self;
    private final IdleStrategy idle;
    private final Heartbeat heartbeat;
    private final Selector selector;
    private final SelectionKey readKey;
    private final SelectionKey writeKey;
    /** Ready keys need no handling (the loop polls both channels); a field, so select allocates nothing. */
    private final Consumer<SelectionKey> ignoreReadyKey = key -> { };

    private final MemorySegment sendSegment;
    private final ByteBuffer sendBuffer;
    private final ByteBuffer recvHeader;
    private final MemorySegment recvSegment;
    private final ByteBuffer recvBuffer;

    /** Longest single block in the selector; the deadline is re-checked after each. */
    static final long MAX_BLOCK_MILLIS = 50;

    /**
     * Payloads at least this large are written straight from tensor memory, after the header in
     * a write of its own; smaller ones are copied behind the header, which costs less than a
     * second system call and packet. (One gathering write would do both, but the JDK allocates
     * per gathering write on memory-segment buffers.)
     */
    static final int DIRECT_SEND_MIN_BYTES = 16 << 10;

    /** Longest failure explanation an abort frame carries. */
    static final int MAX_ABORT_DETAIL = 1024;

    /**
     * Frames whose payload is at most this long are read together with their header, in one
     * read of header + payload into the head buffer, the payload then copied where it belongs:
     * copying a few KiB costs less than a second system call, and on a node with more ranks
     * than cores every system call is time another rank waits for (4 ranks on 2 cores over
     * loopback: read calls were the largest share of the ranks' CPU time). The read never asks
     * for more than the frame the call expects, so it cannot take bytes of the next frame.
     * Larger payloads are read straight into their destination after a header-only read.
     */
    static final int EAGER_PAYLOAD_BYTES = DIRECT_SEND_MIN_BYTES;

    /** Where stretches without socket progress are added: the collective's peer waits. */
    private final WaitMeter waits;

    /** The group's direct links (small all-reduce of 3 to 8 ranks), or null. */
    private MeshLinks mesh;

    /** True while a frame is not yet completely written. */
    private boolean sendPending;
    /** Payload written straight from tensor memory after the header in sendBuffer, or null if staged. */
    private ByteBuffer sendPayload;
    /** True while the frame being received is an abort frame (its payload is the explanation). */
    private boolean abortIncoming;

    /**
     * @param sendSegment  HEADER_LENGTH + chunk bytes, staging for outgoing frames
     * @param recvHeader   HEADER_LENGTH + {@link #EAGER_PAYLOAD_BYTES} bytes, big-endian: a frame's
     *                     header and, when it is that small, its payload
     * @param recvSegment  chunk bytes for incoming payloads
     */
    FramePump(SocketChannel toRight, SocketChannel fromLeft, int rightWorld, int leftWorld, int myWorld, String group,
              String self, IdleStrategy idle, Heartbeat heartbeat, MemorySegment sendSegment, ByteBuffer recvHeader,
              MemorySegment recvSegment, WaitMeter waits) throws IOException {
        this.toRight = toRight;
        this.fromLeft = fromLeft;
        this.rightWorld = rightWorld;
        this.leftWorld = leftWorld;
        this.myWorld = myWorld;
        this.group = group;
        this.self = self;
        this.idle = idle;
        this.heartbeat = java.util.Objects.requireNonNull(heartbeat, "heartbeat");
        this.sendSegment = sendSegment;
        this.sendBuffer = sendSegment.asByteBuffer();
        this.recvHeader = recvHeader;
        this.recvSegment = recvSegment;
        this.recvBuffer = recvSegment.asByteBuffer();
        this.waits = waits;
        this.selector = Selector.open();
        try {
            this.readKey = fromLeft.register(selector, 0);
            this.writeKey = toRight.register(selector, 0);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
    }

    /**
     * Closes the selector, which releases the channels' registrations: a registered channel's
     * socket is only really closed once it leaves its selector. Wakes a call blocked in it.
     */
    void close() {
        RingEndpoint.closeQuietly(selector);
    }

    /** Registers the group's direct links with this pump's selector; {@link #run} drives them when asked. */
    void attach(MeshLinks links) throws IOException {
        links.register(selector);
        this.mesh = links;
    }

    /** Runs {@code pass} to completion or throws {@link CommFailure} once {@code deadline} (nanoTime) passed. */
    void run(RingPass pass, int sequence, long deadline) {
        run(pass, sequence, deadline, false);
    }

    /**
     * Runs {@code pass} and, if {@code direct}, the call the attached {@link MeshLinks} were armed
     * with, in one loop, to completion or until {@code deadline}.
     */
    void run(RingPass pass, int sequence, long deadline, boolean direct) {
        MeshLinks links = direct ? mesh : null;
        if (links == null) {
            runPass(pass, sequence, deadline, null);
            return;
        }
        links.start(sequence);
        try {
            runPass(pass, sequence, deadline, links);
        } finally {
            links.finish();
        }
    }

    private void runPass(RingPass pass, int sequence, long deadline, MeshLinks links) {
        final int sendFrames = pass.sendFrames();
        final int recvFrames = pass.recvFrames();
        int sent = 0;
        int received = 0;
        boolean inPayload = false;
        int payloadLength = 0;
        ByteBuffer recvTarget = recvBuffer;
        boolean headArmed = false;
        abortIncoming = false;
        idle.reset();
        checkNeighbours(pass);
        boolean waiting = false;
        long waitStart = 0;
        while (sent < sendFrames || received < recvFrames || (links != null && links.pending())) {
            boolean progress = links != null && links.pending() && links.poll(received);

            if (received < recvFrames) {
                if (!inPayload) {
                    if (!headArmed) {
                        recvHeader.clear().limit(FrameDescriptor.HEADER_LENGTH + eagerPayload(pass.expectedPayload(received)));
                        headArmed = true;
                    }
                    // |=: the direct links' progress above counts too (a plain = dropped it).
                    progress |= read(recvHeader, pass) > 0;
                    if (recvHeader.position() >= FrameDescriptor.HEADER_LENGTH) {
                        payloadLength = checkHeader(pass, sequence, received);
                        recvTarget = abortIncoming ? null : pass.recvView(received);
                        if (recvTarget == null) {
                            recvTarget = recvBuffer;
                            recvBuffer.clear().limit(payloadLength);
                        }
                        takeEarlyPayload(recvHeader, recvTarget);
                        inPayload = true;
                    }
                }
                if (inPayload) {
                    if (recvTarget.hasRemaining() && read(recvTarget, pass) > 0) {
                        progress = true;
                    }
                    if (!recvTarget.hasRemaining()) {
                        if (abortIncoming) {
                            throw abortReceived(pass, payloadLength);
                        }
                        if (recvTarget == recvBuffer) {
                            pass.consume(received, recvSegment, payloadLength);
                        }
                        received++;
                        inPayload = false;
                        headArmed = false;
                        progress = true;
                    }
                }
            }

            if (sent < sendFrames) {
                if (!sendPending && pass.sendReady(sent, received)) {
                    sendBuffer.clear();
                    sendPayload = pass.sendView(sent);
                    if (sendPayload != null && sendPayload.remaining() < DIRECT_SEND_MIN_BYTES) {
                        sendPayload = null;
                    }
                    int length;
                    if (sendPayload != null) {
                        length = sendPayload.remaining();
                        sendBuffer.limit(FrameDescriptor.HEADER_LENGTH);
                    } else {
                        length = pass.stage(sent, sendSegment, FrameDescriptor.HEADER_LENGTH);
                        sendBuffer.limit(FrameDescriptor.HEADER_LENGTH + length);
                    }
                    FrameDescriptor.encode(sendBuffer, 0, pass.kind, pass.dtype, pass.op, 0, sequence, sent,
                            pass.count, length, pass.aux);
                    sendPending = true;
                }
                if (sendPending) {
                    if (write(pass) > 0) {
                        progress = true;
                    }
                    if (!sendBuffer.hasRemaining() && (sendPayload == null || !sendPayload.hasRemaining())) {
                        sendPending = false;
                        sendPayload = null;
                        sent++;
                    }
                }
            }

            if (progress) {
                if (waiting) {
                    // The start was read anyway; the end costs a clock read only while someone records.
                    waits.addSince(waitStart);
                    idle.waitEnded();
                    idle.reset();
                    waiting = false;
                }
            } else {
                long now = System.nanoTime();
                if (!waiting) waitStart = now;
                waiting = true;
                checkNeighbours(pass);
                if (now - deadline > 0) {
                    boolean ringDone = sent == sendFrames && received == recvFrames;
                    int blamed = received < recvFrames ? leftWorld : !ringDone || links == null ? rightWorld : links.laggard();
                    // An exchange whose ring frame 0 arrived waits, before anything else, for the
                    // direct phase-1 frames: a rank missing there is the one everybody waits for.
                    int firstMissing = links == null || received == 0 ? -1 : links.firstFrameLaggard();
                    if (firstMissing >= 0) blamed = firstMissing;
                    throw failure(CommFailure.Kind.TIMEOUT, blamed, pass,
                            "no progress before the deadline: sent " + sent + "/" + sendFrames + " frames to world rank "
                                    + rightWorld + ", received " + received + "/" + recvFrames
                                    + " frames from world rank " + leftWorld
                                    + (links == null ? "" : "; " + links.progressReport()), null);
                }
                if (idle.idleOrBlock() > 0) {
                    block(received < recvFrames, sendPending, deadline, pass);
                }
            }
        }
    }

    /** Payload bytes to read together with the header of a frame expected to carry {@code expected}. */
    static int eagerPayload(long expected) {
        return expected > 0 && expected <= EAGER_PAYLOAD_BYTES ? (int) expected : 0;
    }

    /**
     * Moves the payload bytes that arrived with a header (those after it in {@code head}, up to
     * what {@code target} still takes: an abort frame's explanation may be shorter than the
     * payload the read allowed for) to {@code target}'s position, and advances it. Absolute bulk
     * copies: allocates nothing.
     */
    static void takeEarlyPayload(ByteBuffer head, ByteBuffer target) {
        int early = Math.min(head.position() - FrameDescriptor.HEADER_LENGTH, target.remaining());
        if (early <= 0) return;
        int at = target.position();
        target.put(at, head, FrameDescriptor.HEADER_LENGTH, early);
        target.position(at + early);
    }

    /** Throws PEER_LOST naming the neighbour once the heartbeat declared one lost; allocates nothing otherwise. */
    private void checkNeighbours(RingPass pass) {
        Heartbeat.Loss loss = heartbeat.lossAcquire();
        if (loss != null) {
            throw failure(loss.worldRank() >= 0 ? CommFailure.Kind.PEER_LOST : CommFailure.Kind.SETUP,
                    loss.worldRank(), pass, loss.detail(), null);
        }
    }

    /** Blocks until the left socket is readable (if {@code reading}) or the right one writable (if {@code writing}). */
    private void block(boolean reading, boolean writing, long deadline, RingPass pass) {
        try {
            readKey.interestOps(reading ? SelectionKey.OP_READ : 0);
            writeKey.interestOps(writing ? SelectionKey.OP_WRITE : 0);
            if (mesh != null) mesh.interest();
            long remaining = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) + 1;
            selector.select(ignoreReadyKey, Math.max(1, Math.min(MAX_BLOCK_MILLIS, remaining)));
        } catch (ClosedSelectorException | java.nio.channels.CancelledKeyException e) {
            throw failure(CommFailure.Kind.ABORTED, -1, pass, "the collective was closed during the call", e);
        } catch (IOException e) {
            throw failure(CommFailure.Kind.SETUP, -1, pass, "waiting for the sockets failed: " + e.getMessage(), e);
        }
    }

    /**
     * Best effort, bounded by {@code deadline}: completes a partly written frame, then tells the
     * right neighbour that this rank failed and whom it blames, so that the failure travels
     * around the ring instead of every rank waiting for its own timeout.
     */
    void sendAbort(CommFailure failure, long deadline) {
        try {
            boolean frameBoundary = true;
            while (sendPending && (sendBuffer.hasRemaining() || (sendPayload != null && sendPayload.hasRemaining()))) {
                long written = sendBuffer.hasRemaining() ? toRight.write(sendBuffer) : toRight.write(sendPayload);
                if (written == 0) {
                    if (System.nanoTime() - deadline > 0) {
                        frameBoundary = false;
                        break;
                    }
                    Thread.onSpinWait();
                }
            }
            sendPending = false;
            sendPayload = null;
            sendBuffer.clear();
            String message = String.valueOf(failure.getMessage());
            int length = Math.min(message.length(),
                    Math.min(MAX_ABORT_DETAIL, sendBuffer.capacity() - FrameDescriptor.HEADER_LENGTH));
            for (int i = 0; i < length; i++) {
                char c = message.charAt(i);
                sendBuffer.put(FrameDescriptor.HEADER_LENGTH + i, (byte) (c >= 0x20 && c < 0x7F ? c : '?'));
            }
            FrameDescriptor.encode(sendBuffer, 0, FrameDescriptor.KIND_ABORT, FrameDescriptor.NONE,
                    FrameDescriptor.NONE, failure.kind().code(), 0, 0, 0, length,
                    failure.peerRank());
            sendBuffer.clear().limit(FrameDescriptor.HEADER_LENGTH + length);
            // The direct links get the same frame (each link completes its own partial frame first).
            if (mesh != null) mesh.sendAbort(sendBuffer.duplicate(), deadline);
            while (frameBoundary && sendBuffer.hasRemaining()) {
                if (toRight.write(sendBuffer) == 0) {
                    if (System.nanoTime() - deadline > 0) {
                        return;
                    }
                    Thread.onSpinWait();
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // The right neighbour is gone or we were closed: nobody is left to tell.
        }
    }

    /**
     * The left neighbour failed and said why. The culprit it names is reported, except when it
     * names this rank (a mismatch is between two ranks): then the neighbour that saw it is.
     */
    private CommFailure abortReceived(RingPass pass, int length) {
        return abortFailure(recvHeader, recvBuffer, length, leftWorld, myWorld, group, pass.describe(), self);
    }

    /**
     * The failure an abort frame from world rank {@code fromWorld} reports ({@code header}, and
     * {@code length} bytes of explanation at the start of {@code detail}), as this rank
     * ({@code myWorld}) reports it: the culprit the frame names, or the sender when it names this
     * rank. Used for the ring link and the direct links alike.
     */
    static CommFailure abortFailure(ByteBuffer header, ByteBuffer detail, int length, int fromWorld, int myWorld,
                                    String group, String operation, String self) {
        CommFailure.Kind failed = CommFailure.Kind.ofCode(FrameDescriptor.flags(header));
        int culprit = FrameDescriptor.aux(header);
        byte[] why = new byte[length];
        detail.get(0, why);
        String explanation = new String(why, java.nio.charset.StandardCharsets.US_ASCII);
        int blamed = culprit == myWorld ? fromWorld : culprit;
        return new CommFailure(failed, blamed, group, operation, self + ": world rank " + fromWorld + " aborted with "
                + failed + (culprit >= 0 ? " blaming world rank " + culprit : "") + " [" + explanation + "]", null);
    }

    /** Validates a complete received header against the expected frame; returns its payload length. */
    private int checkHeader(RingPass pass, int sequence, int frame) {
        ByteBuffer h = recvHeader;
        if (FrameDescriptor.magic(h) != FrameDescriptor.MAGIC) {
            throw mismatch(pass, "frame " + frame + " has bad magic 0x" + Integer.toHexString(FrameDescriptor.magic(h))
                    + ": the stream from the peer is corrupt or not a ds-comm ring");
        }
        int kind = FrameDescriptor.kind(h);
        if (kind == FrameDescriptor.KIND_ABORT) {
            long length = FrameDescriptor.payloadLength(h);
            if (length > Math.min(MAX_ABORT_DETAIL, recvBuffer.capacity())) {
                throw mismatch(pass, "abort frame announces " + length + " bytes of explanation");
            }
            abortIncoming = true;
            return (int) length;
        }
        String wrong = identityMismatch(h, pass, sequence, frame);
        if (wrong != null) {
            throw mismatch(pass, wrong);
        }
        long length = FrameDescriptor.payloadLength(h);
        int expected = pass.expectedPayload(frame);
        if (length != expected) {
            throw mismatch(pass, "frame " + frame + " carries " + length + " payload bytes, expected " + expected);
        }
        return expected;
    }

    /**
     * Compares a received data frame's identity (kind, sequence, dtype, op, count, aux, frame
     * index) with the call's; returns what differs, or null. Allocates only on a mismatch.
     */
    static String identityMismatch(ByteBuffer h, RingPass pass, int sequence, int frame) {
        if (FrameDescriptor.magic(h) != FrameDescriptor.MAGIC) {
            return "frame " + frame + " has bad magic 0x" + Integer.toHexString(FrameDescriptor.magic(h))
                    + ": the stream from the peer is corrupt or not a ds-comm ring";
        }
        int kind = FrameDescriptor.kind(h);
        if (kind != pass.kind) {
            return "peer called " + FrameDescriptor.kindName(kind) + ", this rank "
                    + FrameDescriptor.kindName(pass.kind);
        }
        if (FrameDescriptor.sequence(h) != sequence) {
            return "peer is at call #" + Integer.toUnsignedString(FrameDescriptor.sequence(h))
                    + " on this group, this rank at #" + Integer.toUnsignedString(sequence);
        }
        if (FrameDescriptor.dtype(h) != pass.dtype) {
            return "peer's dtype code " + FrameDescriptor.dtype(h) + " differs from " + pass.dtype;
        }
        if (FrameDescriptor.op(h) != pass.op) {
            return "peer's op code " + FrameDescriptor.op(h) + " differs from " + pass.op;
        }
        if (FrameDescriptor.count(h) != pass.count) {
            return "peer's count " + FrameDescriptor.count(h) + " differs from " + pass.count;
        }
        if (FrameDescriptor.aux(h) != pass.aux) {
            return "peer's root " + FrameDescriptor.aux(h) + " differs from " + pass.aux;
        }
        if (FrameDescriptor.frameIndex(h) != frame) {
            return "peer sent frame " + Integer.toUnsignedString(FrameDescriptor.frameIndex(h))
                    + " where frame " + frame + " was due";
        }
        return null;
    }

    private int read(ByteBuffer into, RingPass pass) {
        try {
            int n = fromLeft.read(into);
            if (n < 0) {
                throw failure(CommFailure.Kind.PEER_LOST, leftWorld, pass,
                        "world rank " + leftWorld + " closed its connection to this rank", null);
            }
            return n;
        } catch (IOException e) {
            throw ioFailure(e, pass, leftWorld, "reading from");
        }
    }

    /** Writes what the socket takes of the pending frame: header (+ staged payload), then a direct payload. */
    private long write(RingPass pass) {
        try {
            long written = 0;
            if (sendBuffer.hasRemaining()) {
                written = toRight.write(sendBuffer);
            }
            if (!sendBuffer.hasRemaining() && sendPayload != null && sendPayload.hasRemaining()) {
                written += toRight.write(sendPayload);
            }
            return written;
        } catch (IOException e) {
            throw ioFailure(e, pass, rightWorld, "writing to");
        }
    }

    private CommFailure mismatch(RingPass pass, String detail) {
        return failure(CommFailure.Kind.MISMATCH, leftWorld, pass, "frame from world rank " + leftWorld + ": " + detail,
                null);
    }

    /**
     * A failed read or write: our own channel closed under the call (the collective was closed)
     * aborts; anything else on the socket means the neighbour {@code world} is lost.
     */
    private CommFailure ioFailure(IOException e, RingPass pass, int world, String direction) {
        if (e instanceof ClosedChannelException) {
            return failure(CommFailure.Kind.ABORTED, -1, pass, "the collective was closed during the call", e);
        }
        return failure(CommFailure.Kind.PEER_LOST, world, pass, direction + " world rank " + world + " failed: " + e.getMessage(), e);
    }

    private CommFailure failure(CommFailure.Kind kind, int peer, RingPass pass, String detail, Throwable cause) {
        return new CommFailure(kind, peer, group, pass.describe(), self + ": " + detail, cause);
    }
}
