package ds.comm.ring;

import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.PointToPoint;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * Point-to-point transfers of a ring group: one TCP connection per ordered pair (sender,
 * receiver), opened on demand by the sender's first send to that receiver and claimed by the
 * receiver's first recv from that sender, through the processes' {@link RingEndpoint}s with
 * the same authenticated handshake as the ring's own connections
 * ({@link HandshakeDescriptor#PURPOSE_PEER}).
 *
 * <pre>
 * MESSAGE, sender -> receiver:  magic "DSPM" (int) | zero (int) | bytes (long) | payload (bytes, native order)
 * REPLY,   receiver -> sender:  magic "DSPR" (int) | status (int: 0 taken, 1 size mismatch) | receiver's bytes (long)
 * </pre>
 * Headers are big-endian. The receiver checks the header first; a size other than its buffer's
 * gets a mismatch REPLY at once (no payload byte is stored), and both sides fail naming both
 * ranks and both sizes. Otherwise it reads the payload and replies "taken"; the sender returns
 * on that reply, so sends are synchronous like the shared-memory ones, and a send nobody
 * receives times out. While it writes a large payload the sender also watches for an early
 * REPLY, so a mismatch cannot leave it blocked on a full socket.
 *
 * <p>A message of at most {@link #EAGER_BYTES} travels with its header: one write of header and
 * payload copied behind it, one read of both on the receiver (which knows the size to expect,
 * its own buffer's, and never reads past it), instead of two of each: on loopback a 4 KiB
 * message costs about as much per system call as per byte. Larger native segments are written
 * and read directly through cached views; heap segments go through one staging chunk. After the
 * first transfer of a pair nothing is allocated.
 */
public final class PeerLinks implements AutoCloseable, ds.comm.spi.PointToPoint {

    static final int MESSAGE_MAGIC = 0x4453504D;
    static final int REPLY_MAGIC = 0x44535052;
    static final int HEADER_BYTES = 16;
    /** Largest payload sent and read together with its header. */
    static final int EAGER_BYTES = FramePump.EAGER_PAYLOAD_BYTES;
    static final int STATUS_TAKEN = 0;
    static final int STATUS_MISMATCH = 1;
    /** Longest single select, so deadlines are checked. */
    private static final long MAX_BLOCK_MILLIS = 100;

    private final GroupSpec group;
    private final RingEndpoint endpoint;
    private final List<InetSocketAddress> addresses;
    private final long timeoutNanos;
    private final IdleStrategy idle;
    private final int rank;
    private final Link[] out;
    private final Link[] in;
    /** A message header and, for messages of at most {@link #EAGER_BYTES}, the payload behind it. */
    private final ByteBuffer header = ByteBuffer.allocateDirect(HEADER_BYTES + EAGER_BYTES).order(ByteOrder.BIG_ENDIAN);
    private final MemorySegment headerSegment = MemorySegment.ofBuffer(header);
    private final ByteBuffer reply = ByteBuffer.allocateDirect(HEADER_BYTES).order(ByteOrder.BIG_ENDIAN);
    private final int stagingBytes;
    /** One chunk for heap segments, allocated at the first one (most callers pass native memory). */
    private ByteBuffer staging;
    private MemorySegment stagingSegment;
    private final SegmentView view = new SegmentView();
    /** The transfer in progress (one at a time: the buffers above are shared), for {@link #op()}. */
    private boolean callSends;
    private long callBytes;
    private int callPeer;
    private volatile boolean closed;
    /** Asked while waiting for a peer that has not connected: why that world rank is known lost, or null. */
    private java.util.function.IntFunction<String> lossOf = worldRank -> null;

    /** One connection and its own selector (so a wait watches exactly its channel). */
    private static final class Link {
        final SocketChannel channel;
        final Selector selector;
        final SelectionKey key;

        Link(SocketChannel channel) throws IOException {
            this.channel = channel;
            channel.configureBlocking(false);
            this.selector = Selector.open();
            this.key = channel.register(selector, 0);
        }

        void close() {
            RingEndpoint.closeQuietly(selector);
            RingEndpoint.closeQuietly(channel);
        }
    }

    /**
     * Connections are opened lazily, on each pair's first transfer.
     *
     * @param group        the group; its name and job token identify its connections at the endpoints
     * @param endpoint     this process's listener, through which senders connect to this rank
     * @param addresses    every group rank's advertised endpoint address
     * @param timeoutNanos bound of every transfer
     * @param idle         how transfers wait (spin, yield, then block in a selector)
     * @param stagingBytes chunk through which heap segments travel
     */
    public PeerLinks(GroupSpec group, RingEndpoint endpoint, List<InetSocketAddress> addresses, long timeoutNanos,
                     IdleStrategy idle, int stagingBytes) {
        this.group = group;
        this.endpoint = endpoint;
        this.addresses = List.copyOf(addresses);
        this.timeoutNanos = timeoutNanos;
        this.idle = idle;
        this.rank = group.myIndex();
        this.out = new Link[group.size()];
        this.in = new Link[group.size()];
        this.stagingBytes = stagingBytes;
        endpoint.adopt(group.jobToken(), group.myWorldRank());
    }

    /**
     * Installs what a receiver asks, every {@link #LIVENESS_SLICE_NANOS} while the sender has not
     * connected, about the sender's liveness (the ring's heartbeat knows its neighbours): a
     * sender that died before connecting is then reported lost instead of timing out.
     */
    void watchLiveness(java.util.function.IntFunction<String> lossOfWorldRank) {
        this.lossOf = lossOfWorldRank;
    }

    /** How often a receiver waiting for a connection asks about the sender's liveness. */
    static final long LIVENESS_SLICE_NANOS = 100_000_000L;

    /**
     * Notes the transfer in progress for failure messages, which {@link #op()} builds: a call
     * that succeeds builds no text (the description was a string concatenation per call).
     */
    private void beginCall(boolean sends, long bytes, int peer) {
        callSends = sends;
        callBytes = bytes;
        callPeer = peer;
    }

    /** The transfer in progress, e.g. "send(4096 bytes, group rank 0 -> 1)"; only for failures. */
    private String op() {
        return callSends ? PointToPoint.describe(true, callBytes, rank, callPeer)
                : PointToPoint.describe(false, callBytes, callPeer, rank);
    }

    /** Sends {@code buf} to group rank {@code q}; see the class comment. */
    @Override
    public void send(MemorySegment buf, int q) {
        long bytes = buf.byteSize();
        long deadline = System.nanoTime() + timeoutNanos;
        beginCall(true, bytes, q);
        Link link = out[q];
        if (link == null) link = out[q] = connect(q, deadline);
        try {
            header.clear();
            header.putInt(0, MESSAGE_MAGIC).putInt(4, 0).putLong(8, bytes);
            reply.clear();
            if (bytes <= EAGER_BYTES) {
                header.limit(HEADER_BYTES + (int) bytes);
                MemorySegment.copy(buf, 0, headerSegment, HEADER_BYTES, bytes);
                writeFully(link, header, bytes, q, deadline, true);
            } else {
                header.limit(HEADER_BYTES);
                writeFully(link, header, bytes, q, deadline, true);
                writePayload(link, buf, bytes, q, deadline);
            }
            readFully(link, reply, q, deadline, false);
            checkReply(q, bytes);
        } catch (IOException e) {
            throw lost(q, e);
        }
    }

    /** A payload too large to travel with its header: straight from native memory, else through staging. */
    private void writePayload(Link link, MemorySegment buf, long bytes, int q, long deadline)
            throws IOException {
        if (view.bind(buf)) {
            writeFully(link, view.slice(0, bytes), bytes, q, deadline, true);
        } else {
            stage();
            long off = 0;
            while (off < bytes) {
                int len = (int) Math.min(staging.capacity(), bytes - off);
                MemorySegment.copy(buf, off, stagingSegment, 0, len);
                staging.clear().limit(len);
                writeFully(link, staging, bytes, q, deadline, true);
                off += len;
            }
        }
    }

    /** Receives the next message from group rank {@code q} into {@code buf}; see the class comment. */
    @Override
    public void recv(MemorySegment buf, int q) {
        long bytes = buf.byteSize();
        long deadline = System.nanoTime() + timeoutNanos;
        beginCall(false, bytes, q);
        Link link = in[q];
        if (link == null) link = in[q] = claim(q, deadline);
        try {
            // Header and, for a small buffer, as much of the payload as it expects: never more,
            // so nothing of a later message can be taken (none comes before this rank's reply).
            header.clear().limit(HEADER_BYTES + FramePump.eagerPayload(bytes));
            readAtLeast(link, header, HEADER_BYTES, q, deadline, true);
            int magic = header.getInt(0);
            long total = header.getLong(8);
            if (magic != MESSAGE_MAGIC) {
                throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(), op(), "group rank " + q
                        + " sent a message header with magic 0x" + Integer.toHexString(magic) + ": the pair's connection is out of step", null);
            }
            if (total != bytes) {
                reply.clear();
                reply.putInt(0, REPLY_MAGIC).putInt(4, STATUS_MISMATCH).putLong(8, bytes);
                try {
                    writeFully(link, reply, bytes, q, System.nanoTime() + Math.min(timeoutNanos, 1_000_000_000L), false);
                } catch (IOException | CommFailure ignored) {
                    // Best effort: the sender times out or sees the close if the reply is lost.
                }
                throw new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(q), group.name(), op(), "group rank " + q
                        + " (world " + group.worldRank(q) + ") sent " + (total >= 0 ? total + " bytes" : "a corrupt size")
                        + " but group rank " + rank + " (world " + group.myWorldRank() + ") posted a recv of " + bytes + " bytes", null);
            }
            if (bytes <= EAGER_BYTES) {
                readFully(link, header, q, deadline, true);
                MemorySegment.copy(headerSegment, HEADER_BYTES, buf, 0, bytes);
            } else {
                readPayload(link, buf, bytes, q, deadline);
            }
            reply.clear();
            reply.putInt(0, REPLY_MAGIC).putInt(4, STATUS_TAKEN).putLong(8, bytes);
            writeFully(link, reply, bytes, q, deadline, false);
        } catch (IOException e) {
            throw lost(q, e);
        }
    }

    /** A payload too large to travel with its header: straight into native memory, else through staging. */
    private void readPayload(Link link, MemorySegment buf, long bytes, int q, long deadline)
            throws IOException {
        if (view.bind(buf)) {
            readFully(link, view.slice(0, bytes), q, deadline, true);
        } else {
            stage();
            long off = 0;
            while (off < bytes) {
                int len = (int) Math.min(staging.capacity(), bytes - off);
                staging.clear().limit(len);
                readFully(link, staging, q, deadline, true);
                MemorySegment.copy(stagingSegment, 0, buf, off, len);
                off += len;
            }
        }
    }

    private void stage() {
        if (staging == null) {
            staging = ByteBuffer.allocateDirect(stagingBytes);
            stagingSegment = MemorySegment.ofBuffer(staging);
        }
    }

    private void checkReply(int q, long bytes) {
        int magic = reply.getInt(0);
        int status = reply.getInt(4);
        long theirs = reply.getLong(8);
        if (magic != REPLY_MAGIC || (status != STATUS_TAKEN && status != STATUS_MISMATCH)) {
            throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(), op(), "group rank " + q
                    + " answered with a malformed reply: the pair's connection is out of step", null);
        }
        if (status == STATUS_MISMATCH || theirs != bytes) {
            throw new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(q), group.name(), op(), "group rank " + rank
                    + " (world " + group.myWorldRank() + ") sent " + bytes + " bytes but group rank " + q + " (world "
                    + group.worldRank(q) + ") posted a recv of " + (theirs >= 0 ? theirs + " bytes" : "a corrupt size"), null);
        }
    }

    /**
     * Writes all of {@code b}. While the channel is full it also reads: a REPLY that arrives
     * early is the receiver's mismatch, which ends the send.
     */
    private void writeFully(Link link, ByteBuffer b, long bytes, int q, long deadline, boolean sending)
            throws IOException {
        idle.reset();
        while (b.hasRemaining()) {
            if (link.channel.write(b) > 0) {
                idle.reset();
                continue;
            }
            if (sending) {
                if (reply.hasRemaining() && link.channel.read(reply) < 0) throw lost(q, null);
                if (!reply.hasRemaining()) {
                    checkReply(q, bytes); // a mismatch throws
                    throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(), op(), "group rank "
                            + q + " acknowledged a message it cannot have read yet: the pair's connection is out of step", null);
                }
            }
            waitFor(link, sending ? SelectionKey.OP_WRITE | SelectionKey.OP_READ : SelectionKey.OP_WRITE, q,
                    deadline, sending);
        }
    }

    /**
     * Reads into {@code b} until at least {@code position} bytes are there (more if they come,
     * up to its limit). {@code receiving}: this rank waits for a message (else for a reply).
     */
    private void readAtLeast(Link link, ByteBuffer b, int position, int q, long deadline, boolean receiving)
            throws IOException {
        idle.reset();
        while (b.position() < position) {
            int n = link.channel.read(b);
            if (n < 0) throw lost(q, null);
            if (n > 0) {
                idle.reset();
                continue;
            }
            waitFor(link, SelectionKey.OP_READ, q, deadline, !receiving);
        }
        idle.waitEnded();
    }

    private void readFully(Link link, ByteBuffer b, int q, long deadline, boolean receiving) throws IOException {
        readAtLeast(link, b, b.limit(), q, deadline, receiving);
    }

    private void waitFor(Link link, int ops, int q, long deadline, boolean sending) throws IOException {
        long now = System.nanoTime();
        if (now - deadline > 0) {
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(q), group.name(), op(), "group rank " + rank
                    + " (world " + group.myWorldRank() + ") waited " + timeoutNanos / 1_000_000 + " ms for group rank " + q
                    + " (world " + group.worldRank(q) + ") to " + (sending ? "receive the message" : "send a message"), null);
        }
        if (closed) throw new CommFailure(CommFailure.Kind.ABORTED, -1, group.name(), op(), "the communicator was closed", null);
        long block = idle.idleOrBlock();
        if (block > 0) {
            link.key.interestOps(ops);
            long millis = Math.max(1, Math.min(MAX_BLOCK_MILLIS, Math.min(block / 1_000_000, (deadline - now) / 1_000_000)));
            link.selector.select(millis);
            link.selector.selectedKeys().clear();
            link.key.interestOps(0);
        }
    }

    private Link connect(int q, long deadline) {
        ByteBuffer hello = HandshakeDescriptor.hello(group.jobToken(), group.name(), rank, group.myWorldRank(),
                group.worldRank(q), group.size(), HandshakeDescriptor.PURPOSE_PEER);
        SocketChannel ch = null;
        try {
            ch = RingConnector.connect(addresses.get(q), hello, deadline, endpoint.secret());
            return new Link(ch);
        } catch (IOException e) {
            RingEndpoint.closeQuietly(ch);
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(q), group.name(), op(), "group rank " + rank
                    + " (world " + group.myWorldRank() + ") cannot connect to group rank " + q + " (world "
                    + group.worldRank(q) + ") at " + addresses.get(q) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            RingEndpoint.closeQuietly(ch);
            throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(), op(), "interrupted", e);
        }
    }

    private Link claim(int q, long deadline) {
        RingEndpoint.Inbound inbound;
        try {
            while (true) {
                long slice = Math.min(deadline - System.nanoTime(), LIVENESS_SLICE_NANOS);
                inbound = endpoint.claim(group.jobToken(), group.name(), group.worldRank(q), group.myWorldRank(),
                        HandshakeDescriptor.PURPOSE_PEER, System.nanoTime() + Math.max(0, slice));
                if (inbound != null || System.nanoTime() - deadline >= 0) break;
                if (closed) throw new CommFailure(CommFailure.Kind.ABORTED, -1, group.name(), op(), "the communicator was closed", null);
                String loss = lossOf.apply(group.worldRank(q));
                if (loss != null) {
                    throw new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(q), group.name(), op(), "group rank " + q
                            + " (world " + group.worldRank(q) + ") was lost before it connected to group rank " + rank
                            + " (world " + group.myWorldRank() + "): " + loss, null);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommFailure(CommFailure.Kind.ABORTED, group.worldRank(q), group.name(), op(), "interrupted", e);
        }
        if (inbound == null) {
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(q), group.name(), op(), "group rank " + rank
                    + " (world " + group.myWorldRank() + ") waited " + timeoutNanos / 1_000_000 + " ms for group rank " + q
                    + " (world " + group.worldRank(q) + ") to send a message (it never connected)", null);
        }
        if (inbound.senderGroupRank() != q || inbound.groupSize() != group.size()) {
            RingEndpoint.closeQuietly(inbound.channel());
            throw new CommFailure(CommFailure.Kind.SETUP, group.worldRank(q), group.name(), op(), "the connection from world rank "
                    + group.worldRank(q) + " claims group rank " + inbound.senderGroupRank() + " of " + inbound.groupSize()
                    + ", expected " + q + " of " + group.size(), null);
        }
        try {
            return new Link(inbound.channel());
        } catch (IOException e) {
            RingEndpoint.closeQuietly(inbound.channel());
            throw new CommFailure(CommFailure.Kind.SETUP, group.worldRank(q), group.name(), op(), "cannot watch the connection: "
                    + e.getMessage(), e);
        }
    }

    private CommFailure lost(int q, IOException e) {
        return new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(q), group.name(), op(), "the connection between group rank "
                + rank + " (world " + group.myWorldRank() + ") and group rank " + q + " (world " + group.worldRank(q) + ") "
                + (e == null ? "was closed by the peer" : "failed: " + e.getMessage()), e);
    }

    /** Closes every connection; a transfer in progress fails. Idempotent. */
    @Override
    public void close() {
        closed = true;
        view.forget();
        for (int q = 0; q < out.length; q++) {
            if (out[q] != null) out[q].close();
            if (in[q] != null) in[q].close();
        }
    }
}
