package ds.comm.ring;

import ds.comm.topology.JobSecret;
import ds.comm.topology.MutualProof;
import ds.comm.topology.PeerCheck;
import ds.comm.topology.SocketOwner;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

import static ds.comm.ring.HandshakeDescriptor.*;

/**
 * The connecting side of a ring connection: connect, send HELLO, answer the CHALLENGE, read and
 * verify the ACK, each step bounded by
 * the caller's deadline. A refused or reset attempt is retried with growing pauses (the peer
 * may still be starting, or its listener busy) until the deadline.
 */
final class RingConnector {

    private static final System.Logger LOG = System.getLogger(RingConnector.class.getName());
    /** Longest wait for the listener's end of a local connection to show in the socket tables. */
    private static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long LONGEST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private RingConnector() {
    }

    /**
     * Returns a connected, non-blocking, TCP_NODELAY channel whose HELLO was accepted, or throws
     * {@link IOException} describing the last failure once {@code deadline} (nanoTime) passed;
     * answers the listener's CHALLENGE with {@code secret} and accepts only an ACK whose tag
     * proves the listener knows it too.
     */
    static SocketChannel connect(InetSocketAddress address, ByteBuffer hello, long deadline, JobSecret secret)
            throws IOException, InterruptedException {
        byte[] helloBytes = bytes(hello);
        long pause = FIRST_PAUSE_NANOS;
        IOException last = null;
        try (Selector selector = Selector.open()) {
            while (System.nanoTime() - deadline < 0) {
                SocketChannel ch = SocketChannel.open();
                try {
                    ch.configureBlocking(false);
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    SelectionKey key = ch.register(selector, 0);
                    if (!ch.connect(address)) {
                        await(selector, key, SelectionKey.OP_CONNECT, deadline);
                        if (!ch.finishConnect()) {
                            throw new IOException("connect to " + address + " timed out");
                        }
                    }
                    // The listener's end: on this node it must be a process of this user, or it is
                    // an impostor on a port a dead rank left (no secret needed to tell). Checked
                    // before the HELLO, which names the job.
                    long owner = SocketOwner.ownerOfConnectedPeer((InetSocketAddress) ch.getLocalAddress(),
                            (InetSocketAddress) ch.getRemoteAddress(), SETTLE_NANOS);
                    PeerCheck.Verdict verdict = PeerCheck.verdict(owner);
                    if (verdict == PeerCheck.Verdict.OTHER_USER) {
                        String why = PeerCheck.otherUser("ring listener " + address, owner);
                        LOG.log(System.Logger.Level.WARNING, why);
                        throw new IOException(why);
                    }
                    PeerCheck.noteUnproven(verdict, "ring listener " + address, secret);
                    ByteBuffer out = hello.duplicate().clear();
                    while (out.hasRemaining()) {
                        if (ch.write(out) == 0) {
                            await(selector, key, SelectionKey.OP_WRITE, deadline);
                        }
                    }
                    ByteBuffer challenge = ByteBuffer.allocate(CHALLENGE_LENGTH);
                    readFully(ch, challenge, selector, key, address, deadline);
                    if (challenge.getInt(0) != CHALLENGE_MAGIC) {
                        throw new IOException(address + " answered the HELLO with something else than a CHALLENGE");
                    }
                    byte[] theirNonce = new byte[JobSecret.NONCE_BYTES];
                    challenge.get(4, theirNonce);
                    byte[] myNonce = JobSecret.nonce();
                    ByteBuffer response = response(myNonce, MutualProof.RING.connectorTag(secret, myNonce, theirNonce, helloBytes));
                    while (response.hasRemaining()) {
                        if (ch.write(response) == 0) {
                            await(selector, key, SelectionKey.OP_WRITE, deadline);
                        }
                    }
                    ByteBuffer ack = ByteBuffer.allocate(ACK_LENGTH);
                    readFully(ch, ack, selector, key, address, deadline);
                    if (ack.getInt(MAGIC_OFFSET) != ACK_MAGIC || ack.getShort(VERSION_OFFSET) != VERSION
                            || ack.getShort(ACK_STATUS_OFFSET) != STATUS_ACCEPTED) {
                        throw new IOException(address + " answered the handshake with an unexpected ACK");
                    }
                    byte[] tag = new byte[JobSecret.TAG_BYTES];
                    ack.get(8, tag);
                    if (!MutualProof.RING.verifyListener(secret, tag, myNonce, theirNonce, helloBytes)) {
                        throw new IOException(address + " failed authentication: it does not know this job's "
                                + JobSecret.ENV + " (another process on the port?)");
                    }
                    key.cancel();
                    selector.selectNow();
                    return ch;
                } catch (IOException e) {
                    RingEndpoint.closeQuietly(ch);
                    last = e;
                } catch (java.nio.channels.UnresolvedAddressException
                         | java.nio.channels.UnsupportedAddressTypeException e) {
                    RingEndpoint.closeQuietly(ch);
                    throw new IOException("cannot connect to " + address + ": " + e, e);
                }
                long sleep = Math.min(pause, deadline - System.nanoTime());
                if (sleep > 0) {
                    TimeUnit.NANOSECONDS.sleep(sleep);
                }
                pause = Math.min(pause * 2, LONGEST_PAUSE_NANOS);
            }
        }
        throw last != null ? last : new IOException("no time left to connect to " + address);
    }

    /** Fills {@code buf} from a non-blocking channel, waiting for readability until the deadline. */
    private static void readFully(SocketChannel ch, ByteBuffer buf, Selector selector, SelectionKey key,
                                  InetSocketAddress address, long deadline) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf);
            if (n < 0) {
                throw new IOException(address + " closed the connection during the handshake (refused: another"
                        + " job, or authentication failed: do all ranks have the same " + JobSecret.ENV + "?)");
            }
            if (n == 0) {
                await(selector, key, SelectionKey.OP_READ, deadline);
            }
        }
    }

    /** Waits for {@code ops} on {@code key} until the deadline; throws if it passes first. */
    private static void await(Selector selector, SelectionKey key, int ops, long deadline) throws IOException {
        key.interestOps(ops);
        while (true) {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new IOException("handshake with " + key.channel() + " not complete before the deadline");
            }
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
            boolean ready = selector.selectedKeys().remove(key);
            if (ready && (key.readyOps() & ops) != 0) {
                key.interestOps(0);
                return;
            }
        }
    }
}
