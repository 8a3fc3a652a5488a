package ds.comm.topology;

import static ds.comm.topology.RendezvousDescriptor.HEADER_BYTES;
import static ds.comm.topology.RendezvousDescriptor.MAX_HELLO_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TOKEN_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TYPE_HELLO;
import static ds.comm.topology.RendezvousDescriptor.TYPE_PROOF;

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
import java.util.Arrays;
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
 * Every connection is challenged at once (see {@link RendezvousDescriptor}); until its HELLO's
 * PROOF verifies against the {@link JobSecret}, anything wrong with it (another protocol, a bad
 * header, a bad tag, or silence for longer than the authentication window) drops that connection
 * with a warning and the job carries on. Only authenticated ranks can fail the rendezvous.
 *
 * <p><b>Strangers and floods.</b> A connection from this node is refused at accept unless its
 * process is of this user ({@link PeerCheck}): another local user cannot join, secret or not.
 * Connections that have not authenticated yet are bounded per source address and in total;
 * at either bound the oldest unauthenticated one is closed to make room, so that a flood of
 * idle connections can delay a genuine rank (which reconnects) but never lock it out. Warnings
 * about dropped connections go through a {@link WarningThrottle}: a few lines per period and a
 * summary, whatever the rate of the flood.
 */
final class RendezvousServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(RendezvousServer.class.getName());

    /** How long failure reasons may take to reach the connected ranks before the sockets close. */
    private static final long ERROR_FLUSH_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    /**
     * How long a connection may take from accept to a verified PROOF. A genuine rank answers the
     * challenge at once (milliseconds); a connection that idles holds one of the bounded slots.
     */
    private static final long AUTH_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Longest sleep in the selector, so that expired authentication windows are swept. */
    private static final long SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /**
     * Unauthenticated connections one source address may hold, unless the socket tables prove
     * them this user's (those are as trusted as the user; a whole node of ranks may connect at
     * once). At least the world size: all ranks of a remote node share its address.
     */
    static final int MIN_UNAUTHENTICATED_PER_SOURCE = 16;

    private final ServerSocketChannel listener;
    private final Selector selector;
    private final int worldSize;
    private final JobSecret secret;
    private final LaunchLedger ledger;
    /** By world rank: not yet arrived, so a launcher-reported exit means it never will. */
    private final boolean[] awaited;
    private long nextLedgerCheck;
    private final int maxConnections;
    private final int maxUnprovenPerSource;
    private final List<Peer> peers = new ArrayList<>();
    private final WarningThrottle warnings = new WarningThrottle(LOG, "rendezvous");
    private final Peer[] byRank;
    /** How long rank 0 keeps admitting ranks after one was lost, so that they learn who it was. */
    private static final long LOST_GRACE_NANOS = TimeUnit.SECONDS.toNanos(2);

    private int arrived;
    /** A rank that said HELLO and then vanished: reported once the others arrived or a grace passed. */
    private Failure lost;
    private long lostReportBy;
    /** 1 when the lost rank never arrived (the launcher reported its exit): nobody waits for it. */
    private int neverArriving;

    /** One accepted connection and its protocol state. */
    private static final class Peer {

        /**
         * Where a connection is in the handshake; only forward, one step at a time:
         * {@code AWAITING_HELLO → AWAITING_PROOF → AUTHENTICATED → ARRIVED}.
         */
        enum State {
            /** Accepted; its HELLO frame has not fully arrived. */
            AWAITING_HELLO,
            /** HELLO kept (not yet trusted); waiting for the PROOF over it. */
            AWAITING_PROOF,
            /** PROOF verified: a rank of this job, told why the rendezvous fails if it does. */
            AUTHENTICATED,
            /** HELLO decoded and accepted: counted as arrived; any more data is a protocol error. */
            ARRIVED
        }

        State state = State.AWAITING_HELLO;
        final SocketChannel channel;
        final String remote;
        /** The address of this host that the peer reached: routable from the peer's node. */
        final InetAddress arrivedAt;
        /** Where the peer connects from: connections per source are bounded. */
        final InetAddress source;
        /** What the socket tables say about the peer's process. */
        PeerCheck.Verdict verdict = PeerCheck.Verdict.UNPROVABLE;
        final long acceptedAt = System.nanoTime();
        final byte[] serverNonce = JobSecret.nonce();
        final ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
        ByteBuffer body;
        /** The complete HELLO frame (header and body), kept from AWAITING_PROOF on. */
        byte[] helloFrame;
        byte[] clientNonce;
        /** The rank's record, from ARRIVED on. */
        RankRecord hello;
        ByteBuffer out;
        boolean foreign;

        Peer(SocketChannel channel, String remote, InetAddress arrivedAt, InetAddress source) {
            this.channel = channel;
            this.remote = remote;
            this.arrivedAt = arrivedAt;
            this.source = source;
        }

        /** Whether its PROOF verified: only such peers are told why the rendezvous failed. */
        boolean authenticated() {
            return state.compareTo(State.AUTHENTICATED) >= 0;
        }

        String describe() {
            return state != State.ARRIVED ? "connection from " + remote
                    : "rank " + hello.rank() + " (pid " + hello.pid() + " on node " + hello.nodeId() + " from " + remote + ")";
        }
    }

    private RendezvousServer(ServerSocketChannel listener, Selector selector, int worldSize, JobSecret secret,
                             LaunchLedger ledger) {
        this.listener = listener;
        this.selector = selector;
        this.worldSize = worldSize;
        this.secret = secret;
        this.ledger = ledger;
        this.awaited = new boolean[worldSize];
        this.byRank = new Peer[worldSize];
        // Room for every rank plus a few strays (a rank retrying, a health check) but bounded,
        // so that a flood of connections cannot exhaust file descriptors.
        this.maxConnections = worldSize + 64;
        this.maxUnprovenPerSource = Math.max(MIN_UNAUTHENTICATED_PER_SOURCE, worldSize);
    }

    /**
     * Binds the listener. SO_REUSEADDR lets a job restart on the port of a job that just ended
     * while its connections are still in TIME_WAIT.
     */
    static RendezvousServer open(InetSocketAddress bind, int worldSize, JobSecret secret, LaunchLedger ledger)
            throws IOException {
        ServerSocketChannel ch = ServerSocketChannel.open();
        Selector sel = null;
        try {
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ch.bind(bind, Math.min(worldSize + 16, 4096));
            ch.configureBlocking(false);
            sel = Selector.open();
            ch.register(sel, SelectionKey.OP_ACCEPT);
            return new RendezvousServer(ch, sel, worldSize, secret, ledger);
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
            if (lost != null) {
                throw lost; // everyone else arrived: now all of them hear which rank was lost
            }
            listener.close();
            sendTable(sendDeadline);
        } catch (Failure f) {
            abort(f.cause, f.rank, f.getMessage());
            throw new RendezvousException(f.kind(), f.rank, f.getMessage(), null);
        } catch (IOException e) {
            String reason = "rank 0's rendezvous listener failed: " + e;
            abort(RendezvousDescriptor.CAUSE_SETUP, -1, reason);
            throw new RendezvousException(reason, e);
        } catch (ClosedSelectorException e) {
            throw new RendezvousException("rank 0's rendezvous was closed before it completed");
        } finally {
            close();
        }
    }

    private void awaitArrivals(long deadline) throws IOException, Failure {
        while (arrived < worldSize) {
            long now = System.nanoTime();
            if (lost != null && (now - lostReportBy >= 0 || arrived + neverArriving >= worldSize)) {
                throw lost; // the grace passed, or everyone who can still arrive has
            }
            long remaining = deadline - now;
            if (remaining <= 0) {
                throw lost != null ? lost : new Failure(RendezvousDescriptor.CAUSE_LOST, firstMissing(), missingRanks());
            }
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(Math.min(remaining, SWEEP_NANOS))));
            boolean acceptable = false;
            var it = selector.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey key = it.next();
                it.remove();
                if (!key.isValid()) {
                    continue;
                }
                if (key.isAcceptable()) {
                    acceptable = true;
                } else if (key.isReadable()) {
                    read((Peer) key.attachment(), key);
                }
            }
            // Accepts after reads: a genuine rank whose PROOF is already here authenticates
            // before eviction picks the oldest unauthenticated connection to make room.
            if (acceptable) {
                acceptAll();
            }
            dropUnauthenticatedAfterWindow();
            consultLedger();
            warnings.tick();
        }
    }

    /**
     * A rank that exited before its HELLO (killed at start-up, a bad command line) never arrives;
     * only its launcher knows. Once the ledger says so, the rank is lost as surely as one that
     * hung up: the others still arriving within the grace are told which rank it was.
     */
    private void consultLedger() {
        long now = System.nanoTime();
        if (lost != null || now - nextLedgerCheck < 0) return;
        nextLedgerCheck = now + SWEEP_NANOS;
        for (int r = 0; r < worldSize; r++) {
            awaited[r] = byRank[r] == null;
        }
        LaunchLedger.Exit exit = ledger.firstExitAmong(awaited);
        if (exit != null) {
            lost = new Failure(RendezvousDescriptor.CAUSE_LOST, exit.rank(), "rank " + exit.rank() + " exited with code "
                    + exit.code() + " before it reached rank 0's rendezvous (reported by the launcher); " + missingRanks());
            lostReportBy = now + LOST_GRACE_NANOS;
            neverArriving = 1;
        }
    }

    /** Connections that have not proven themselves within the window give up their slot. */
    private void dropUnauthenticatedAfterWindow() {
        long now = System.nanoTime();
        for (Peer p : new ArrayList<>(peers)) {
            if (!p.authenticated() && now - p.acceptedAt > AUTH_WINDOW_NANOS) {
                SelectionKey key = p.channel.keyFor(selector);
                drop(p, key, "no authenticated HELLO within " + TimeUnit.NANOSECONDS.toMillis(AUTH_WINDOW_NANOS) + " ms");
            }
        }
    }

    private void acceptAll() throws IOException {
        SocketOwner.Accepted batch = SocketOwner.acceptBatch(listener, 256);
        for (int i = 0; i < batch.channels().size(); i++) {
            admit(batch.channels().get(i), batch.remotes().get(i), batch.owners()[i]);
        }
    }

    /** A new connection: refused if another user's, else challenged (evicting to make room). */
    private void admit(SocketChannel ch, InetSocketAddress from, long owner) throws IOException {
        PeerCheck.Verdict verdict = PeerCheck.verdict(owner);
        if (verdict == PeerCheck.Verdict.OTHER_USER) {
            warnings.warn(PeerCheck.otherUser("connection from " + from, owner));
            closeQuietly(ch);
            return;
        }
        boolean proven = verdict == PeerCheck.Verdict.SAME_USER;
        if (!proven && unprovenFrom(from.getAddress()) >= maxUnprovenPerSource) {
            evictOldestUnauthenticated(from.getAddress(), false, "its source " + from.getAddress().getHostAddress()
                    + " holds " + maxUnprovenPerSource + " unauthenticated connections");
        }
        if (peers.size() >= maxConnections
                && !evictOldestUnauthenticated(null, false, peers.size() + " connections are open")
                && !evictOldestUnauthenticated(null, true, peers.size() + " connections are open")) {
            warnings.warn("refusing connection from " + from + ": " + peers.size() + " ranks are connected");
            closeQuietly(ch);
            return;
        }
        ch.configureBlocking(false);
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        Peer p = new Peer(ch, String.valueOf(from), ((InetSocketAddress) ch.getLocalAddress()).getAddress(),
                from.getAddress());
        p.verdict = verdict;
        ByteBuffer challenge = RendezvousCodec.challenge(p.serverNonce);
        try {
            ch.write(challenge);
        } catch (IOException e) {
            closeQuietly(ch);
            return;
        }
        if (challenge.hasRemaining()) { // 44 bytes into a fresh socket's buffer: never happens in practice
            warnings.warn("dropping " + p.describe() + ": challenge not sent");
            closeQuietly(ch);
            return;
        }
        peers.add(p);
        ch.register(selector, SelectionKey.OP_READ, p);
    }

    private int unprovenFrom(InetAddress source) {
        int n = 0;
        for (Peer p : peers) {
            if (!p.authenticated() && p.verdict != PeerCheck.Verdict.SAME_USER && p.source.equals(source)) n++;
        }
        return n;
    }

    /**
     * Closes the oldest unauthenticated connection (of {@code source}, or of any source when
     * null; among this user's proven ones only when {@code proven}) to make room for a new one;
     * false when there is none.
     */
    private boolean evictOldestUnauthenticated(InetAddress source, boolean proven, String why) {
        Peer oldest = null;
        for (Peer p : peers) {
            if (!p.authenticated() && (p.verdict == PeerCheck.Verdict.SAME_USER) == proven
                    && (source == null || p.source.equals(source))
                    && (oldest == null || p.acceptedAt - oldest.acceptedAt < 0)) {
                oldest = p;
            }
        }
        if (oldest == null) return false;
        drop(oldest, oldest.channel.keyFor(selector), "evicted to make room for a newer connection (" + why + ")");
        return true;
    }

    private void read(Peer p, SelectionKey key) throws Failure {
        try {
            if (p.state == Peer.State.ARRIVED) {
                // A rank that has said HELLO sends nothing more; readable means it hung up.
                int n = p.channel.read(ByteBuffer.allocate(1));
                if (n < 0) {
                    Failure f = new Failure(RendezvousDescriptor.CAUSE_LOST, p.hello.rank(), p.describe()
                            + " disconnected before all " + worldSize + " ranks arrived (it gave up or died); "
                            + missingRanks());
                    noteLost(p, key, f);
                    return;
                }
                throw new Failure(RendezvousDescriptor.CAUSE_SETUP, p.hello.rank(), p.describe()
                        + " sent data after its HELLO: protocol error");
            }
            if (p.body == null) { // still in a header (frames may arrive in any number of pieces)
                if (p.channel.read(p.header) < 0) {
                    drop(p, key, "closed before authenticating");
                    return;
                }
                if (p.header.hasRemaining()) {
                    return;
                }
                // Bounded before anything is allocated: a HELLO is at most ~1 KiB, a PROOF 64 bytes.
                RendezvousCodec.Header h = RendezvousCodec.header(p.header.flip(), MAX_HELLO_BYTES);
                short expected = p.state == Peer.State.AWAITING_HELLO ? TYPE_HELLO : TYPE_PROOF;
                if (h.type() != expected) {
                    drop(p, key, "sent frame type " + h.type() + " where type " + expected + " belongs");
                    return;
                }
                p.body = ByteBuffer.allocate(h.bodyLength());
            }
            if (p.channel.read(p.body) < 0) {
                drop(p, key, "closed in the middle of a frame");
                return;
            }
            if (p.body.hasRemaining()) {
                return;
            }
            ByteBuffer body = p.body.flip();
            p.body = null;
            if (p.state == Peer.State.AWAITING_HELLO) {
                byte[] frame = new byte[HEADER_BYTES + body.remaining()];
                p.header.get(0, frame, 0, HEADER_BYTES);
                body.get(frame, HEADER_BYTES, frame.length - HEADER_BYTES);
                p.helloFrame = frame;
                p.state = Peer.State.AWAITING_PROOF;
                p.header.clear();
                return;
            }
            p.header.clear();
            RendezvousCodec.Proof proof = RendezvousCodec.decodeProof(body);
            if (!MutualProof.RENDEZVOUS.verifyConnector(secret, proof.tag(), proof.nonce(), p.serverNonce, p.helloFrame)) {
                drop(p, key, "failed authentication (wrong or missing DSCOMM_JOB_SECRET, or not a rank of this job)");
                return;
            }
            p.clientNonce = proof.nonce();
            p.state = Peer.State.AUTHENTICATED;
            PeerCheck.noteUnproven(p.verdict, "rendezvous peer " + p.remote, secret);
            RendezvousCodec.Hello hello;
            try {
                hello = RendezvousCodec.decodeHello(ByteBuffer.wrap(p.helloFrame, HEADER_BYTES,
                        p.helloFrame.length - HEADER_BYTES).slice());
            } catch (RendezvousCodec.MalformedFrameException e) {
                // Authenticated, so a rank of this job with a defect: the job cannot succeed.
                throw new Failure(RendezvousDescriptor.CAUSE_SETUP, -1, p.describe() + " (authenticated): "
                        + e.getMessage());
            }
            arrive(p, hello);
        } catch (RendezvousCodec.MalformedFrameException e) {
            // Not authenticated yet: whoever it is, it does not get to fail the job.
            p.foreign = e.foreign;
            drop(p, key, e.getMessage());
        } catch (IOException e) {
            if (p.state == Peer.State.ARRIVED) {
                noteLost(p, key, new Failure(RendezvousDescriptor.CAUSE_LOST, p.hello.rank(), p.describe()
                        + " lost its connection before all " + worldSize + " ranks arrived (" + e.getMessage() + "); "
                        + missingRanks()));
                return;
            }
            drop(p, key, e.toString());
        }
    }

    /**
     * A rank that said HELLO is gone. Rank 0 does not fail at once: ranks still on their way
     * would find it gone and could only blame rank 0. It waits a short grace (or until every
     * other rank is here) so that they too are told which rank was lost.
     */
    private void noteLost(Peer p, SelectionKey key, Failure f) {
        if (lost == null) {
            lost = f;
            lostReportBy = System.nanoTime() + LOST_GRACE_NANOS;
        }
        key.cancel();
        peers.remove(p);
        closeQuietly(p.channel);
    }

    private void arrive(Peer p, RendezvousCodec.Hello hello) throws Failure {
        RankRecord rec = hello.record();
        if (hello.worldSize() != worldSize) {
            throw new Failure(RendezvousDescriptor.CAUSE_SETUP, rec.rank(), "rank " + rec.rank() + " (pid " + rec.pid() + " on node " + rec.nodeId() + " from "
                    + p.remote + ") arrived with world size " + hello.worldSize() + " but rank 0 has world size "
                    + worldSize + ": the ranks disagree on the world size, or two jobs share MASTER_ADDR:MASTER_PORT");
        }
        Peer first = byRank[rec.rank()];
        if (first != null) {
            throw new Failure(RendezvousDescriptor.CAUSE_SETUP, rec.rank(), "rank " + rec.rank() + " arrived twice: first " + first.describe() + ", then pid "
                    + rec.pid() + " on node " + rec.nodeId() + " from " + p.remote
                    + ": two processes claim the same rank (check the launcher's rank variables,"
                    + " or two jobs share MASTER_ADDR:MASTER_PORT)");
        }
        p.hello = rec;
        p.state = Peer.State.ARRIVED;
        byRank[rec.rank()] = p;
        arrived++;
    }

    private void sendTable(long deadline) throws IOException, Failure {
        byte[] token = new byte[TOKEN_BYTES];
        new SecureRandom().nextBytes(token);
        List<RankRecord> records = routableRecords();
        byte[] frame = bytesOf(RendezvousCodec.table(token, records));
        for (Peer p : peers) {
            p.out = p.state == Peer.State.ARRIVED ? signed(p, frame) : null;
        }
        if (!flush(deadline)) {
            List<Integer> late = new ArrayList<>();
            for (Peer p : byRank) {
                if (p.out != null && p.out.hasRemaining()) {
                    late.add(p.hello.rank());
                }
            }
            throw new Failure(RendezvousDescriptor.CAUSE_TIMEOUT, late.isEmpty() ? -1 : late.getFirst(),
                    "rank 0 could not deliver the rank table to ranks " + late + " before the deadline");
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
                        r.process(), r.byteOrder(), r.localSizeHint(), r.shmView());
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

    /** The frame followed by rank 0's PROOF for this peer's nonce. */
    private ByteBuffer signed(Peer p, byte[] frame) {
        byte[] tag = MutualProof.RENDEZVOUS.listenerTag(secret, p.clientNonce, p.serverNonce, frame);
        ByteBuffer proof = RendezvousCodec.proof(p.serverNonce, tag);
        ByteBuffer both = ByteBuffer.allocate(frame.length + proof.remaining());
        return both.put(frame).put(proof).flip();
    }

    private static byte[] bytesOf(ByteBuffer frame) {
        return Arrays.copyOfRange(frame.array(), frame.arrayOffset() + frame.position(),
                frame.arrayOffset() + frame.limit());
    }

    /**
     * Tells every authenticated rank why the rendezvous failed, within a short bound.
     * Unauthenticated connections learn nothing.
     */
    private void abort(byte cause, int rank, String reason) {
        LOG.log(System.Logger.Level.DEBUG, "rendezvous failed: " + reason);
        // No new connections while the reason goes out; a pending accept would spin the selector.
        closeQuietly(listener);
        byte[] frame = bytesOf(RendezvousCodec.error(cause, rank, reason));
        for (Peer p : peers) {
            p.out = p.authenticated() ? signed(p, frame) : null;
        }
        try {
            flush(System.nanoTime() + ERROR_FLUSH_NANOS);
        } catch (IOException | RuntimeException e) {
            // Best effort: ranks that miss the reason fail at their own deadline.
        }
    }

    private void drop(Peer p, SelectionKey key, String why) {
        warnings.warn("dropping unauthenticated " + p.describe() + ": " + why);
        if (key != null) key.cancel();
        peers.remove(p);
        closeQuietly(p.channel);
    }

    private int firstMissing() {
        for (int r = 0; r < worldSize; r++) {
            if (byRank[r] == null) return r;
        }
        return -1;
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
        warnings.flush();
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
        final byte cause;
        final int rank;

        Failure(byte cause, int rank, String message) {
            super(message, null, false, false);
            this.cause = cause;
            this.rank = rank;
        }

        RendezvousException.Cause kind() {
            return cause == RendezvousDescriptor.CAUSE_LOST ? RendezvousException.Cause.LOST
                    : cause == RendezvousDescriptor.CAUSE_TIMEOUT ? RendezvousException.Cause.TIMEOUT
                    : RendezvousException.Cause.SETUP;
        }
    }
}
