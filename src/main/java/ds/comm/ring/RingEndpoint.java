package ds.comm.ring;

import ds.comm.spi.CommFailure;
import ds.comm.topology.JobSecret;
import ds.comm.topology.PeerCheck;
import ds.comm.topology.SocketOwner;
import ds.comm.topology.WarningThrottle;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The one TCP listener of a process for ring connections. Bound before rendezvous (to the
 * wildcard address, on an ephemeral port) so that its port can be advertised to the other ranks.
 *
 * <p>A daemon thread accepts connections and drives their handshakes with a selector, each
 * against its own deadline, so a silent or slow client cannot hold up the others. A connection
 * whose HELLO ({@link HandshakeDescriptor}) is malformed, late, or for another job or process is
 * closed and logged through {@link System.Logger}; the job carries on. An accepted connection
 * waits, keyed by (job, group, sender, receiver, purpose: data or heartbeat), until the
 * {@link RingCollective} of its group claims it, so the world group and its split sub-groups
 * share the listener and may be opened in any interleaving.
 *
 * <p><b>Strangers and floods.</b> A connection from a process of another user on this node is
 * closed at accept ({@link PeerCheck}), whatever it would have sent. Handshakes in progress are
 * bounded per source address and in total; at either bound the oldest is closed to make room
 * (its connector, if genuine, retries), so a flood of slow connections delays a genuine one
 * at most by a retry and never until its deadline. Warnings about refused connections go through
 * a {@link WarningThrottle}: a few lines per period and a summary.
 */
public final class RingEndpoint implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(RingEndpoint.class.getName());

    /** Default bound on one inbound handshake. */
    public static final long DEFAULT_HANDSHAKE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** Handshakes in progress at once; a new connection beyond it evicts the oldest. */
    static final int MAX_PENDING_HANDSHAKES = 256;
    /**
     * Handshakes in progress from one source address that are not proven this user's; a new one
     * beyond it evicts that source's oldest.
     */
    static final int MAX_PENDING_PER_SOURCE = 32;
    /** Accepted connections waiting for their group; bounds what a flood of valid HELLOs can hold. */
    static final int MAX_PARKED = 1024;

    /** Identity of an accepted connection; purpose tells a group's data and heartbeat connections apart. */
    private record Route(String jobToken, String group, int senderWorldRank, int receiverWorldRank, short purpose) {
        /** Without the job token: segment names are derived from it, and log lines travel. */
        @Override
        public String toString() {
            return (purpose == HandshakeDescriptor.PURPOSE_HEARTBEAT ? "heartbeat " : "") + "group " + group
                    + " world rank " + senderWorldRank + " -> " + receiverWorldRank;
        }
    }

    /** An accepted connection and what its HELLO claimed beyond the route. */
    record Inbound(SocketChannel channel, int senderGroupRank, int groupSize) {
    }

    private final ServerSocketChannel server;
    private final Selector selector;
    private final long handshakeTimeoutNanos;
    private final JobSecret secret;
    private final int port;
    private final Thread acceptor;
    private volatile boolean closed;
    private final WarningThrottle warnings;

    /** Guards parked, ownerToken and ownerWorldRank; waited on by claimers. */
    private final Object lock = new Object();
    private final Map<Route, Inbound> parked = new HashMap<>();
    private String ownerToken;
    private int ownerWorldRank = -1;

    private RingEndpoint(ServerSocketChannel server, Selector selector, long handshakeTimeoutNanos, JobSecret secret)
            throws IOException {
        this.server = server;
        this.selector = selector;
        this.handshakeTimeoutNanos = handshakeTimeoutNanos;
        this.secret = secret;
        this.port = ((InetSocketAddress) server.getLocalAddress()).getPort();
        this.acceptor = Thread.ofPlatform().daemon().name("ds-comm-ring-listener-" + port).unstarted(this::acceptLoop);
        this.warnings = new WarningThrottle(LOG, "ring listener on port " + port);
    }

    /**
     * Binds a listener to the wildcard address on an ephemeral port, with the default handshake bound.
     *
     * @return the listening endpoint
     */
    public static RingEndpoint bind() {
        return bind(DEFAULT_HANDSHAKE_TIMEOUT_NANOS);
    }

    /**
     * Binds a listener to the wildcard address on an ephemeral port.
     *
     * @param handshakeTimeoutNanos a connection that has not completed its HELLO within this is closed
     * @return the listening endpoint
     */
    public static RingEndpoint bind(long handshakeTimeoutNanos) {
        return bind(new InetSocketAddress(0), handshakeTimeoutNanos, JobSecret.unauthenticated());
    }

    /**
     * Binds a listener to the wildcard address on an ephemeral port, authenticating every
     * connection (and this side of it) with {@code secret}.
     *
     * @param secret the job's secret, the same on every rank
     * @return the listening endpoint
     */
    public static RingEndpoint bind(JobSecret secret) {
        return bind(new InetSocketAddress(0), DEFAULT_HANDSHAKE_TIMEOUT_NANOS, secret);
    }

    /**
     * Binds a listener to {@code address}.
     *
     * @param address               where to listen; port 0 for an ephemeral port
     * @param handshakeTimeoutNanos a connection that has not completed its handshake within this is closed
     * @param secret                the job's secret: connections must prove it, and so does this side
     * @return the listening endpoint
     */
    public static RingEndpoint bind(SocketAddress address, long handshakeTimeoutNanos, JobSecret secret) {
        java.util.Objects.requireNonNull(secret, "secret");
        if (handshakeTimeoutNanos <= 0) {
            throw new IllegalArgumentException("handshake timeout must be positive: " + handshakeTimeoutNanos);
        }
        ServerSocketChannel server = null;
        Selector selector = null;
        try {
            server = ServerSocketChannel.open();
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(address, 512);
            server.configureBlocking(false);
            selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            RingEndpoint endpoint = new RingEndpoint(server, selector, handshakeTimeoutNanos, secret);
            endpoint.acceptor.start();
            return endpoint;
        } catch (IOException e) {
            closeQuietly(server);
            closeQuietly(selector);
            throw new CommFailure(CommFailure.Kind.SETUP, -1, "-", "ring.bind", "cannot listen on " + address + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * The port the listener is bound to, to advertise at rendezvous.
     *
     * @return the bound port
     */
    public int port() {
        return port;
    }

    /** The secret both ends of every connection of this endpoint's process prove. */
    JobSecret secret() {
        return secret;
    }

    /**
     * Declares which job and world rank this endpoint serves; from then on HELLOs for anything
     * else are rejected. Called by the first {@link RingCollective#open}; idempotent.
     *
     * @throws IllegalStateException if the endpoint already serves another job or rank
     */
    void adopt(String jobToken, int worldRank) {
        synchronized (lock) {
            if (ownerToken == null) {
                ownerToken = jobToken;
                ownerWorldRank = worldRank;
                for (Iterator<Map.Entry<Route, Inbound>> it = parked.entrySet().iterator(); it.hasNext(); ) {
                    Map.Entry<Route, Inbound> e = it.next();
                    if (!e.getKey().jobToken().equals(jobToken) || e.getKey().receiverWorldRank() != worldRank) {
                        it.remove();
                        // Our token stays out of the log: segment names are derived from it.
                        drop(e.getValue().channel(), "connection from world rank " + e.getKey().senderWorldRank()
                                + " (group " + e.getKey().group() + ") is not for this job's world rank " + worldRank);
                    }
                }
                // Handshakes admitted before the owner was known are re-checked by the listener.
                selector.wakeup();
            } else if (!ownerToken.equals(jobToken) || ownerWorldRank != worldRank) {
                throw new IllegalStateException("ring endpoint on port " + port + " serves job " + ownerToken
                        + " world rank " + ownerWorldRank + ", not job " + jobToken + " world rank " + worldRank);
            }
        }
    }

    /** {@link #claim(String, String, int, int, short, long)} of a data connection. */
    Inbound claim(String jobToken, String group, int senderWorldRank, int receiverWorldRank, long deadline)
            throws InterruptedException {
        return claim(jobToken, group, senderWorldRank, receiverWorldRank, HandshakeDescriptor.PURPOSE_DATA, deadline);
    }

    /**
     * Waits until the connection of {@code purpose} from {@code senderWorldRank} for {@code group}
     * has completed its handshake and hands it over, or returns null once {@code deadline}
     * (nanoTime) passed.
     */
    Inbound claim(String jobToken, String group, int senderWorldRank, int receiverWorldRank, short purpose,
                  long deadline) throws InterruptedException {
        Route route = new Route(jobToken, group, senderWorldRank, receiverWorldRank, purpose);
        synchronized (lock) {
            while (true) {
                Inbound in = parked.remove(route);
                if (in != null) {
                    return in;
                }
                long remaining = deadline - System.nanoTime();
                if (closed || remaining <= 0) {
                    return null;
                }
                TimeUnit.NANOSECONDS.timedWait(lock, remaining);
            }
        }
    }

    /**
     * The connection of {@code purpose} from {@code senderWorldRank} for {@code group} if its
     * handshake has completed, else null at once (the direct links of {@link MeshLinks} are
     * claimed this way, from inside a call that must also watch its other connections).
     */
    Inbound poll(String jobToken, String group, int senderWorldRank, int receiverWorldRank, short purpose) {
        Route route = new Route(jobToken, group, senderWorldRank, receiverWorldRank, purpose);
        synchronized (lock) {
            return parked.remove(route);
        }
    }

    /** Stops listening and closes every connection no group has claimed yet; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        stopSelectorThread(selector, acceptor, TimeUnit.SECONDS.toMillis(5));
        synchronized (lock) {
            for (Inbound in : parked.values()) {
                closeQuietly(in.channel());
            }
            parked.clear();
            lock.notifyAll();
        }
    }

    @Override
    public String toString() {
        return "RingEndpoint[port " + port + (closed ? ", closed]" : "]");
    }

    // ---------------------------------------------------------------- listener thread

    private void acceptLoop() {
        List<InboundHandshake> pending = new ArrayList<>();
        boolean flush = false;
        try {
            while (!closed) {
                long now = System.nanoTime();
                long nextDeadline = Long.MAX_VALUE;
                for (Iterator<InboundHandshake> it = pending.iterator(); it.hasNext(); ) {
                    InboundHandshake hs = it.next();
                    String refusal;
                    if (now - hs.deadline >= 0) {
                        it.remove();
                        reject(hs, "handshake not completed within " + TimeUnit.NANOSECONDS.toMillis(handshakeTimeoutNanos)
                                + " ms");
                        flush = true;
                    } else if (hs.state() == InboundHandshake.State.READ_RESPONSE && (refusal = admission(hs)) != null) {
                        // Admitted before this endpoint knew its job; it is not for this job.
                        it.remove();
                        reject(hs, refusal);
                        flush = true;
                    } else {
                        nextDeadline = Math.min(nextDeadline, hs.deadline - now);
                    }
                }
                if (flush) {
                    // Deregisters cancelled keys now: a closed channel's socket is only released
                    // once its key left the selector, and a peer must see that close promptly.
                    selector.selectNow();
                    flush = false;
                } else if (nextDeadline == Long.MAX_VALUE) {
                    selector.select();
                } else {
                    selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextDeadline) + 1));
                }
                for (Iterator<SelectionKey> it = selector.selectedKeys().iterator(); it.hasNext(); ) {
                    SelectionKey key = it.next();
                    it.remove();
                    if (!key.isValid()) {
                        continue;
                    }
                    if (key.isAcceptable()) {
                        acceptAll(pending);
                    } else {
                        flush |= step(key, (InboundHandshake) key.attachment(), pending);
                    }
                }
                warnings.tick();
            }
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                LOG.log(System.Logger.Level.ERROR, "ring listener on port " + port + " failed; no further connections"
                        + " will be accepted", e);
            }
        } finally {
            for (InboundHandshake hs : pending) {
                closeQuietly(hs.channel);
            }
            closeQuietly(server);
            closeQuietly(selector);
            warnings.flush();
        }
    }

    private void acceptAll(List<InboundHandshake> pending) throws IOException {
        SocketOwner.Accepted batch = SocketOwner.acceptBatch(server, 256);
        long[] owners = batch.owners();
        for (int i = 0; i < batch.channels().size(); i++) {
            SocketChannel ch = batch.channels().get(i);
            InetSocketAddress from = batch.remotes().get(i);
            PeerCheck.Verdict verdict = PeerCheck.verdict(owners[i]);
            if (verdict == PeerCheck.Verdict.OTHER_USER) {
                warnings.warn(PeerCheck.otherUser("connection from " + from, owners[i]));
                closeQuietly(ch);
                continue;
            }
            if (verdict != PeerCheck.Verdict.SAME_USER && unprovenFrom(pending, from.getAddress()) >= MAX_PENDING_PER_SOURCE) {
                evictOldest(pending, from.getAddress(), false, "its source holds " + MAX_PENDING_PER_SOURCE + " handshakes");
            }
            if (pending.size() >= MAX_PENDING_HANDSHAKES) {
                if (!evictOldest(pending, null, false, pending.size() + " handshakes in progress")) {
                    evictOldest(pending, null, true, pending.size() + " handshakes in progress");
                }
            }
            try {
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                InboundHandshake hs = new InboundHandshake(ch, System.nanoTime() + handshakeTimeoutNanos, secret,
                        from.getAddress(), verdict);
                ch.register(selector, SelectionKey.OP_READ, hs);
                pending.add(hs);
            } catch (IOException e) {
                closeQuietly(ch);
            }
        }
    }

    /** Handshakes in progress from {@code source} that the socket tables do not prove this user's. */
    private static int unprovenFrom(List<InboundHandshake> pending, InetAddress source) {
        int n = 0;
        for (InboundHandshake hs : pending) {
            if (hs.verdict != PeerCheck.Verdict.SAME_USER && hs.source.equals(source)) n++;
        }
        return n;
    }

    /**
     * Closes the oldest handshake in progress (of {@code source}, or of any when null; among
     * this user's proven ones only when {@code proven}) to make room; false when there is none.
     */
    private boolean evictOldest(List<InboundHandshake> pending, InetAddress source, boolean proven, String why) {
        InboundHandshake oldest = null;
        for (InboundHandshake hs : pending) {
            if ((hs.verdict == PeerCheck.Verdict.SAME_USER) == proven && (source == null || hs.source.equals(source))
                    && (oldest == null || hs.deadline - oldest.deadline < 0)) {
                oldest = hs;
            }
        }
        if (oldest == null) return false;
        pending.remove(oldest);
        SelectionKey key = oldest.channel.keyFor(selector);
        if (key != null) key.cancel();
        reject(oldest, "evicted to make room for a newer connection (" + why + ")");
        return true;
    }

    /** Advances one handshake; returns true if its key was cancelled (the selector needs a flush). */
    private boolean step(SelectionKey key, InboundHandshake hs, List<InboundHandshake> pending) {
        InboundHandshake.State state;
        try {
            state = hs.advance();
            if (state == InboundHandshake.State.ADMISSION) {
                String refusal = admission(hs);
                if (refusal != null) {
                    state = hs.fail(refusal);
                } else {
                    state = hs.admit();
                    if (state == InboundHandshake.State.READ_RESPONSE) {
                        state = hs.advance(); // the RESPONSE may already be here
                    }
                    if (state == InboundHandshake.State.WRITE_ACK) {
                        key.interestOps(SelectionKey.OP_WRITE);
                    }
                }
            } else if (state == InboundHandshake.State.WRITE_ACK) {
                key.interestOps(SelectionKey.OP_WRITE);
            }
        } catch (IOException e) {
            state = hs.fail("I/O error: " + e.getMessage());
        }
        switch (state) {
            case FAILED -> {
                pending.remove(hs);
                key.cancel();
                reject(hs, hs.reason());
                return true;
            }
            case DONE -> {
                pending.remove(hs);
                key.cancel();
                PeerCheck.noteUnproven(hs.verdict, "ring peer " + remote(hs.channel), secret);
                park(hs);
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    /** Null if this endpoint serves the HELLO's job and receiver, else why not. */
    private String admission(InboundHandshake hs) {
        synchronized (lock) {
            if (ownerToken != null && !ownerToken.equals(hs.jobToken())) {
                return "HELLO for another job (token " + hs.jobToken() + ")";
            }
            if (ownerToken != null && ownerWorldRank != hs.receiverWorldRank()) {
                return "HELLO for world rank " + hs.receiverWorldRank() + ", this endpoint serves " + ownerWorldRank;
            }
            if (parked.size() >= MAX_PARKED) {
                return parked.size() + " connections already wait for their groups";
            }
            return null;
        }
    }

    private void park(InboundHandshake hs) {
        Route route = new Route(hs.jobToken(), hs.group(), hs.senderWorldRank(), hs.receiverWorldRank(), hs.purpose());
        synchronized (lock) {
            Inbound previous = parked.put(route, new Inbound(hs.channel, hs.senderGroupRank(), hs.groupSize()));
            if (previous != null) {
                drop(previous.channel(), "unclaimed connection " + route + " replaced by a newer one");
            }
            lock.notifyAll();
        }
    }

    private void reject(InboundHandshake hs, String why) {
        drop(hs.channel, "rejected " + hs.describe() + " from " + remote(hs.channel) + ": " + why);
    }

    private void drop(SocketChannel ch, String why) {
        warnings.warn(why);
        closeQuietly(ch);
    }

    private static String remote(SocketChannel ch) {
        try {
            return String.valueOf(ch.getRemoteAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    /**
     * Wakes {@code thread}, which blocks in {@code selector} and checks its owner's closed flag
     * after each select, and waits at most {@code millis} for it to end (not when called from
     * that thread itself). An interrupt of the caller is kept for it.
     */
    static void stopSelectorThread(Selector selector, Thread thread, long millis) {
        selector.wakeup();
        if (Thread.currentThread() == thread) {
            return;
        }
        try {
            thread.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // Closing is best effort: the resource is released or already gone.
            }
        }
    }
}
