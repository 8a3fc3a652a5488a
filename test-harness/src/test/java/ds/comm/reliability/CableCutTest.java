package ds.comm.reliability;

import ds.comm.testkit.TwoHostNetwork;
import ds.comm.tool.RankPrograms;
import ds.comm.tool.scenario.FaultScenario;
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
 * The cable between two hosts is cut in the middle of a ring all-reduce loop: two Linux network
 * namespaces joined by a veth pair, ranks 0 and 1 on host A, rank 2 on host B, the ring forced.
 * Taking B's end of the link down sends nothing to anyone (no FIN, no RST: packets are simply
 * lost), so only the heartbeat can tell. With a 30 s call timeout and a 3 s silence bound, the
 * ranks on A must name rank 2 in a {@code PeerLostException} within the bound plus slack, and
 * rank 2, cut off from both neighbours, must give up the same way naming one of them.
 *
 * <p>Needs root and iproute2 (CI has both); skipped otherwise. The namespaces and the link are
 * removed afterwards, also when the test fails.
 */
@Tag("multiprocess")
@Tag("netns")
class CableCutTest {

    private static final long BOUND_MILLIS = 8_000;


    private static TwoHostNetwork net;

    @BeforeAll
    static void createTwoHosts() throws Exception {
        net = TwoHostNetwork.create("cut", "10.213.78");
    }

    @AfterAll
    static void removeTwoHosts() throws Exception {
        if (net != null) net.close();
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void cuttingTheLinkMidAllReduceMakesEveryRankNameTheOtherSideWithinTheSilenceBound() throws Exception {
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(net != null, "the two-host network (ip netns) could not be built");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();  // ports are per namespace: a free one here is a fair guess there
        }
        List<Process> ranks = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        try {
            for (int r = 0; r < 3; r++) {
                boolean onA = r < 2;
                List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", onA ? net.a : net.b));
                cmd.addAll(RankPrograms.java(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m"),
                        FaultScenario.class.getName(), "loop"));
                Path log = Files.createTempFile("dscomm-cut-" + r, ".log");
                logs.add(log);
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
                Map<String, String> env = pb.environment();
                env.keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.equals("RANK") || k.equals("WORLD_SIZE"));
                // The JIT warm-up init() runs by default costs seconds per rank JVM on 2 cores;
                // BenchCliTest.initWarmsUpTheCollectivePathOnShmAndRing covers it;
                // a test's env may still ask for it.
                env.put("DSCOMM_WARMUP", "0");
                env.putAll(Map.of("RANK", "" + r, "WORLD_SIZE", "3", "LOCAL_RANK", onA ? "" + r : "0",
                        "LOCAL_WORLD_SIZE", onA ? "2" : "1", "MASTER_ADDR", net.addrA, "MASTER_PORT", "" + port,
                        "DSCOMM_NODE_ID", onA ? "host-a" : "host-b", "DSCOMM_BACKEND", "ring",
                        "DSCOMM_TIMEOUT", "30s", "DSCOMM_PEER_LOST_TIMEOUT", "3s"));
                ranks.add(pb.start());
            }
            // Every rank in its all-reduce loop (its heartbeats running) before the cut.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!allContain(logs, "PHASE collectives")) {
                assertTrue(System.nanoTime() - deadline < 0, "ranks never reached their collectives: " + read(logs));
                for (Process p : ranks) {
                    assertTrue(p.isAlive(), "a rank ended before the cut: " + read(logs));
                }
                Thread.sleep(50);
            }
            Thread.sleep(700);
            long cutAt = System.currentTimeMillis();
            assertEquals(0, TwoHostNetwork.sh("ip", "-n", net.b, "link", "set", net.vethB, "down"), "could not cut the link");

            for (Process p : ranks) {
                if (!p.waitFor(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) break;
            }
            String context = read(logs);
            for (int r = 0; r < 3; r++) {
                assertEquals(3, ranks.get(r).isAlive() ? -1 : ranks.get(r).exitValue(),
                        "rank " + r + " must exit with 3 after naming the loss: " + context);
                List<String> lost = Files.readAllLines(logs.get(r)).stream().filter(l -> l.startsWith("LOST "))
                        .map(l -> l.substring(5)).toList();
                assertEquals(1, lost.size(), "rank " + r + ": " + context);
                String[] f = lost.getFirst().split(" ", 4);
                int named = Integer.parseInt(f[0]);
                if (r < 2) {
                    assertEquals(2, named, "rank " + r + " on host A must name rank 2: " + context);
                } else {
                    assertTrue(named == 0 || named == 1, "rank 2 must name a rank of host A: " + context);
                }
                assertEquals("PeerLostException", f[1], "rank " + r + ": " + context);
                long after = Long.parseLong(f[2]) - cutAt;
                assertTrue(after > 0 && after <= BOUND_MILLIS,
                        "rank " + r + " named the other side " + after + " ms after the cut: " + context);
                System.out.println("CableCutTest: rank " + r + " after " + after + " ms: " + f[3]);
            }
        } finally {
            for (Process p : ranks) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            for (Path l : logs) Files.deleteIfExists(l);
        }
    }

    private static boolean allContain(List<Path> logs, String text) throws IOException {
        for (Path l : logs) {
            if (!Files.readString(l).contains(text)) return false;
        }
        return true;
    }

    private static String read(List<Path> logs) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int r = 0; r < logs.size(); r++) {
            b.append("\n--- rank ").append(r).append(":\n").append(Files.readString(logs.get(r)));
        }
        return b.toString();
    }
}
