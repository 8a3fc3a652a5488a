package ds.comm.topology;

import java.io.BufferedReader;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which local user owns the other end of a TCP connection: the proof that a rank on the same
 * node is of the same user, without any secret.
 *
 * <p>Linux lists every TCP socket of the network namespace in {@code /proc/net/tcp} and
 * {@code /proc/net/tcp6}, with its two addresses and the uid that created it (an accepted
 * socket carries its listener's uid). Both ends of a connection between two processes of one
 * node sit in that list; the peer's end is the entry whose local address is our remote one and
 * whose remote address is our local one. Reading it is readable by every user and needs no
 * privileges, and an owner is set by the kernel at socket creation: a process cannot claim
 * another uid's sockets. A connection whose peer end is not listed comes from another network
 * namespace or node: for those only {@code DSCOMM_JOB_SECRET} proves membership.
 *
 * <p>Costs one pass over the tables, which grow with the node's sockets (about 150 bytes a
 * socket): callers look up a batch of connections at once, at connection set-up, never on a
 * data path. Entries of closed sockets the kernel keeps only for TCP's sake (TIME_WAIT and
 * FIN_WAIT2 after close, shown with timer 3, and CLOSE) are skipped: the kernel shows them with
 * uid 0, and no process reads or writes them any more.
 */
public final class SocketOwner {

    /** The peer's end is not in this namespace's tables: another node or network namespace. */
    public static final long NOT_LOCAL = -1;
    /** The tables cannot be read (not Linux, or /proc hidden): nothing can be proven. */
    public static final long UNREADABLE = -2;

    private static final Path[] TABLES = {Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6")};
    /** The "tr" column of a timewait socket (TIME_WAIT or FIN_WAIT2 after close): uid shown as 0. */
    private static final String TIMEWAIT_TIMER = "03";
    private static final String CLOSE = "07";
    private static final String LISTEN = "0A";
    private static final long OWN_UID = readOwnUid();

    private SocketOwner() {
    }

    /**
     * The uid this process's sockets are created with (its file-system uid), or
     * {@link #UNREADABLE} when {@code /proc/self/status} does not say.
     */
    public static long ownUid() {
        return OWN_UID;
    }

    /** One connection, seen from this process: our end and the peer's. */
    public record Connection(InetSocketAddress local, InetSocketAddress remote) {
    }

    /**
     * A batch of connections just accepted, with the uid owning each peer's end.
     *
     * @param channels the accepted channels (still blocking as accepted)
     * @param remotes  each channel's peer address
     * @param owners   each peer's owner, as {@link #ownersOfPeers} gives it
     */
    public record Accepted(List<SocketChannel> channels, List<InetSocketAddress> remotes, long[] owners) {
    }

    /**
     * Accepts what {@code listener} (non-blocking) has pending, at most {@code max}, and looks up
     * who owns the peers in one pass over the socket tables: the listeners that admit only this
     * user's local peers (rendezvous, ring) read the tables once per batch, not per connection.
     * A channel whose addresses cannot be read is closed and left out.
     */
    public static Accepted acceptBatch(ServerSocketChannel listener, int max) throws IOException {
        List<SocketChannel> channels = new ArrayList<>();
        List<Connection> ends = new ArrayList<>();
        SocketChannel ch;
        while (channels.size() < max && (ch = listener.accept()) != null) {
            try {
                ends.add(new Connection((InetSocketAddress) ch.getLocalAddress(), (InetSocketAddress) ch.getRemoteAddress()));
                channels.add(ch);
            } catch (IOException e) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // already unusable
                }
            }
        }
        List<InetSocketAddress> remotes = new ArrayList<>(ends.size());
        for (Connection c : ends) remotes.add(c.remote());
        return new Accepted(channels, remotes, channels.isEmpty() ? new long[0] : ownersOfPeers(ends));
    }

    /** {@link #ownersOfPeers} for one connection. */
    public static long ownerOfPeer(InetSocketAddress local, InetSocketAddress remote) {
        return ownersOfPeers(List.of(new Connection(local, remote)))[0];
    }

    /**
     * The uid owning the peer's end of each connection, in one pass over the tables: a uid,
     * {@link #NOT_LOCAL} or {@link #UNREADABLE}.
     */
    public static long[] ownersOfPeers(List<Connection> connections) {
        long[] owners = new long[connections.size()];
        Arrays.fill(owners, NOT_LOCAL);
        int found = 0;
        boolean readable = false;
        byte[][] peerAddr = new byte[owners.length][];
        byte[][] ourAddr = new byte[owners.length][];
        for (int i = 0; i < owners.length; i++) {
            peerAddr[i] = normalized(connections.get(i).remote().getAddress());
            ourAddr[i] = normalized(connections.get(i).local().getAddress());
        }
        for (Path table : TABLES) {
            try (BufferedReader r = Files.newBufferedReader(table, StandardCharsets.US_ASCII)) {
                readable = true;
                r.readLine(); // column titles
                String line;
                while (found < owners.length && (line = r.readLine()) != null) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 8 || f[3].equals(CLOSE) || f[5].startsWith(TIMEWAIT_TIMER + ":")) continue;
                    int lport = port(f[1]);
                    int rport = port(f[2]);
                    for (int i = 0; i < owners.length; i++) {
                        Connection c = connections.get(i);
                        // The peer's socket: its local end is our remote end, and the reverse.
                        if (owners[i] == NOT_LOCAL && lport == c.remote().getPort() && rport == c.local().getPort()
                                && Arrays.equals(address(f[1]), peerAddr[i]) && Arrays.equals(address(f[2]), ourAddr[i])) {
                            owners[i] = Long.parseLong(f[7]);
                            found++;
                        }
                    }
                }
            } catch (NoSuchFileException e) {
                // no IPv6 (or no /proc): the other table may still answer
            } catch (IOException | RuntimeException e) {
                // unreadable or a format we do not know: not a proof either way
            }
        }
        if (!readable || OWN_UID == UNREADABLE) {
            for (int i = 0; i < owners.length; i++) {
                if (owners[i] == NOT_LOCAL) owners[i] = UNREADABLE;
            }
        }
        return owners;
    }

    /**
     * {@link #ownerOfPeer} for a connection we just opened: the listener's end of it is created
     * when the kernel processes our handshake's last ACK, which on loopback may be a moment after
     * {@code connect} returned. When the peer's address is one of this host's, its entry is
     * awaited up to {@code maxWaitNanos}; for other addresses the answer is immediate.
     */
    public static long ownerOfConnectedPeer(InetSocketAddress local, InetSocketAddress remote, long maxWaitNanos) {
        long owner = ownerOfPeer(local, remote);
        if (owner != NOT_LOCAL || !isOwnAddress(remote.getAddress())) return owner;
        long until = System.nanoTime() + maxWaitNanos;
        while (true) {
            // The listener that accepted us may have closed its end at once (an impostor hangs
            // up on a stranger as fast as we do): the closed end then shows without its owner,
            // but the listening socket that took the connection is still there.
            owner = listenerOwner(remote);
            if (owner != NOT_LOCAL || System.nanoTime() - until >= 0) return owner;
            java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
            owner = ownerOfPeer(local, remote);
            if (owner != NOT_LOCAL) return owner;
        }
    }

    /**
     * The uid of the socket that listens for connections to {@code address}: bound to exactly
     * that address, or else to the wildcard address, on its port. {@link #NOT_LOCAL} if none.
     */
    public static long listenerOwner(InetSocketAddress address) {
        return listenerOwner(address.getPort(), normalized(address.getAddress()));
    }

    /**
     * The uid of the socket listening on {@code port} bound to {@code wanted}, else to the
     * wildcard address; {@code wanted == null} takes the first listener on the port.
     */
    private static long listenerOwner(int port, byte[] wanted) {
        long wildcard = NOT_LOCAL;
        for (Path table : TABLES) {
            try (BufferedReader r = Files.newBufferedReader(table, StandardCharsets.US_ASCII)) {
                r.readLine();
                String line;
                while ((line = r.readLine()) != null) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 8 || !f[3].equals(LISTEN) || port(f[1]) != port) continue;
                    byte[] bound = address(f[1]);
                    if (wanted == null || Arrays.equals(bound, wanted)) return Long.parseLong(f[7]);
                    if (isZero(bound)) wildcard = Long.parseLong(f[7]);
                }
            } catch (IOException | RuntimeException e) {
                // try the other table
            }
        }
        return wildcard;
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) return false;
        }
        return true;
    }

    /** Whether {@code a} is an address of this host (loopback, or of one of its interfaces). */
    public static boolean isOwnAddress(InetAddress a) {
        if (a.isLoopbackAddress() || a.isAnyLocalAddress()) return true;
        try {
            return java.net.NetworkInterface.getByInetAddress(a) != null;
        } catch (java.net.SocketException e) {
            return false;
        }
    }

    /** The uid of the socket listening on TCP {@code port} in this namespace, or {@link #NOT_LOCAL}. */
    public static long listenerOwner(int port) {
        return listenerOwner(port, null);
    }

    /** "uid 1001 (alice)" when the name is known, else "uid 1001". */
    public static String describeUid(long uid) {
        if (uid < 0) return "an unknown user";
        try {
            for (String line : Files.readAllLines(Path.of("/etc/passwd"), StandardCharsets.UTF_8)) {
                String[] f = line.split(":", 4);
                if (f.length >= 3 && f[2].equals(Long.toString(uid))) {
                    return "uid " + uid + " (" + f[0] + ")";
                }
            }
        } catch (IOException | RuntimeException e) {
            // the number alone still says it
        }
        return "uid " + uid;
    }

    /** "HHHHHHHH:PPPP" or 32 hex digits and a port: the port, in hex, network value. */
    private static int port(String endpoint) {
        return Integer.parseInt(endpoint, endpoint.indexOf(':') + 1, endpoint.length(), 16);
    }

    /**
     * The address of a table entry. The kernel prints each 32-bit word of the address as a
     * native-order integer, so on little-endian machines the bytes of each word are reversed.
     * IPv4-mapped IPv6 addresses (Java's dual-stack sockets) come back as their IPv4 address.
     */
    private static byte[] address(String endpoint) {
        int hexDigits = endpoint.indexOf(':');
        byte[] b = new byte[hexDigits / 2];
        boolean little = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
        for (int word = 0; word < b.length / 4; word++) {
            long v = Long.parseLong(endpoint, word * 8, word * 8 + 8, 16);
            for (int k = 0; k < 4; k++) {
                int shift = little ? 8 * k : 24 - 8 * k;
                b[word * 4 + k] = (byte) (v >>> shift);
            }
        }
        return unmapped(b);
    }

    private static byte[] normalized(InetAddress a) {
        return unmapped(a.getAddress());
    }

    private static byte[] unmapped(byte[] b) {
        if (b.length == 16) {
            boolean mapped = b[10] == (byte) 0xff && b[11] == (byte) 0xff;
            for (int i = 0; i < 10 && mapped; i++) mapped = b[i] == 0;
            if (mapped) return Arrays.copyOfRange(b, 12, 16);
        }
        return b;
    }

    private static long readOwnUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.US_ASCII)) {
                if (line.startsWith("Uid:")) {
                    String[] f = line.substring(4).trim().split("\\s+");
                    // real, effective, saved, file-system: sockets are created with the last.
                    return Long.parseLong(f[f.length >= 4 ? 3 : 0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc hidden
        }
        return UNREADABLE;
    }
}
