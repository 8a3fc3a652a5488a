package ds.comm.multiprocess;

import ds.comm.testkit.TwoHostNetwork;
import ds.comm.tool.RankPrograms;
import ds.comm.tool.scenario.CollectiveScenario;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
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
@Tag("multiprocess")
@Tag("netns")
class NetworkNamespaceTest {

    /** Addresses of the project's own two test hosts, inside namespaces this test creates. */


    private static TwoHostNetwork net;

    @BeforeAll
    static void createTwoHosts() throws Exception {
        net = TwoHostNetwork.create("netns", "10.213.77");
    }

    @AfterAll
    static void removeTwoHosts() throws Exception {
        if (net != null) net.close();
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
        int port = freePort();
        List<Process> ranks = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        try {
            for (int r = 0; r < 4; r++) {
                List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", r < 2 ? net.a : net.b));
                cmd.addAll(RankPrograms.java(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"),
                        CollectiveScenario.class.getName(), scenarioArgs));
                Path log = Files.createTempFile("dscomm-netns-" + r, ".log");
                logs.add(log);
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
                Map<String, String> env = pb.environment();
                env.keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.equals("RANK") || k.equals("WORLD_SIZE"));
                // The JIT warm-up init() runs by default costs seconds per rank JVM on 2 cores;
                // BenchCliTest.initWarmsUpTheCollectivePathOnShmAndRing covers it;
                // a test's env may still ask for it.
                env.put("DSCOMM_WARMUP", "0");
                env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "4", "LOCAL_RANK", "" + (r % 2), "LOCAL_WORLD_SIZE", "2",
                        "MASTER_ADDR", net.addrA, "MASTER_PORT", "" + port, "DSCOMM_NODE_ID", r < 2 ? "host-a" : "host-b",
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
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(net != null, "the two-host network (ip netns) could not be built");
        expectAllPass(run(Map.of(), "--counts", "1,1025,20000", "--dtypes", "fp32,bf16,int64", "--ops", "sum,max",
                "--expect", "hier", "--split-expect", "shm"), "hier");
    }

    @Test
    @Timeout(200)
    void ringCrossesARealLinkWhenShmIsSwitchedOff() throws Exception {
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(net != null, "the two-host network (ip netns) could not be built");
        expectAllPass(run(Map.of("DSCOMM_SHM", "0"), "--counts", "0,1,1025,20000", "--dtypes", "fp32,fp16",
                "--ops", "sum,max", "--expect", "ring", "--split-expect", "ring"), "ring");
    }
}
