package ds.comm.topology;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * This node's identity: two ranks may share memory only if their identities are equal.
 *
 * <p>Computed from facts rather than launcher hints, as {@code host/boot/shm}:
 * <ul>
 *   <li>the host name ({@code /proc/sys/kernel/hostname}, else {@code HOSTNAME}, else the JDK's
 *       local host name), which separates machines;</li>
 *   <li>the kernel boot id ({@code /proc/sys/kernel/random/boot_id}, dashes removed), which
 *       separates two machines or VMs that happen to share a host name;</li>
 *   <li>the device number of the SHM directory ({@code unix:dev} of /dev/shm), which separates
 *       containers on one kernel that each mount their own tmpfs at /dev/shm and so cannot see
 *       each other's segments even though host name and boot id may be equal.</li>
 * </ul>
 * {@code DSCOMM_NODE_ID} overrides all of it, e.g. to simulate several nodes on one machine.
 */
public final class NodeIdentity {

    private static final Path HOSTNAME = Path.of("/proc/sys/kernel/hostname");
    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");

    private NodeIdentity() {
    }

    /**
     * @param env    environment variables (only DSCOMM_NODE_ID and HOSTNAME are read)
     * @param shmDir the directory where shared-memory segments are created, normally /dev/shm
     * @return DSCOMM_NODE_ID when set and valid, else {@code host/bootid/dev-hex}
     * @throws LaunchEnvException when DSCOMM_NODE_ID is malformed
     */
    public static String detect(Map<String, String> env, Path shmDir) {
        Objects.requireNonNull(env, "env");
        Objects.requireNonNull(shmDir, "shmDir");
        // Same validation as LaunchEnv, so a bad value fails the same way from either entry point.
        String override = LaunchEnv.parseNodeId(env);
        if (override != null) {
            return override;
        }
        return sanitize(hostName(env)) + "/" + bootId() + "/" + shmDevice(shmDir);
    }

    /**
     * Whether {@code DSCOMM_NODE_ID} sets the identity (validated as {@link #detect} does): then
     * node identities need not follow machines, e.g. several simulated nodes on one.
     */
    public static boolean overridden(Map<String, String> env) {
        return LaunchEnv.parseNodeId(Objects.requireNonNull(env, "env")) != null;
    }

    private static String hostName(Map<String, String> env) {
        String h = firstLine(HOSTNAME);
        if (h == null || h.isEmpty()) {
            h = env.get("HOSTNAME");
        }
        if (h == null || h.isBlank()) {
            try {
                h = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                h = "unknown-host";
            }
        }
        return h.strip();
    }

    /** The boot id without dashes; "noboot" where the kernel does not expose one. */
    private static String bootId() {
        String b = firstLine(BOOT_ID);
        return b == null || b.isEmpty() ? "noboot" : sanitize(b.replace("-", "").toLowerCase(Locale.ROOT));
    }

    /** The device number of the SHM directory in hex; "nodev" when the file system does not say. */
    private static String shmDevice(Path shmDir) {
        try {
            Object dev = Files.getAttribute(shmDir, "unix:dev");
            return dev instanceof Long l ? Long.toHexString(l) : "nodev";
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException e) {
            // No such directory or no unix view: ranks then differ only by host and boot id,
            // and the SHM backend will report the directory problem itself.
            return "nodev";
        }
    }

    private static String firstLine(Path p) {
        try {
            String s = Files.readString(p, StandardCharsets.UTF_8);
            int nl = s.indexOf('\n');
            return (nl >= 0 ? s.substring(0, nl) : s).strip();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }

    /** Keeps identities printable and within the rendezvous string bound. */
    private static String sanitize(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 255));
        for (int i = 0; i < s.length() && b.length() < 255; i++) {
            char c = s.charAt(i);
            b.append(c > 0x20 && c < 0x7f && c != '/' ? c : '_');
        }
        return b.isEmpty() ? "_" : b.toString();
    }
}
