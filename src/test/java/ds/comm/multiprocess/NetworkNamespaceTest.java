package ds.comm.multiprocess;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real network between two hosts: two Linux network namespaces joined by a veth pair, each
 * with its own address, two ranks in each, different node identities. The rendezvous and the
 * ring cross the veth link; inside each namespace the two ranks share memory.
 *
 * <p>Needs root and iproute2 (CI installs it and runs as root). The namespaces and the link are
 * removed afterwards, also when a test fails.
 */
class NetworkNamespaceTest {

    private static final String A = "dscomm-a-" + ProcessHandle.current().pid();
    private static final String B = "dscomm-b-" + ProcessHandle.current().pid();
    /** Addresses of the project's own two test hosts, inside namespaces this test creates. */
    private static final String ADDR_A = "10.213.77.1";
    private static final String ADDR_B = "10.213.77.2";

    private static boolean ready;

    private static int sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        if (p.exitValue() != 0) System.err.println(String.join(" ", cmd) + " -> " + p.exitValue() + ": " + out);
        return p.exitValue();
    }

    @BeforeAll
    static void createTwoHosts() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        boolean ip = Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"));
        if (!root || !ip || sh("ip", "netns", "add", A) != 0) {
            String msg = "!!! SKIPPING the network-namespace test: needs root and iproute2 (ip netns) !!!";
            System.err.println(msg);
            Assumptions.abort(msg);
        }
        String vethA = "dsa" + (ProcessHandle.current().pid() % 100000);
        String vethB = "dsb" + (ProcessHandle.current().pid() % 100000);
        boolean ok = sh("ip", "netns", "add", B) == 0
                && sh("ip", "link", "add", vethA, "type", "veth", "peer", "name", vethB) == 0
                && sh("ip", "link", "set", vethA, "netns", A) == 0
                && sh("ip", "link", "set", vethB, "netns", B) == 0
                && sh("ip", "-n", A, "addr", "add", ADDR_A + "/24", "dev", vethA) == 0
                && sh("ip", "-n", B, "addr", "add", ADDR_B + "/24", "dev", vethB) == 0
                && sh("ip", "-n", A, "link", "set", vethA, "up") == 0
                && sh("ip", "-n", B, "link", "set", vethB, "up") == 0
                && sh("ip", "-n", A, "link", "set", "lo", "up") == 0
                && sh("ip", "-n", B, "link", "set", "lo", "up") == 0;
        assertTrue(ok, "could not build the two-namespace network");
        ready = true;
    }

    @AfterAll
    static void removeTwoHosts() throws Exception {
        // Deleting a namespace deletes the veth end inside it, and with it the pair.
        sh("ip", "netns", "delete", A);
        sh("ip", "netns", "delete", B);
    }

    private static int freePort() {
        // Ports are per namespace; one free in the host's is as good a guess as any and the
        // rendezvous fails clearly if it is taken.
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts 4 ranks, 0-1 in namespace A, 2-3 in namespace B; returns each rank's output. */
    private static List<String> run(Map<String, String> extra, String... scenarioArgs) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        String classes = System.getProperty("dscomm.classes", "target/classes");
        int port = freePort();
        List<Process> ranks = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        try {
            for (int r = 0; r < 4; r++) {
                List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", r < 2 ? A : B, java.toString(),
                        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "--enable-native-access=ds.comm",
                        "--module-path", classes, "-m", "ds.comm/ds.comm.tool.scenario.CollectiveScenario"));
                cmd.addAll(List.of(scenarioArgs));
                Path log = Files.createTempFile("dscomm-netns-" + r, ".log");
                logs.add(log);
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
                Map<String, String> env = pb.environment();
                env.keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.equals("RANK") || k.equals("WORLD_SIZE"));
                env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "4", "LOCAL_RANK", "" + (r % 2), "LOCAL_WORLD_SIZE", "2",
                        "MASTER_ADDR", ADDR_A, "MASTER_PORT", "" + port, "DSCOMM_NODE_ID", r < 2 ? "host-a" : "host-b",
                        "DSCOMM_TIMEOUT", "60s"));
                env.putAll(extra);
                ranks.add(pb.start());
            }
            List<String> out = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
            for (int r = 0; r < 4; r++) {
                Process p = ranks.get(r);
                long left = Math.max(1, deadline - System.nanoTime());
                if (!p.waitFor(left, TimeUnit.NANOSECONDS)) {
                    out.add("rank " + r + " TIMED OUT");
                } else {
                    out.add("rank " + r + " exit " + p.exitValue());
                }
                out.add(Files.readString(logs.get(r)));
            }
            return out;
        } finally {
            for (Process p : ranks) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            for (Path l : logs) Files.deleteIfExists(l);
        }
    }

    private static void expectAllPass(List<String> out, String backend) {
        String all = String.join("\n", out);
        for (int r = 0; r < 4; r++) {
            assertEquals("rank " + r + " exit 0", out.get(2 * r), all);
            assertTrue(out.get(2 * r + 1).contains("PASS ") && out.get(2 * r + 1).contains("backend " + backend), all);
        }
    }

    @Test
    @Timeout(200)
    void hierarchicalAllReduceCrossesARealLinkBetweenTwoHosts() throws Exception {
        Assumptions.assumeTrue(ready);
        expectAllPass(run(Map.of(), "--counts", "1,1025,20000", "--dtypes", "fp32,bf16,int64", "--ops", "sum,max",
                "--expect", "hier", "--split-expect", "shm"), "hier");
    }

    @Test
    @Timeout(200)
    void ringCrossesARealLinkWhenShmIsSwitchedOff() throws Exception {
        Assumptions.assumeTrue(ready);
        expectAllPass(run(Map.of("DSCOMM_SHM", "0"), "--counts", "0,1,1025,20000", "--dtypes", "fp32,fp16",
                "--ops", "sum,max", "--expect", "ring", "--split-expect", "ring"), "ring");
    }
}
