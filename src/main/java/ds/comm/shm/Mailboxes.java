package ds.comm.shm;

import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.PointToPoint;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static ds.comm.shm.SegmentDescriptor.*;

/**
 * Point-to-point transfers through the mailbox blocks of the group's segments (layout in
 * {@link SegmentDescriptor}): one single-producer single-consumer channel per ordered pair.
 *
 * <h2>Protocol of the pair (s, r)</h2>
 * A message of B bytes travels as {@code max(1, ceil(B / S))} chunks through the two slots of
 * block r of s's segment. For chunk number {@code c} (counted over the pair's life) the sender
 * waits until r's {@code ACK >= c - 1} (the slot {@code c & 1} it is about to fill was taken
 * out), copies the payload in, writes the slot header (B and the chunk's offset), and publishes
 * {@code SEQ := c + 1} with a release store. The receiver waits for {@code SEQ > c} with acquire
 * loads, checks the header (B must equal its buffer's size, the offset must be the one it
 * expects: neither is ever used as a length or an offset), copies the chunk out and publishes
 * {@code ACK := c + 1} with a release store, which also orders its loads of the slot before the
 * sender's next stores into it. Two slots let the sender fill one while the receiver empties the
 * other. The sender returns when {@code ACK} covers its last chunk: sends are synchronous, so
 * an unmatched send times out instead of vanishing. A receiver whose buffer has the wrong size
 * stores {@code NACK := its size + 1} before failing, so the sender fails with the same
 * mismatch, naming both sizes, instead of waiting for an ACK that will not come.
 *
 * <p>Waits spin, yield and then sleep as the group's {@link IdleStrategy} says; a sleeper sleeps
 * on a futex on the low half of the peer's SEQ or ACK word after storing SLEEP := 1 in its block
 * (volatile), and a publisher, after its SEQ or ACK store, fences and reads the peer's SLEEP: the
 * same Dekker handshake as the step protocol's ({@link StepSequencer}), so a publish wakes a
 * sleeping peer at once and costs one fence and one read otherwise. Waits watch the peer's
 * STATE, ask the OS whether the peer's process still exists every
 * {@link StepSequencer#LIVENESS_CHECK_NANOS} (no sleep outlasts that), and end at the group's
 * timeout. Counters are monotone; the per-pair mirrors and slot views are built at open,
 * so a transfer allocates nothing.
 */
final class Mailboxes {

    private final GroupSpec group;
    private final int rank;
    private final MemorySegment own;
    private final MemorySegment[] segments;
    private final StepSequencer liveness;
    private final IdleStrategy idle;
    private final long timeoutNanos;
    private final long slotBytes;
    private final long segmentBytes;
    /** Offset of block q in this rank's segment. */
    private final long[] ownBlock;
    /** Offset of block {@code rank} in q's segment (q's side of the pair). */
    private final long[] peerBlock;
    /** {@code outSlots[q][k]}: slot k of the pair (rank, q), in this rank's segment. */
    private final MemorySegment[][] outSlots;
    /** {@code inSlots[q][k]}: slot k of the pair (q, rank), in q's segment. */
    private final MemorySegment[][] inSlots;
    /** Chunks published to q (mirror of our SEQ in block q). */
    private final long[] sent;
    /** Chunks taken from q (mirror of our ACK in block q). */
    private final long[] taken;
    /** Whether waits sleep on futexes (else the idle strategy parks). */
    private final boolean futex = Futex.AVAILABLE;
    /** The relative timeout of a futex wait, filled per sleep. */
    private final MemorySegment sleepTimeout;
    /** The collective's: large copies into and out of the slots go through it. */
    private final MappingGuard mappings;

    Mailboxes(GroupSpec group, MemorySegment[] segments, long segmentBytes, Arena arena, IdleStrategy idle,
              long timeoutNanos, StepSequencer liveness, MappingGuard mappings) {
        this.group = group;
        this.mappings = mappings;
        this.rank = group.myIndex();
        int size = group.size();
        this.segments = segments;
        this.own = segments[rank];
        this.segmentBytes = segmentBytes;
        this.liveness = liveness;
        this.idle = idle;
        this.timeoutNanos = timeoutNanos;
        this.slotBytes = SegmentDescriptor.slotBytes(segmentBytes, size);
        this.ownBlock = new long[size];
        this.peerBlock = new long[size];
        this.outSlots = new MemorySegment[size][];
        this.inSlots = new MemorySegment[size][];
        this.sent = new long[size];
        this.taken = new long[size];
        this.sleepTimeout = Arena.ofAuto().allocate(16, 8);
        for (int q = 0; q < size; q++) {
            ownBlock[q] = pairOffset(segmentBytes, size, q);
            peerBlock[q] = pairOffset(segmentBytes, size, rank);
            if (q == rank || slotBytes < 64) continue;
            outSlots[q] = new MemorySegment[2];
            inSlots[q] = new MemorySegment[2];
            for (int k = 0; k < 2; k++) {
                outSlots[q][k] = view(own, ownBlock[q] + MAIL_SLOTS + k * slotBytes, arena);
                inSlots[q][k] = view(segments[q], peerBlock[q] + MAIL_SLOTS + k * slotBytes, arena);
            }
        }
    }

    /** A plain native view (see {@code ShmCollective.plainNative}: keeps copy call sites monomorphic). */
    private MemorySegment view(MemorySegment mapped, long offset, Arena arena) {
        return MemorySegment.ofAddress(mapped.address() + offset).reinterpret(slotBytes, arena, null);
    }

    /** Bytes of one slot: the chunk size. */
    long slotBytes() {
        return slotBytes;
    }

    void send(MemorySegment buf, int q) {
        long bytes = buf.byteSize();
        long start = System.nanoTime();
        long off = 0;
        MemorySegment[] slots = outSlots[q];
        long block = ownBlock[q];
        do {
            long len = Math.min(slotBytes, bytes - off);
            long c = sent[q];
            if (c - ackAcquire(q) >= 2) awaitAck(q, c - 1, bytes, start);
            int k = (int) (c & 1);
            mappings.copy(buf, off, slots[k], 0, len);
            setWord(own, block + MAIL_SLOT_HEADER + 16L * k, bytes);
            setWord(own, block + MAIL_SLOT_HEADER + 16L * k + 8, off);
            sent[q] = c + 1;
            setWordRelease(own, block + MAIL_SEQ, c + 1);
            wakePeer(q);
            off += len;
        } while (off < bytes);
        if (ackAcquire(q) < sent[q]) awaitAck(q, sent[q], bytes, start);
    }

    void recv(MemorySegment buf, int q) {
        long bytes = buf.byteSize();
        long start = System.nanoTime();
        long off = 0;
        MemorySegment peer = segments[q];
        MemorySegment[] slots = inSlots[q];
        long block = peerBlock[q];
        do {
            long c = taken[q];
            if (getWordAcquire(peer, block + MAIL_SEQ) <= c) awaitSeq(q, c + 1, bytes, start);
            int k = (int) (c & 1);
            // Plain reads: the acquire of SEQ ordered them after the sender's writes. Compared
            // with this rank's own numbers only; never used as a length or offset.
            long total = getWord(peer, block + MAIL_SLOT_HEADER + 16L * k);
            long chunkOffset = getWord(peer, block + MAIL_SLOT_HEADER + 16L * k + 8);
            if (total != bytes) {
                setWordRelease(own, ownBlock[q] + MAIL_NACK, bytes + 1);
                throw new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(q), group.name(),
                        PointToPoint.describe(false, bytes, q, rank), "group rank " + q + " (world " + group.worldRank(q)
                        + ") sent " + describeSize(total) + " but group rank " + rank + " (world " + group.myWorldRank()
                        + ") posted a recv of " + bytes + " bytes", null);
            }
            if (chunkOffset != off) {
                throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(),
                        PointToPoint.describe(false, bytes, q, rank), "chunk " + c + " from group rank " + q
                        + " carries offset " + chunkOffset + ", expected " + off + ": the pair's mailbox is out of step", null);
            }
            long len = Math.min(slotBytes, bytes - off);
            mappings.copy(slots[k], 0, buf, off, len);
            taken[q] = c + 1;
            setWordRelease(own, ownBlock[q] + MAIL_ACK, c + 1);
            wakePeer(q);
            off += len;
        } while (off < bytes);
    }

    private static String describeSize(long total) {
        return total >= 0 ? total + " bytes" : "a corrupt size (" + total + ")";
    }

    private long ackAcquire(int q) {
        return getWordAcquire(segments[q], peerBlock[q] + MAIL_ACK);
    }

    /** Waits until the receiver q acknowledged {@code target} chunks (or reported a mismatch). */
    private void awaitAck(int q, long target, long bytes, long start) {
        await(q, MAIL_ACK, target, true, bytes, start);
    }

    /** Waits until the sender q published {@code target} chunks. */
    private void awaitSeq(int q, long target, long bytes, long start) {
        await(q, MAIL_SEQ, target, false, bytes, start);
    }

    /**
     * Waits until word {@code word} of peer q's block for this rank reaches {@code target}: the
     * one wait loop of both directions. A sender also watches the receiver's NACK.
     */
    private void await(int q, long word, long target, boolean sending, long bytes, long start) {
        MemorySegment peer = segments[q];
        long at = peerBlock[q] + word;
        idle.reset();
        long lastCheck = System.nanoTime();
        while (getWordAcquire(peer, at) < target) {
            if (sending) {
                CommFailure refused = refusedBy(q, bytes);
                if (refused != null) throw refused;
            }
            lastCheck = checkWaiting(q, peer, sending, bytes, start, lastCheck);
            if (getWordAcquire(peer, at) >= target) break;
            pause(q, peer, at, target, start, lastCheck);
        }
        idle.waitEnded();
    }

    /** The mismatch the receiver q reported with NACK, or null. */
    private CommFailure refusedBy(int q, long bytes) {
        long nack = getWordAcquire(segments[q], peerBlock[q] + MAIL_NACK);
        if (nack == 0) return null;
        return new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(q), group.name(),
                PointToPoint.describe(true, bytes, rank, q), "group rank " + rank + " (world " + group.myWorldRank()
                + ") sent " + bytes + " bytes but group rank " + q + " (world " + group.worldRank(q)
                + ") posted a recv of " + describeSize(nack - 1), null);
    }

    /**
     * After an unsuccessful poll of the peer's word at {@code offset} (SEQ or ACK, waiting for
     * {@code target}): spin or yield, or sleep on its futex half until the peer publishes, never
     * past the next liveness check or the deadline.
     */
    private void pause(int q, MemorySegment peer, long offset, long target, long start, long lastCheck) {
        if (!futex) {
            idle.idle();
            return;
        }
        long block = idle.idleOrBlock();
        if (block <= 0) return;
        long now = System.nanoTime();
        long nanos = Math.max(1_000, Math.min(block, Math.min(lastCheck + StepSequencer.LIVENESS_CHECK_NANOS - now,
                start + timeoutNanos - now)));
        int word = futexHalfAcquire(peer, offset);
        setWordVolatile(own, ownBlock[q] + MAIL_SLEEP, 1);
        if (getWordAcquire(peer, offset) < target && stateAcquire(peer) == STATE_OPEN) {
            Futex.await(peer.address() + offset + FUTEX_HALF, word, sleepTimeout, nanos);
        }
        setWordRelease(own, ownBlock[q] + MAIL_SLEEP, 0);
    }

    /**
     * The publisher's half of the sleep handshake, after a SEQ or ACK store toward q: a full
     * fence (StoreLoad), then q's SLEEP; a sleeping q is woken on both words it may sleep on.
     */
    private void wakePeer(int q) {
        if (!futex) return;
        java.lang.invoke.VarHandle.fullFence();
        if (getWordAcquire(segments[q], peerBlock[q] + MAIL_SLEEP) != 0) {
            long base = own.address() + ownBlock[q];
            Futex.wakeAll(base + MAIL_SEQ + FUTEX_HALF);
            Futex.wakeAll(base + MAIL_ACK + FUTEX_HALF);
        }
    }

    /** One round of a wait's checks: the peer's STATE, the deadline, and (rarely) its process. */
    private long checkWaiting(int q, MemorySegment peer, boolean sending, long bytes, long start, long lastCheck) {
        long state = stateAcquire(peer);
        long now = System.nanoTime();
        if (state != STATE_OPEN) {
            // NACK is stored before STATE=FAILED: a receiver that refused our size says so.
            CommFailure refused = sending ? refusedBy(q, bytes) : null;
            if (refused != null) throw refused;
            boolean closed = state == STATE_CLOSED;
            throw new CommFailure(closed ? CommFailure.Kind.PEER_LOST : CommFailure.Kind.ABORTED, group.worldRank(q),
                    group.name(), op(sending, bytes, q), "group rank " + q + " (world " + group.worldRank(q) + ") "
                    + (closed ? "closed its communicator" : "failed") + " while group rank " + rank + " (world "
                    + group.myWorldRank() + ") waited for it to " + (sending ? "receive" : "send"), null);
        }
        if (now - start > timeoutNanos) {
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(q), group.name(), op(sending, bytes, q),
                    "group rank " + rank + " (world " + group.myWorldRank() + ") waited " + timeoutNanos / 1_000_000
                            + " ms for group rank " + q + " (world " + group.worldRank(q) + ") to "
                            + (sending ? "receive the message" : "send a message"), null);
        }
        if (now - lastCheck > StepSequencer.LIVENESS_CHECK_NANOS) {
            String loss = liveness.lossOf(q, now);
            if (loss != null) {
                throw new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(q), group.name(), op(sending, bytes, q),
                        "group rank " + q + " (world " + group.worldRank(q) + "): " + loss + " while group rank " + rank
                                + " waited for it to " + (sending ? "receive" : "send"), null);
            }
            return now;
        }
        return lastCheck;
    }

    private String op(boolean sending, long bytes, int q) {
        return sending ? PointToPoint.describe(true, bytes, rank, q) : PointToPoint.describe(false, bytes, q, rank);
    }

    /** Throws (without touching the group) when the segments are too small for any mailbox. */
    void checkCapacity() {
        if (slotBytes < 64) {
            throw new IllegalStateException("point-to-point on group " + group.name() + " of " + group.size()
                    + " ranks needs larger shared-memory segments: DSCOMM_SHM_BYTES=" + segmentBytes
                    + " leaves " + pairBytes(segmentBytes, group.size()) + " bytes of mailbox per pair, at least "
                    + (2 * LINE + 128) + " are needed");
        }
    }
}
