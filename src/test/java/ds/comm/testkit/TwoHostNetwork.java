package ds.comm.testkit;


import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Two "hosts" on one machine for multi-node tests: two Linux network namespaces joined by a veth
 * pair, with addresses {@code <subnet>.1} (host A) and {@code <subnet>.2} (host B). Processes run
 * on a host through {@code ip netns exec}; taking a link end down cuts the cable without a FIN or
 * RST. Needs root and iproute2; {@link #create} aborts the calling test (skips it) otherwise.
 * Names carry this JVM's pid, so concurrent test JVMs do not collide.
 */
public final class TwoHostNetwork implements AutoCloseable {

    /** Namespace names of host A and host B. */
    public final String a;
    public final String b;
    /** Addresses of host A and host B. */
    public final String addrA;
    public final String addrB;
    /** Veth ends inside A and inside B. */
    public final String vethA;
    public final String vethB;

    private TwoHostNetwork(String tag, String subnet) {
        long pid = ProcessHandle.current().pid();
        this.a = "dscomm-" + tag + "-a-" + pid;
        this.b = "dscomm-" + tag + "-b-" + pid;
        this.addrA = subnet + ".1";
        this.addrB = subnet + ".2";
        // Interface names are at most 15 bytes.
        this.vethA = tag.charAt(0) + "a" + (pid % 100000);
        this.vethB = tag.charAt(0) + "b" + (pid % 100000);
    }

    /**
     * Builds both hosts and the link between them.
     *
     * @param tag    short name for the namespaces and interfaces (its first letter names the veth ends)
     * @param subnet first three octets of a /24 no other test uses, e.g. "10.213.77"
     */
    public static TwoHostNetwork create(String tag, String subnet) throws IOException, InterruptedException {
        TwoHostNetwork n = new TwoHostNetwork(tag, subnet);
        boolean root = "root".equals(System.getProperty("user.name"));
        boolean ip = Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"));
        if (!root || !ip || sh("ip", "netns", "add", n.a) != 0) {
            String msg = "!!! SKIPPING " + tag + ": needs root and iproute2 (ip netns) !!!";
            System.err.println(msg);
            RequiredEnvironment.skip(msg);
        }
        boolean ok = sh("ip", "netns", "add", n.b) == 0
                && sh("ip", "link", "add", n.vethA, "type", "veth", "peer", "name", n.vethB) == 0
                && sh("ip", "link", "set", n.vethA, "netns", n.a) == 0
                && sh("ip", "link", "set", n.vethB, "netns", n.b) == 0
                && sh("ip", "-n", n.a, "addr", "add", n.addrA + "/24", "dev", n.vethA) == 0
                && sh("ip", "-n", n.b, "addr", "add", n.addrB + "/24", "dev", n.vethB) == 0
                && sh("ip", "-n", n.a, "link", "set", n.vethA, "up") == 0
                && sh("ip", "-n", n.b, "link", "set", n.vethB, "up") == 0
                && sh("ip", "-n", n.a, "link", "set", "lo", "up") == 0
                && sh("ip", "-n", n.b, "link", "set", "lo", "up") == 0;
        if (!ok) {
            n.close();
            throw new IllegalStateException("could not build the two-namespace network " + n.a + " / " + n.b);
        }
        return n;
    }

    /** Runs a command, logging its output when it fails; bounded to 20 s. */
    public static int sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        if (p.exitValue() != 0) System.err.println(String.join(" ", cmd) + " -> " + p.exitValue() + ": " + out);
        return p.exitValue();
    }

    /** Removes both namespaces; deleting a namespace deletes the veth end inside it, and with it the pair. */
    @Override
    public void close() throws IOException, InterruptedException {
        sh("ip", "netns", "delete", a);
        sh("ip", "netns", "delete", b);
    }
}
