package ds.comm.shm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Memory layout of one rank's shared-memory segment, and the only code that knows the offsets.
 *
 * <pre>
 *  offset  line  field                        written by / when
 *  ------  ----  ---------------------------  -----------------------------------------------
 *       0     0  MAGIC          "DSCOMSHM"    owner, once, before READY
 *       8        LAYOUT_VERSION               "
 *      16        SEGMENT_BYTES  file size     "
 *      24        AREA_BYTES     data area     "
 *      32        PID            creator pid   "
 *      40        START_MILLIS   pid start     "   (epoch ms, 0 if unknown; pid reuse guard)
 *      48        UID            creator uid   "
 *      56        JOB_HASH       FNV-1a(job)   "
 *      64        GROUP_HASH     FNV-1a(name)  "
 *      72        GROUP_RANK                   "
 *      80        GROUP_SIZE                   "
 *      88        BYTE_ORDER_MARK  (native!)   "   0x0102030405060708 in the payload byte order
 *      96        PID_NAMESPACE  inode         "   of /proc/self/ns/pid, 0 if unknown
 *     120        READY          READY_VALUE   owner, last, with a release store
 *     128     1  STEP           sequence      owner, release store, once per protocol step
 *     136        CALL[0]        3 words       owner, plain, before STEP of an even step
 *     160        CALL[1]        3 words       owner, plain, before STEP of an odd step
 *     256     2  HEARTBEAT      beat counter  owner's pacer thread, release store, ~6 per peer-lost
 *                                             bound while a peer cannot judge our pid (HeartbeatPacer)
 *     264        CALLERS        1 / 2         owner, release store: 1 = this process issues its SHM
 *                                             collectives from one thread, 2 = from several (CrossGroupWatch)
 *     384     3  STATE          OPEN/CLOSED/FAILED  owner, release store
 *     392        BLAME          kind, world rank    owner, plain, before STATE=FAILED
 *     512     4  SLEEP          0 / peer + 1  owner, volatile store: the group rank whose STEP
 *                                             futex the owner sleeps on (0: awake); read by
 *                                             every publisher after its STEP store
 *     640        AREA[0]        AREA_BYTES    owner, plain, payload of even steps
 *  640+A         AREA[1]        AREA_BYTES    owner, plain, payload of odd steps
 *  640+2A        MAILBOX[q]     M/N bytes     one block per group rank q (own index unused), see below
 *  640+2A+M      (unused tail, &lt; 256 bytes)
 * </pre>
 *
 * <p><b>Mailboxes</b> (point-to-point). The mailbox region is {@code M = mailboxBytes(size)}
 * bytes, split into one block of {@code P = pairBytes(size, N)} bytes per group rank. In rank
 * r's segment, block q belongs to the ordered pairs (r, q) and (q, r):
 * <pre>
 *  +0     OUT line  SEQ       chunks r published to q   r, release store, after the slot and its header
 *  +8               SLOT0_TOTAL, +16 SLOT0_OFFSET       r, plain, before SEQ (message bytes, chunk offset)
 *  +24              SLOT1_TOTAL, +32 SLOT1_OFFSET       "
 *  +128   IN line   ACK       chunks r took from q      r, release store, after copying the chunk out
 *  +136             NACK      0, or r's recv bytes + 1  r, release store, when q's send mismatched r's recv
 *  +144             SLEEP     1 while r sleeps on a futex for q's SEQ or ACK (0: awake); volatile store
 *  +256   SLOT[0]   S bytes   payload of odd chunks     r, plain, only while ACK of q shows it free
 *  +256+S SLOT[1]   S bytes   payload of even chunks
 * </pre>
 * The sender reads the receiver's IN line of its block; the receiver reads the sender's OUT line
 * and slots. SEQ and ACK are monotone counters on their own lines, like STEP.
 *
 * <p>Every header and control word is a 64-bit <b>big-endian</b> long at an 8-byte aligned
 * offset (so acquire/release access is single-copy atomic), whatever the platform: the header
 * is a file format and a fixed order makes {@code xxd /dev/shm/dscomm-…} readable. The one
 * exception is {@code BYTE_ORDER_MARK}, written in native order so that a reader can verify that
 * the writer's payload order is its own. Tensor payloads in the data areas are native order.
 *
 * <p>Each control word sits alone on a 128-byte line (two 64-byte lines, so the adjacent-line
 * prefetcher does not drag a neighbour's line along): STEP is polled by every peer while its
 * owner writes it, and must not share a line with words the owner writes at other times.
 * CALL shares STEP's line on purpose: a peer that observes STEP reads CALL next, from the
 * same cache-line transfer. SLEEP is read by every peer on every publish and written only when
 * its owner goes to sleep or wakes, so on a line of its own it stays shared in every cache and
 * the read costs a cache hit.
 *
 * <p>The futex word of STEP is its low 32 bits, which in this big-endian word are the four
 * bytes at {@code STEP_OFFSET + 4} ({@link #STEP_FUTEX_OFFSET}); a sleeper compares them as raw
 * memory, so their byte order does not matter, only that every publish changes them.
 */
final class SegmentDescriptor {

    /** "DSCOMSHM" read as a big-endian long. */
    static final long MAGIC = 0x4453434F4D53484DL;
    /** Bumped whenever an offset or meaning below changes. */
    static final long LAYOUT_VERSION = 4;
    /** READY holds this once the header is complete; a zero-filled or foreign file never does. */
    static final long READY_VALUE = 0x5245414459214F4BL; // "READY!OK"
    /** The byte-order mark as written (native order) and expected. */
    static final long BYTE_ORDER_MARK_VALUE = 0x0102030405060708L;

    /** One control line: two 64-byte cache lines, against adjacent-line prefetch. */
    static final int LINE = 128;

    static final long MAGIC_OFFSET = 0;
    static final long VERSION_OFFSET = 8;
    static final long SEGMENT_BYTES_OFFSET = 16;
    static final long AREA_BYTES_OFFSET = 24;
    static final long PID_OFFSET = 32;
    static final long START_MILLIS_OFFSET = 40;
    static final long UID_OFFSET = 48;
    static final long JOB_HASH_OFFSET = 56;
    static final long GROUP_HASH_OFFSET = 64;
    static final long GROUP_RANK_OFFSET = 72;
    static final long GROUP_SIZE_OFFSET = 80;
    static final long BYTE_ORDER_MARK_OFFSET = 88;
    static final long PID_NAMESPACE_OFFSET = 96;
    static final long READY_OFFSET = 120;

    static final long STEP_OFFSET = LINE;
    /** Call descriptor of the step with parity p starts at CALL_OFFSET + p * CALL_BYTES. */
    static final long CALL_OFFSET = LINE + 8;
    static final int CALL_WORDS = 3;
    static final long CALL_BYTES = CALL_WORDS * 8L;
    static final long HEARTBEAT_OFFSET = 2L * LINE;
    static final long CALLERS_OFFSET = HEARTBEAT_OFFSET + 8;
    static final long STATE_OFFSET = 3L * LINE;
    /**
     * Why a FAILED rank failed: bits 63..32 the stable {@code CommFailure.Kind} code, bits 31..0
     * the world rank it blamed + 1 (0: none). Read only after STATE=FAILED was acquired.
     */
    static final long BLAME_OFFSET = STATE_OFFSET + 8;
    static final long SLEEP_OFFSET = 4L * LINE;
    static final long DATA_OFFSET = 5L * LINE;
    /** The low half of STEP (big-endian: its last four bytes), the word sleepers wait on. */
    static final long STEP_FUTEX_OFFSET = STEP_OFFSET + 4;

    /** CALLERS values; 0 (not yet written) counts as neither. */
    static final long CALLERS_SINGLE = 1;
    static final long CALLERS_MULTI = 2;

    /** STATE values. Zero (a fresh file) reads as OPEN. */
    static final long STATE_OPEN = 0;
    static final long STATE_CLOSED = 1;
    static final long STATE_FAILED = 2;

    /**
     * Smallest data area: reduce-scatter splits an area into one block per rank, and 64 ranks
     * must still get a block of 64 bytes (a whole cache line, a multiple of every element).
     */
    static final long MIN_AREA_BYTES = 4096;

    /** Smallest segment that holds the header, the control lines and two minimal areas. */
    static final long MIN_SEGMENT_BYTES = DATA_OFFSET + 2 * MIN_AREA_BYTES;

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG.withOrder(ByteOrder.BIG_ENDIAN);
    /** Coordinates (MemorySegment, long offset); aligned big-endian long. */
    private static final VarHandle WORD_HANDLE = WORD.varHandle();
    /** Coordinates (MemorySegment, long offset); aligned native int, the futex word. */
    private static final VarHandle FUTEX_WORD_HANDLE = ValueLayout.JAVA_INT.varHandle();

    private SegmentDescriptor() {
    }

    /** Bytes of each of the two data areas of a segment of {@code segmentBytes}. */
    static long areaBytes(long segmentBytes) {
        // 128-byte aligned so that the second area starts on a fresh line pair, like the first.
        return ((segmentBytes - DATA_OFFSET - mailboxBytes(segmentBytes)) / 2) & -(long) LINE;
    }

    /**
     * Bytes of the mailbox region: a sixteenth of what the segment has beyond the smallest one
     * (which keeps exactly its two minimal areas and no mailbox), at most 4 MiB, whole lines. A
     * function of the segment size alone (which every member's header carries and checks), so
     * every member computes the same layout.
     */
    static long mailboxBytes(long segmentBytes) {
        return Math.min(Math.max(0, segmentBytes - MIN_SEGMENT_BYTES) / 16, 4L << 20) & -(long) LINE;
    }

    /** Offset of the mailbox region. */
    static long mailboxOffset(long segmentBytes) {
        return DATA_OFFSET + 2 * areaBytes(segmentBytes);
    }

    /** Bytes of one rank's mailbox block in a group of {@code groupSize}. */
    static long pairBytes(long segmentBytes, int groupSize) {
        return (mailboxBytes(segmentBytes) / groupSize) & -(long) LINE;
    }

    /** Bytes of one of the two payload slots of a mailbox block (0 or negative: too small for any). */
    static long slotBytes(long segmentBytes, int groupSize) {
        return ((pairBytes(segmentBytes, groupSize) - 2L * LINE) / 2) & -64L;
    }

    /** Offset of the mailbox block for group rank {@code q} in a segment. */
    static long pairOffset(long segmentBytes, int groupSize, int q) {
        return mailboxOffset(segmentBytes) + q * pairBytes(segmentBytes, groupSize);
    }

    /** Within a mailbox block: the OUT line's SEQ word. */
    static final long MAIL_SEQ = 0;
    /** Within a mailbox block: the header words of slot k start at MAIL_SLOT_HEADER + 16 k. */
    static final long MAIL_SLOT_HEADER = 8;
    /** Within a mailbox block: the IN line's ACK word. */
    static final long MAIL_ACK = LINE;
    /** Within a mailbox block: the IN line's NACK word. */
    static final long MAIL_NACK = LINE + 8;
    /** Within a mailbox block: the IN line's SLEEP word (the owner sleeps waiting for the block's peer). */
    static final long MAIL_SLEEP = LINE + 16;
    /** The low half of a big-endian word (its last four bytes): the futex word of SEQ and ACK. */
    static final long FUTEX_HALF = 4;

    /** Acquire read of the raw 32-bit futex half of the word at {@code offset}; only ever compared for change. */
    static int futexHalfAcquire(MemorySegment s, long offset) {
        return (int) FUTEX_WORD_HANDLE.getAcquire(s, offset + FUTEX_HALF);
    }

    /** Volatile write of a control word (the StoreLoad half of a sleep handshake). */
    static void setWordVolatile(MemorySegment s, long offset, long value) {
        WORD_HANDLE.setVolatile(s, offset, value);
    }

    /** Within a mailbox block: the first payload slot. */
    static final long MAIL_SLOTS = 2L * LINE;

    /** Offset of data area {@code parity} (0 or 1). */
    static long areaOffset(long areaBytes, int parity) {
        return DATA_OFFSET + parity * areaBytes;
    }

    /** Plain read of a header or control word. */
    static long getWord(MemorySegment s, long offset) {
        return (long) WORD_HANDLE.get(s, offset);
    }

    /** Plain write of a header or control word. */
    static void setWord(MemorySegment s, long offset, long value) {
        WORD_HANDLE.set(s, offset, value);
    }

    /** Acquire read: later reads of this thread see everything written before the matching release. */
    static long getWordAcquire(MemorySegment s, long offset) {
        return (long) WORD_HANDLE.getAcquire(s, offset);
    }

    /** Release write: every earlier write of this thread is visible to an acquire that reads it. */
    static void setWordRelease(MemorySegment s, long offset, long value) {
        WORD_HANDLE.setRelease(s, offset, value);
    }

    static long stepAcquire(MemorySegment s) {
        return getWordAcquire(s, STEP_OFFSET);
    }

    static void stepRelease(MemorySegment s, long step) {
        setWordRelease(s, STEP_OFFSET, step);
    }

    /** The raw futex half of STEP, as an int in native order; only ever compared for change. */
    static int stepFutexWordAcquire(MemorySegment s) {
        return (int) FUTEX_WORD_HANDLE.getAcquire(s, STEP_FUTEX_OFFSET);
    }

    static long sleepAcquire(MemorySegment s) {
        return getWordAcquire(s, SLEEP_OFFSET);
    }

    /**
     * Volatile write: a sleeper's SLEEP store must be visible before it reads its peer's STEP
     * for the last time (the StoreLoad half of the sleeper / publisher handshake).
     */
    static void sleepVolatile(MemorySegment s, long value) {
        WORD_HANDLE.setVolatile(s, SLEEP_OFFSET, value);
    }

    static void sleepRelease(MemorySegment s, long value) {
        setWordRelease(s, SLEEP_OFFSET, value);
    }

    static long stateAcquire(MemorySegment s) {
        return getWordAcquire(s, STATE_OFFSET);
    }

    static void stateRelease(MemorySegment s, long state) {
        setWordRelease(s, STATE_OFFSET, state);
    }

    /** Marks the segment FAILED, first recording why ({@link #BLAME_OFFSET}: kind code and blamed world rank). */
    static void failedRelease(MemorySegment s, int kindCode, int blamedWorldRank) {
        setWord(s, BLAME_OFFSET, ((long) kindCode << 32) | ((blamedWorldRank + 1L) & 0xFFFF_FFFFL));
        stateRelease(s, STATE_FAILED);
    }

    /**
     * The kind code a FAILED segment recorded, or -1 while it is not FAILED; call
     * {@link #blamedWorldRank} after it. The acquire of STATE orders the plain BLAME read after
     * the owner's write.
     */
    static int failedKindAcquire(MemorySegment s) {
        return stateAcquire(s) == STATE_FAILED ? blameKind(s) : -1;
    }

    /** The kind code of a FAILED segment's BLAME word; read only after STATE=FAILED was acquired. */
    static int blameKind(MemorySegment s) {
        return (int) (getWord(s, BLAME_OFFSET) >>> 32);
    }

    /**
     * The world rank a FAILED segment blamed, or -1 when none or out of range (the word is a
     * peer's: only ever used to name a rank, never as an offset or a length).
     */
    static int blamedWorldRank(MemorySegment s) {
        long blamed = (getWord(s, BLAME_OFFSET) & 0xFFFF_FFFFL) - 1;
        return blamed >= 0 && blamed < 65_536 ? (int) blamed : -1;
    }

    static long heartbeatAcquire(MemorySegment s) {
        return getWordAcquire(s, HEARTBEAT_OFFSET);
    }

    static void heartbeatRelease(MemorySegment s, long beats) {
        setWordRelease(s, HEARTBEAT_OFFSET, beats);
    }

    static long callersAcquire(MemorySegment s) {
        return getWordAcquire(s, CALLERS_OFFSET);
    }

    static void callersRelease(MemorySegment s, long callers) {
        setWordRelease(s, CALLERS_OFFSET, callers);
    }

    static long readyAcquire(MemorySegment s) {
        return getWordAcquire(s, READY_OFFSET);
    }

    static void readyRelease(MemorySegment s) {
        setWordRelease(s, READY_OFFSET, READY_VALUE);
    }

    /** Offset of word {@code word} of the call descriptor of steps with parity {@code parity}. */
    static long callOffset(int parity, int word) {
        return CALL_OFFSET + parity * CALL_BYTES + word * 8L;
    }

    /** Native-order write of the byte-order mark. */
    static void setByteOrderMark(MemorySegment s) {
        s.set(ValueLayout.JAVA_LONG, BYTE_ORDER_MARK_OFFSET, BYTE_ORDER_MARK_VALUE);
    }

    /** Native-order read of the byte-order mark. */
    static long getByteOrderMark(MemorySegment s) {
        return s.get(ValueLayout.JAVA_LONG, BYTE_ORDER_MARK_OFFSET);
    }

    /** 64-bit FNV-1a of the UTF-8 bytes: identifies job token and group name in the header. */
    static long fnv1a64(String text) {
        long h = 0xcbf29ce484222325L;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }
}
