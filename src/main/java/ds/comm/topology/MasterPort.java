package ds.comm.topology;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Chooses a rendezvous port (MASTER_PORT) for a job started on this node: by the launcher
 * ({@code bin/dscomm launch}) and by tests that start ranks themselves.
 *
 * <p>Why not a port-0 bind: a port the kernel handed out (bound, then closed again) is free only
 * until the kernel hands it out again, and the ranks themselves take ephemeral ports before rank
 * 0 binds MASTER_PORT (every rank's ring listener, the outgoing connections of a fast rank). A
 * test run once saw rank 2's ring listener get MASTER_PORT's number and rank 0 fail with "Address
 * already in use". A port outside the kernel's ephemeral range is never handed out by the kernel,
 * so only another program binding that very port can still take it.
 */
public final class MasterPort {

    /** Where the kernel's own port choices come from (local ports of connections, port 0 binds). */
    private static final Path EPHEMERAL_RANGE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");

    /** Linux's default ephemeral range, when the file cannot be read. */
    private static final int[] DEFAULT_EPHEMERAL = {32768, 60999};

    /** Lowest port chosen: above the ports services commonly register. */
    public static final int LOWEST = 10_000;

    /** Tries at random ports before falling back to a kernel-chosen one. */
    private static final int ATTEMPTS = 100;

    private MasterPort() {
    }

    /**
     * A loopback port that was free a moment ago, outside the kernel's ephemeral range.
     *
     * @throws UncheckedIOException when no port at all can be bound
     */
    public static int free() {
        return free(ephemeralRange());
    }

    /**
     * A port that was free a moment ago, below {@code ephemeral} (from {@link #LOWEST}) or above
     * it, whichever leaves more room; a kernel-chosen port when neither leaves at least 100.
     *
     * @param ephemeral the kernel's ephemeral range as {lowest, highest}
     */
    public static int free(int[] ephemeral) {
        int below = ephemeral[0] - LOWEST;
        int above = 65535 - ephemeral[1];
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < ATTEMPTS && Math.max(below, above) >= 100; attempt++) {
            int port = below >= above ? LOWEST + random.nextInt(below) : ephemeral[1] + 1 + random.nextInt(above);
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException taken) {
                // Another program's port: try the next.
            }
        }
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port for MASTER_PORT", e);
        }
    }

    /** The kernel's ephemeral port range as {lowest, highest}, or Linux's default. */
    public static int[] ephemeralRange() {
        try {
            String[] f = Files.readString(EPHEMERAL_RANGE).trim().split("\\s+");
            int low = Integer.parseInt(f[0]);
            int high = Integer.parseInt(f[1]);
            if (low >= 1 && low <= high && high <= 65535) return new int[] {low, high};
        } catch (IOException | RuntimeException unreadable) {
            // Not Linux, or no /proc: assume the default.
        }
        return DEFAULT_EPHEMERAL.clone();
    }
}
