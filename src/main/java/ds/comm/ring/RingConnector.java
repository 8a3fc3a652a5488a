package ds.comm.ring;

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
 * The connecting side of a ring connection: connect, send HELLO, read ACK, each step bounded by
 * the caller's deadline. A refused or reset attempt is retried with growing pauses (the peer
 * may still be starting, or its listener busy) until the deadline.
 */
final class RingConnector {

    private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long LONGEST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private RingConnector() {
    }

    /**
     * Returns a connected, non-blocking, TCP_NODELAY channel whose HELLO was accepted, or throws
     * {@link IOException} describing the last failure once {@code deadline} (nanoTime) passed.
     */
    static SocketChannel connect(InetSocketAddress address, ByteBuffer hello, long deadline)
            throws IOException, InterruptedException {
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
                    ByteBuffer out = hello.duplicate().clear();
                    while (out.hasRemaining()) {
                        if (ch.write(out) == 0) {
                            await(selector, key, SelectionKey.OP_WRITE, deadline);
                        }
                    }
                    ByteBuffer ack = ByteBuffer.allocate(ACK_LENGTH);
                    while (ack.hasRemaining()) {
                        int n = ch.read(ack);
                        if (n < 0) {
                            throw new IOException(address + " closed the connection during the handshake");
                        }
                        if (n == 0) {
                            await(selector, key, SelectionKey.OP_READ, deadline);
                        }
                    }
                    if (ack.getInt(MAGIC_OFFSET) != ACK_MAGIC || ack.getShort(VERSION_OFFSET) != VERSION
                            || ack.getShort(ACK_STATUS_OFFSET) != STATUS_ACCEPTED) {
                        throw new IOException(address + " answered the handshake with an unexpected ACK");
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
