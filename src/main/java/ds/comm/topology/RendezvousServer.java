package ds.comm.topology;

import static ds.comm.topology.RendezvousDescriptor.HEADER_BYTES;
import static ds.comm.topology.RendezvousDescriptor.MAX_HELLO_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TOKEN_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TYPE_HELLO;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Rank 0's side of the rendezvous: one thread, one {@link Selector}, non-blocking channels, so
 * that a silent or slow peer can never block it past its deadline.
 *
 * <p>Accepts connections, reads one HELLO from each, and checks that every rank arrives exactly
 * once with the same world size. When all have arrived it closes the listener, draws the job
 * token and sends every rank the same TABLE. On any failure it sends every connected rank an
 * ERROR with the reason before closing, so that all ranks fail with the same explanation.
 * Connections that do not start with the protocol magic (port scanners, health checks) are
 * dropped without failing the job.
 */
final class RendezvousServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(RendezvousServer.class.getName());

    /** How long failure reasons may take to reach the connected ranks before the sockets close. */
    private static final long ERROR_FLUSH_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    private final ServerSocketChannel listener;
    private final Selector selector;
    private final int worldSize;
    private final int maxConnections;
    private final List<Peer> peers = new ArrayList<>();
    private final Peer[] byRank;
    private int arrived;

    /** One accepted connection and its protocol state. */
    private static final class Peer {
        final SocketChannel channel;
        final String remote;
        /** The address of this host that the peer reached: routable from the peer's node. */
        final InetAddress arrivedAt;
        final ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
        ByteBuffer body;
        RankRecord hello;
        ByteBuffer out;
        boolean foreign;

        Peer(SocketChannel channel, String remote, InetAddress arrivedAt) {
            this.channel = channel;
            this.remote = remote;
            this.arrivedAt = arrivedAt;
        }

        String describe() {
            return hello == null ? "connection from " + remote
                    : "rank " + hello.rank() + " (pid " + hello.pid() + " on node " + hello.nodeId() + " from " + remote + ")";
        }
    }

    private RendezvousServer(ServerSocketChannel listener, Selector selector, int worldSize) {
        this.listener = listener;
        this.selector = selector;
        this.worldSize = worldSize;
        this.byRank = new Peer[worldSize];
        // Room for every rank plus a few strays (a rank retrying, a health check) but bounded,
        // so that a flood of connections cannot exhaust file descriptors.
        this.maxConnections = worldSize + 64;
    }

    /**
     * Binds the listener. SO_REUSEADDR lets a job restart on the port of a job that just ended
     * while its connections are still in TIME_WAIT.
     */
    static RendezvousServer open(InetSocketAddress bind, int worldSize) throws IOException {
        ServerSocketChannel ch = ServerSocketChannel.open();
        Selector sel = null;
        try {
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ch.bind(bind, Math.min(worldSize + 16, 4096));
            ch.configureBlocking(false);
            sel = Selector.open();
            ch.register(sel, SelectionKey.OP_ACCEPT);
            return new RendezvousServer(ch, sel, worldSize);
        } catch (IOException | RuntimeException e) {
            ch.close();
            if (sel != null) {
                sel.close();
            }
            throw e;
        }
    }

    /** The port the listener is bound to. */
    int port() {
        return listener.socket().getLocalPort();
    }

    /**
     * Runs the rendezvous to completion. Always closes the listener and every connection.
     *
     * @param arrivalDeadline {@link System#nanoTime()} by which all ranks must have said HELLO
     * @param sendDeadline    by which the TABLE must have reached every rank
     * @throws RendezvousException when it failed; every connected rank has been told why
     */
    void serve(long arrivalDeadline, long sendDeadline) {
        try {
            awaitArrivals(arrivalDeadline);
            listener.close();
            sendTable(sendDeadline);
        } catch (Failure f) {
            abort(f.getMessage());
            throw new RendezvousException(f.getMessage());
        } catch (IOException e) {
            String reason = "rank 0's rendezvous listener failed: " + e;
            abort(reason);
            throw new RendezvousException(reason, e);
        } catch (ClosedSelectorException e) {
            throw new RendezvousException("rank 0's rendezvous was closed before it completed");
        } finally {
            close();
        }
    }

    private void awaitArrivals(long deadline) throws IOException, Failure {
        while (arrived < worldSize) {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new Failure(missingRanks());
            }
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
            var it = selector.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey key = it.next();
                it.remove();
                if (!key.isValid()) {
                    continue;
                }
                if (key.isAcceptable()) {
                    acceptAll();
                } else if (key.isReadable()) {
                    read((Peer) key.attachment(), key);
                }
            }
        }
    }

    private void acceptAll() throws IOException {
        SocketChannel ch;
        while ((ch = listener.accept()) != null) {
            if (peers.size() >= maxConnections) {
                LOG.log(System.Logger.Level.WARNING, "rendezvous: refusing connection from "
                        + ch.getRemoteAddress() + ", already " + peers.size() + " open");
                ch.close();
                continue;
            }
            ch.configureBlocking(false);
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            Peer p = new Peer(ch, String.valueOf(ch.getRemoteAddress()),
                    ((InetSocketAddress) ch.getLocalAddress()).getAddress());
            peers.add(p);
            ch.register(selector, SelectionKey.OP_READ, p);
        }
    }

    private void read(Peer p, SelectionKey key) throws Failure {
        try {
            if (p.hello != null) {
                // A rank that has said HELLO sends nothing more; readable means it hung up.
                int n = p.channel.read(ByteBuffer.allocate(1));
                if (n < 0) {
                    throw new Failure(p.describe() + " disconnected before all " + worldSize
                            + " ranks arrived (it gave up or died); " + missingRanks());
                }
                throw new Failure(p.describe() + " sent data after its HELLO: protocol error");
            }
            if (p.body == null) { // still in the header (a HELLO may arrive in any number of pieces)
                if (p.channel.read(p.header) < 0) {
                    drop(p, key, "closed before sending a HELLO");
                    return;
                }
                if (p.header.hasRemaining()) {
                    return;
                }
                RendezvousCodec.Header h = RendezvousCodec.header(p.header.flip(), MAX_HELLO_BYTES);
                if (h.type() != TYPE_HELLO) {
                    throw new Failure(p.describe() + " sent frame type " + h.type() + " instead of HELLO");
                }
                p.body = ByteBuffer.allocate(h.bodyLength());
            }
            if (p.channel.read(p.body) < 0) {
                drop(p, key, "closed in the middle of its HELLO");
                return;
            }
            if (!p.body.hasRemaining()) {
                arrive(p, RendezvousCodec.decodeHello(p.body.flip()));
            }
        } catch (RendezvousCodec.MalformedFrameException e) {
            if (e.foreign) {
                p.foreign = true;
                drop(p, key, e.getMessage());
                return;
            }
            throw new Failure(p.describe() + ": " + e.getMessage());
        } catch (IOException e) {
            if (p.hello != null) {
                throw new Failure(p.describe() + " lost its connection before all " + worldSize + " ranks arrived ("
                        + e.getMessage() + "); " + missingRanks());
            }
            drop(p, key, e.toString());
        }
    }

    private void arrive(Peer p, RendezvousCodec.Hello hello) throws Failure {
        RankRecord rec = hello.record();
        if (hello.worldSize() != worldSize) {
            throw new Failure("rank " + rec.rank() + " (pid " + rec.pid() + " on node " + rec.nodeId() + " from "
                    + p.remote + ") arrived with world size " + hello.worldSize() + " but rank 0 has world size "
                    + worldSize + ": the ranks disagree on the world size, or two jobs share MASTER_ADDR:MASTER_PORT");
        }
        Peer first = byRank[rec.rank()];
        if (first != null) {
            throw new Failure("rank " + rec.rank() + " arrived twice: first " + first.describe() + ", then pid "
                    + rec.pid() + " on node " + rec.nodeId() + " from " + p.remote
                    + ": two processes claim the same rank (check the launcher's rank variables,"
                    + " or two jobs share MASTER_ADDR:MASTER_PORT)");
        }
        p.hello = rec;
        byRank[rec.rank()] = p;
        arrived++;
    }

    private void sendTable(long deadline) throws IOException, Failure {
        byte[] token = new byte[TOKEN_BYTES];
        new SecureRandom().nextBytes(token);
        List<RankRecord> records = routableRecords();
        ByteBuffer frame = RendezvousCodec.table(token, records);
        for (Peer p : peers) {
            p.out = p.hello == null ? null : frame.duplicate();
        }
        if (!flush(deadline)) {
            List<Integer> late = new ArrayList<>();
            for (Peer p : byRank) {
                if (p.out != null && p.out.hasRemaining()) {
                    late.add(p.hello.rank());
                }
            }
            throw new Failure("rank 0 could not deliver the rank table to ranks " + late + " before the deadline");
        }
    }

    /**
     * The table, with loopback ring addresses made reachable from other nodes. Ranks on rank 0's
     * node reach rank 0 through loopback when MASTER_ADDR resolves to a loopback address there
     * (127.0.0.1, or a host name that /etc/hosts maps to 127.0.1.1); ranks on other nodes cannot
     * use such an address. The address at which those remote ranks reached rank 0 is one of this
     * node's addresses that they can route to, so it replaces the loopback address of every rank
     * on rank 0's node. A job on one node keeps its loopback addresses.
     */
    private List<RankRecord> routableRecords() {
        InetAddress routable = null;
        for (Peer p : byRank) {
            if (!p.arrivedAt.isLoopbackAddress() && !p.arrivedAt.isAnyLocalAddress()) {
                routable = p.arrivedAt;
                break;
            }
        }
        String rootNode = byRank[0].hello.nodeId();
        List<RankRecord> records = new ArrayList<>(worldSize);
        for (Peer p : byRank) {
            RankRecord r = p.hello;
            if (routable != null && r.ringAddress().getAddress().isLoopbackAddress() && r.nodeId().equals(rootNode)) {
                r = new RankRecord(r.rank(), r.nodeId(), new InetSocketAddress(routable, r.ringAddress().getPort()),
                        r.pid(), r.byteOrder(), r.localSizeHint());
            }
            records.add(r);
        }
        return records;
    }

    /** Writes every peer's pending output; false when the deadline passed first. */
    private boolean flush(long deadline) throws IOException {
        while (true) {
            boolean pending = false;
            for (Peer p : peers) {
                if (p.out == null || !p.out.hasRemaining() || !p.channel.isOpen()) {
                    SelectionKey idle = p.channel.keyFor(selector);
                    if (idle != null && idle.isValid()) {
                        idle.interestOps(0);
                    }
                    continue;
                }
                try {
                    p.channel.write(p.out);
                } catch (IOException e) {
                    // The peer went away: nothing more can be told to it.
                    p.out = null;
                    continue;
                }
                SelectionKey key = p.channel.keyFor(selector);
                boolean more = p.out.hasRemaining();
                pending |= more;
                if (key != null && key.isValid()) {
                    // Only writability matters now; a readable peer must not wake the loop.
                    key.interestOps(more ? SelectionKey.OP_WRITE : 0);
                }
            }
            if (!pending) {
                return true;
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return false;
            }
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
            selector.selectedKeys().clear();
        }
    }

    /** Tells every connected ds-comm peer why the rendezvous failed, within a short bound. */
    private void abort(String reason) {
        LOG.log(System.Logger.Level.DEBUG, "rendezvous failed: " + reason);
        // No new connections while the reason goes out; a pending accept would spin the selector.
        closeQuietly(listener);
        ByteBuffer frame = RendezvousCodec.error(reason);
        for (Peer p : peers) {
            p.out = p.foreign ? null : frame.duplicate();
        }
        try {
            flush(System.nanoTime() + ERROR_FLUSH_NANOS);
        } catch (IOException | RuntimeException e) {
            // Best effort: ranks that miss the reason fail at their own deadline.
        }
    }

    private void drop(Peer p, SelectionKey key, String why) {
        LOG.log(p.foreign ? System.Logger.Level.WARNING : System.Logger.Level.DEBUG,
                "rendezvous: dropping " + p.describe() + ": " + why);
        key.cancel();
        peers.remove(p);
        closeQuietly(p.channel);
    }

    private String missingRanks() {
        List<Integer> missing = new ArrayList<>();
        for (int r = 0; r < worldSize && missing.size() < 32; r++) {
            if (byRank[r] == null) {
                missing.add(r);
            }
        }
        int total = worldSize - arrived;
        return "ranks " + missing + (total > missing.size() ? " and " + (total - missing.size()) + " more" : "")
                + " of " + worldSize + " never arrived at rank 0's rendezvous (" + arrived + " did): they did not start,"
                + " crashed, or cannot reach MASTER_ADDR:MASTER_PORT";
    }

    /** Closes the listener, the selector and every connection; idempotent. */
    @Override
    public void close() {
        closeQuietly(listener);
        for (Peer p : peers) {
            closeQuietly(p.channel);
        }
        try {
            selector.close();
        } catch (IOException e) {
            // nothing left to release
        }
    }

    private static void closeQuietly(Channel c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing is best effort
        }
    }

    /** Internal signal: the rendezvous cannot succeed; the message is the reason for every rank. */
    private static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message, null, false, false);
        }
    }
}
