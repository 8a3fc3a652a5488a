package ds.comm.topology;

import static ds.comm.topology.RendezvousDescriptor.HEADER_BYTES;
import static ds.comm.topology.RendezvousDescriptor.TYPE_ERROR;
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
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Every rank's side of the rendezvous (rank 0's too): connect to rank 0 with retries until the
 * deadline, send HELLO, wait for the TABLE or an ERROR. Blocking sockets with a timeout set
 * before each call to the time left, so no call outlives the deadline.
 */
final class RendezvousClient {

    /** Longest single connect attempt; later attempts still fit the overall deadline. */
    private static final long CONNECT_ATTEMPT_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private RendezvousClient() {
    }

    static Topology exchange(LaunchEnv env, String nodeId, int ringPort, long deadline) {
        String where = env.masterAddr() + ":" + env.masterPort();
        try (Socket socket = connect(env, where, deadline)) {
            socket.setTcpNoDelay(true);
            // The address this socket uses towards rank 0 is one that rank 0 (and so, in a routed
            // network, the other ranks) can reach; that is where our ring listener is announced.
            RankRecord self = new RankRecord(env.rank(), nodeId,
                    new InetSocketAddress(socket.getLocalAddress(), ringPort), ProcessHandle.current().pid(),
                    ByteOrder.nativeOrder(), env.localSize());
            ByteBuffer hello = RendezvousCodec.hello(env.worldSize(), self);
            OutputStream out = socket.getOutputStream();
            out.write(hello.array(), hello.arrayOffset() + hello.position(), hello.remaining());
            out.flush();
            return awaitAnswer(env, socket, self, where, deadline);
        } catch (IOException e) {
            throw new RendezvousException("rank " + env.rank() + ": rendezvous with rank 0 at " + where + " failed: " + e,
                    e);
        }
    }

    private static Socket connect(LaunchEnv env, String where, long deadline) {
        long backoff = TimeUnit.MILLISECONDS.toNanos(10);
        Exception last = null;
        int attempts = 0;
        while (true) {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new RendezvousException("rank " + env.rank() + " could not reach rank 0's rendezvous at " + where
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
            } catch (IOException e) {
                // Refused: rank 0 is not listening yet. Timed out or unreachable: maybe not yet either.
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

    private static Topology awaitAnswer(LaunchEnv env, Socket socket, RankRecord self, String where, long deadline)
            throws IOException {
        InputStream in = socket.getInputStream();
        byte[] header = new byte[HEADER_BYTES];
        try {
            readFully(socket, in, header, deadline);
        } catch (SocketTimeoutException e) {
            throw new RendezvousException("rank " + env.rank() + " got no answer from rank 0 at " + where + " within "
                    + env.timeout().toMillis() + " ms: some ranks never arrived (rank 0 reports which) or rank 0 is stuck");
        } catch (EOFException e) {
            throw new RendezvousException("rank " + env.rank() + ": rank 0 at " + where
                    + " closed the rendezvous connection without an answer (it failed or was stopped)");
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
        byte[] body = new byte[h.bodyLength()];
        try {
            readFully(socket, in, body, deadline);
        } catch (SocketTimeoutException | EOFException e) {
            throw new RendezvousException("rank " + env.rank() + ": rank 0's answer was cut short (" + e + ")");
        }
        try {
            if (h.type() == TYPE_ERROR) {
                throw new RendezvousException("rank " + env.rank() + ": rendezvous failed at rank 0: "
                        + RendezvousCodec.decodeError(ByteBuffer.wrap(body)));
            }
            RendezvousCodec.Table t = RendezvousCodec.decodeTable(ByteBuffer.wrap(body), env.worldSize());
            RankRecord mine = t.records().get(env.rank());
            // Address equality is not compared: a scoped IPv6 address may not survive the round trip.
            if (mine.pid() != self.pid() || !mine.nodeId().equals(self.nodeId())
                    || mine.ringAddress().getPort() != self.ringAddress().getPort()) {
                throw new RendezvousException("rank " + env.rank() + ": rank 0's table says this rank is " + mine
                        + " but it announced " + self);
            }
            return new Topology(env.rank(), HexFormat.of().formatHex(t.token()), t.records());
        } catch (RendezvousCodec.MalformedFrameException e) {
            throw new RendezvousException("rank " + env.rank() + ": malformed answer from rank 0: " + e.getMessage());
        }
    }

    /** Reads exactly {@code buf.length} bytes; each read may block only for the time left. */
    private static void readFully(Socket s, InputStream in, byte[] buf, long deadline) throws IOException {
        int off = 0;
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
