package ds.comm.topology;

import static ds.comm.topology.RendezvousDescriptor.HEADER_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TYPE_CHALLENGE;
import static ds.comm.topology.RendezvousDescriptor.TYPE_ERROR;
import static ds.comm.topology.RendezvousDescriptor.TYPE_PROOF;
import static ds.comm.topology.RendezvousDescriptor.TYPE_TABLE;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Every rank's side of the rendezvous (rank 0's too): connect to rank 0 with retries until the
 * deadline, send HELLO, wait for the TABLE or an ERROR. Blocking sockets with a timeout set
 * before each call to the time left, so no call outlives the deadline.
 *
 * <p>Nothing a stranger can do ends the attempt before the deadline: a connection closed before
 * rank 0's authenticated answer (a listener evicting us under a flood, or one that is not rank
 * 0) is simply retried, and a listener on this node that belongs to another user is refused
 * ({@link PeerCheck}) and named, in a WARNING and in the error if the deadline passes. Only an
 * authenticated ERROR from rank 0 fails the rank at once, or a listener that hung up on our
 * HELLO and is then gone altogether (rank 0 failed or was stopped).
 */
final class RendezvousClient {

    /** Longest single connect attempt; later attempts still fit the overall deadline. */
    private static final long CONNECT_ATTEMPT_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    private static final System.Logger LOG = System.getLogger(RendezvousClient.class.getName());
    /** Longest wait for the listener's end of a local connection to show in the socket tables. */
    private static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private RendezvousClient() {
    }

    static Topology exchange(LaunchEnv env, String nodeId, int ringPort, long deadline, JobSecret secret,
                             LaunchLedger ledger) {
        return exchange(env, nodeId, ringPort, deadline, secret, ledger, ByteOrder.nativeOrder());
    }

    /**
     * As above, announcing {@code byteOrder} instead of the native one: lets a test stand in for a
     * rank of another byte order (an s390x joining x86 ranks) without another machine.
     */
    static Topology exchange(LaunchEnv env, String nodeId, int ringPort, long deadline, JobSecret secret,
                             LaunchLedger ledger, ByteOrder byteOrder) {
        return exchange(env, nodeId, ringPort, deadline, secret, ledger, byteOrder, ShmView.NONE);
    }

    /** As above, announcing what this rank sees of its shared-memory directory. */
    static Topology exchange(LaunchEnv env, String nodeId, int ringPort, long deadline, JobSecret secret,
                             LaunchLedger ledger, ByteOrder byteOrder, ShmView shmView) {
        return exchange(env, nodeId, ringPort, deadline, secret, ledger, byteOrder, shmView, () -> false);
    }

    /**
     * As above; {@code ownServerDone} is rank 0's own client's way out: once its server has
     * finished (failed, say, on a duplicate rank before this client got in), retrying is pointless
     * and would hold rank 0 until the deadline.
     */
    static Topology exchange(LaunchEnv env, String nodeId, int ringPort, long deadline, JobSecret secret,
                             LaunchLedger ledger, ByteOrder byteOrder, ShmView shmView,
                             java.util.function.BooleanSupplier ownServerDone) {
        String where = env.masterAddr() + ":" + env.masterPort();
        WarningThrottle warnings = new WarningThrottle(LOG, "rank " + env.rank() + " rendezvous", 2,
                WarningThrottle.DEFAULT_PERIOD_NANOS);
        Unanswered last = null;
        long pause = TimeUnit.MILLISECONDS.toNanos(10);
        while (true) {
            boolean helloSent = false;
            try (Socket socket = connect(env, where, deadline, ledger, last, ownServerDone)) {
                socket.setTcpNoDelay(true);
                // Rank 0's end of this connection: on this node it must be a process of this user.
                // Checked before anything is read: an impostor running this code hangs up on us
                // (we are not its user) and would otherwise look like a busy rank 0.
                long owner = SocketOwner.ownerOfConnectedPeer((InetSocketAddress) socket.getLocalSocketAddress(),
                        (InetSocketAddress) socket.getRemoteSocketAddress(), SETTLE_NANOS);
                PeerCheck.Verdict verdict = PeerCheck.verdict(owner);
                if (verdict == PeerCheck.Verdict.OTHER_USER) {
                    String why = PeerCheck.otherUser("the rendezvous listener at " + where, owner);
                    warnings.warn(why);
                    throw new Unanswered(why, false);
                }
                PeerCheck.noteUnproven(verdict, "rank 0's rendezvous at " + where, secret);
                InputStream in = socket.getInputStream();
                byte[] serverNonce = readChallenge(env, socket, in, where, deadline);
                // The address this socket uses towards rank 0 is one that rank 0 (and so, in a routed
                // network, the other ranks) can reach; that is where our ring listener is announced.
                RankRecord self = new RankRecord(env.rank(), nodeId,
                        new InetSocketAddress(socket.getLocalAddress(), ringPort), ProcessIdentity.current(),
                        byteOrder, env.localSize(), shmView);
                byte[] hello = bytesOf(RendezvousCodec.hello(env.worldSize(), self));
                byte[] clientNonce = JobSecret.nonce();
                ByteBuffer proof = RendezvousCodec.proof(clientNonce,
                        MutualProof.RENDEZVOUS.connectorTag(secret, clientNonce, serverNonce, hello));
                OutputStream out = socket.getOutputStream();
                out.write(hello);
                out.write(proof.array(), proof.arrayOffset() + proof.position(), proof.remaining());
                out.flush();
                helloSent = true;
                return awaitAnswer(env, socket, in, self, where, deadline, secret, serverNonce, clientNonce);
            } catch (Unanswered e) {
                last = moreTelling(last, e);
            } catch (IOException e) {
                // Reset or broken pipe before rank 0's authenticated answer: under a flood, rank 0
                // evicting this connection looks exactly like this. Nothing proves it was rank 0.
                // After our HELLO it is also what a refused proof looks like when rank 0 hangs up
                // with our bytes still unread (the kernel resets instead of closing): say so, as
                // for the orderly close in awaitAnswer.
                last = moreTelling(last, new Unanswered("the connection to " + where
                        + " broke before rank 0's authenticated answer (" + e + ")" + (helloSent
                        ? ": rank 0 failed or was stopped, or it refused this rank's authentication (do all ranks"
                        + " have the same " + JobSecret.ENV + "?)" : ""), helloSent));
            }
            if (ownServerDone.getAsBoolean()) {
                throw new RendezvousException(RendezvousException.Cause.LOST, 0, "rank " + env.rank()
                        + ": rank 0's rendezvous ended before this rank got in: " + last.getMessage(), last);
            }
            LockSupport.parkNanos(Math.min(pause, Math.max(0, deadline - System.nanoTime())));
            pause = Math.min(2 * pause, MAX_BACKOFF_NANOS);
        }
    }

    /**
     * Which of two unanswered attempts to report: one that ended after rank 0 had our HELLO says
     * more than a later one that ended before it (a full suite run: the first attempt's refused
     * proof, then a reset before the next challenge, and the error named only the reset).
     */
    private static Unanswered moreTelling(Unanswered before, Unanswered now) {
        return before != null && before.afterHello && !now.afterHello ? before : now;
    }

    /**
     * The connection ended (or was refused by us) before rank 0's authenticated answer: nothing
     * proves it was rank 0 that ended it, so the rank tries again until its deadline.
     */
    private static final class Unanswered extends IOException {
        private static final long serialVersionUID = 1L;
        /** The listener had our HELLO: if it is gone now, rank 0's rendezvous ended. */
        final boolean afterHello;

        Unanswered(String message, boolean afterHello) {
            super(message, null);
            this.afterHello = afterHello;
        }
    }

    private static byte[] bytesOf(ByteBuffer frame) {
        return Arrays.copyOfRange(frame.array(), frame.arrayOffset() + frame.position(),
                frame.arrayOffset() + frame.limit());
    }

    /** Rank 0 speaks first: a CHALLENGE with its nonce. */
    private static byte[] readChallenge(LaunchEnv env, Socket socket, InputStream in, String where, long deadline)
            throws IOException {
        byte[] header = new byte[HEADER_BYTES];
        byte[] body = new byte[RendezvousDescriptor.CHALLENGE_BYTES];
        try {
            readFully(socket, in, header, deadline);
            RendezvousCodec.Header h = RendezvousCodec.header(ByteBuffer.wrap(header), RendezvousDescriptor.CHALLENGE_BYTES);
            if (h.type() != TYPE_CHALLENGE) {
                throw new RendezvousException("rank " + env.rank() + ": " + where + " sent frame type " + h.type()
                        + " instead of a CHALLENGE");
            }
            readFully(socket, in, body, deadline);
            return RendezvousCodec.decodeChallenge(ByteBuffer.wrap(body));
        } catch (SocketTimeoutException e) {
            throw new RendezvousException(RendezvousException.Cause.TIMEOUT, 0, "rank " + env.rank() + ": " + where
                    + " accepted the connection but sent no challenge within " + env.timeout().toMillis()
                    + " ms: is MASTER_PORT a ds-comm rank 0 of this version?", null);
        } catch (EOFException e) {
            throw new Unanswered("the listener at " + where + " closed the connection before challenging this rank"
                    + " (rank 0 busy with a flood of connections, failed, was stopped, or its rendezvous had"
                    + " already ended)", false);
        } catch (RendezvousCodec.MalformedFrameException e) {
            throw new RendezvousException("rank " + env.rank() + ": " + where + " answered with " + e.getMessage()
                    + (e.foreign ? ": MASTER_PORT belongs to another program" : ""));
        }
    }

    private static Socket connect(LaunchEnv env, String where, long deadline, LaunchLedger ledger, Unanswered before,
                                  java.util.function.BooleanSupplier ownServerDone) {
        long backoff = TimeUnit.MILLISECONDS.toNanos(10);
        Exception last = null;
        int attempts = 0;
        boolean[] rankZero = new boolean[env.worldSize()];
        rankZero[0] = true;
        while (true) {
            // Refused connections look the same whether rank 0 is still starting or already dead.
            LaunchLedger.Exit exit = attempts == 0 ? null : ledger.firstExitAmong(rankZero);
            if (exit != null) {
                throw new RendezvousException(RendezvousException.Cause.LOST, 0, "rank " + env.rank()
                        + " could not reach rank 0's rendezvous at " + where + ": rank 0 exited with code " + exit.code()
                        + " (reported by the launcher)", last);
            }
            if (attempts > 0 && ownServerDone.getAsBoolean()) {
                throw new RendezvousException(RendezvousException.Cause.LOST, 0, "rank " + env.rank()
                        + ": rank 0's rendezvous ended before this rank got in (last: " + last + ")", last);
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0 && before != null) {
                throw new RendezvousException(RendezvousException.Cause.TIMEOUT, 0, "rank " + env.rank()
                        + " could not join rank 0's rendezvous at " + where + " within " + env.timeout().toMillis()
                        + " ms: " + before.getMessage(), before);
            }
            if (remaining <= 0) {
                throw new RendezvousException(RendezvousException.Cause.TIMEOUT, 0, "rank " + env.rank()
                        + " could not reach rank 0's rendezvous at " + where
                        + " within " + env.timeout().toMillis() + " ms after " + attempts + " attempts (last: " + last
                        + "): is rank 0 running, and is MASTER_ADDR reachable from this node?", last);
            }
            attempts++;
            Socket s = new Socket();
            try {
                InetAddress addr = InetAddress.getByName(env.masterAddr());
                s.connect(new InetSocketAddress(addr, env.masterPort()), millis(Math.min(remaining, CONNECT_ATTEMPT_NANOS)));
                return s;
            } catch (UnknownHostException e) {
                last = e;
            } catch (java.net.ConnectException e) {
                if (before != null && before.afterHello) {
                    // It had our HELLO, hung up without an answer and no longer listens: rank 0's
                    // rendezvous is over (it failed, was stopped, or refused this rank).
                    throw new RendezvousException(RendezvousException.Cause.LOST, 0, "rank " + env.rank() + ": "
                            + before.getMessage(), before);
                }
                last = e; // refused: rank 0 is not listening yet
            } catch (IOException e) {
                // Timed out or unreachable: maybe not yet either.
                last = e;
            }
            try {
                s.close();
            } catch (IOException e) {
                // never connected
            }
            LockSupport.parkNanos(Math.min(backoff, Math.max(0, deadline - System.nanoTime())));
            backoff = Math.min(2 * backoff, MAX_BACKOFF_NANOS);
        }
    }

    private static Topology awaitAnswer(LaunchEnv env, Socket socket, InputStream in, RankRecord self, String where,
                                        long deadline, JobSecret secret, byte[] serverNonce, byte[] clientNonce)
            throws IOException {
        byte[] header = new byte[HEADER_BYTES];
        try {
            readFully(socket, in, header, deadline);
        } catch (SocketTimeoutException e) {
            throw new RendezvousException(RendezvousException.Cause.TIMEOUT, -1, "rank " + env.rank()
                    + " got no answer from rank 0 at " + where + " within " + env.timeout().toMillis()
                    + " ms: some ranks never arrived (rank 0 reports which) or rank 0 is stuck", null);
        } catch (EOFException e) {
            throw new Unanswered("rank 0 at " + where + " closed the rendezvous connection without an answer (it failed"
                    + " or was stopped, or it refused this rank's authentication: do all ranks have the same "
                    + JobSecret.ENV + "?)", true);
        }
        RendezvousCodec.Header h;
        try {
            h = RendezvousCodec.header(ByteBuffer.wrap(header), RendezvousDescriptor.maxTableBytes(env.worldSize()));
        } catch (RendezvousCodec.MalformedFrameException e) {
            throw new RendezvousException("rank " + env.rank() + ": " + where + " answered with " + e.getMessage()
                    + (e.foreign ? ": MASTER_PORT belongs to another program" : ""));
        }
        if (h.type() != TYPE_TABLE && h.type() != TYPE_ERROR) {
            throw new RendezvousException("rank " + env.rank() + ": rank 0 answered with frame type " + h.type());
        }
        byte[] frame = new byte[HEADER_BYTES + h.bodyLength()];
        System.arraycopy(header, 0, frame, 0, HEADER_BYTES);
        byte[] proofFrame = new byte[HEADER_BYTES + RendezvousDescriptor.PROOF_BYTES];
        try {
            readFully(socket, in, frame, HEADER_BYTES, deadline);
            readFully(socket, in, proofFrame, 0, deadline);
        } catch (SocketTimeoutException | EOFException e) {
            throw new RendezvousException(RendezvousException.Cause.LOST, 0, "rank " + env.rank()
                    + ": rank 0's answer was cut short (" + e + ")", null);
        }
        ByteBuffer body = ByteBuffer.wrap(frame, HEADER_BYTES, h.bodyLength()).slice();
        try {
            RendezvousCodec.Header ph = RendezvousCodec.header(ByteBuffer.wrap(proofFrame, 0, HEADER_BYTES).slice(),
                    RendezvousDescriptor.PROOF_BYTES);
            if (ph.type() != TYPE_PROOF || ph.bodyLength() != RendezvousDescriptor.PROOF_BYTES) {
                throw new RendezvousCodec.MalformedFrameException("no PROOF after the answer", false);
            }
            RendezvousCodec.Proof proof = RendezvousCodec.decodeProof(
                    ByteBuffer.wrap(proofFrame, HEADER_BYTES, RendezvousDescriptor.PROOF_BYTES).slice());
            if (!Arrays.equals(proof.nonce(), serverNonce)
                    || !MutualProof.RENDEZVOUS.verifyListener(secret, proof.tag(), clientNonce, serverNonce, frame)) {
                throw new RendezvousException("rank " + env.rank() + ": the answer from " + where
                        + " failed authentication: rank 0 has another " + JobSecret.ENV
                        + ", or something else listens on MASTER_PORT; the answer is ignored");
            }
            if (h.type() == TYPE_ERROR) {
                RendezvousCodec.Error err = RendezvousCodec.decodeErrorFrame(body);
                RendezvousException.Cause cause = err.cause() == RendezvousDescriptor.CAUSE_LOST
                        ? RendezvousException.Cause.LOST : err.cause() == RendezvousDescriptor.CAUSE_TIMEOUT
                        ? RendezvousException.Cause.TIMEOUT : RendezvousException.Cause.SETUP;
                throw new RendezvousException(cause, err.rank(), "rank " + env.rank() + ": rendezvous failed at rank 0: "
                        + err.reason(), null);
            }
            RendezvousCodec.Table t = RendezvousCodec.decodeTable(body, env.worldSize());
            RankRecord mine = t.records().get(env.rank());
            // Address equality is not compared: a scoped IPv6 address may not survive the round trip.
            if (!mine.process().equals(self.process()) || !mine.nodeId().equals(self.nodeId())
                    || mine.ringAddress().getPort() != self.ringAddress().getPort()) {
                throw new RendezvousException("rank " + env.rank() + ": rank 0's table says this rank is " + mine
                        + " but it announced " + self);
            }
            return new Topology(env.rank(), HexFormat.of().formatHex(t.token()), t.records());
        } catch (RendezvousCodec.MalformedFrameException e) {
            throw new RendezvousException("rank " + env.rank() + ": malformed answer from rank 0: " + e.getMessage());
        }
    }

    private static void readFully(Socket s, InputStream in, byte[] buf, long deadline) throws IOException {
        readFully(s, in, buf, 0, deadline);
    }

    /** Fills {@code buf} from {@code from} on; each read may block only for the time left. */
    private static void readFully(Socket s, InputStream in, byte[] buf, int from, long deadline) throws IOException {
        int off = from;
        while (off < buf.length) {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new SocketTimeoutException("deadline passed");
            }
            s.setSoTimeout(millis(remaining));
            int n = in.read(buf, off, buf.length - off);
            if (n < 0) {
                throw new EOFException("connection closed after " + off + " of " + buf.length + " bytes");
            }
            off += n;
        }
    }

    /** A positive int millisecond timeout (0 would mean "forever" to java.net). */
    private static int millis(long nanos) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(nanos)));
    }
}
