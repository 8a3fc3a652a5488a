package ds.comm.reliability;

import ds.comm.testkit.TwoHostNetwork;
import ds.comm.topology.JobSecret;
import ds.comm.topology.SocketOwner;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A flood from another host, which the same-user rule cannot judge: rank 0 on host A, rank 1
 * on host B, and on host B too (the same source address as rank 1, the hardest case) a
 * process holding 200 idle connections to MASTER_PORT and reopening every one dropped. Rank 0
 * keeps at most max(16, world) unauthenticated connections per source and evicts the oldest;
 * rank 1, evicted or not, retries until its deadline. The job (with a secret) must complete,
 * and rank 0's log must stay under 1 MB per minute of flood.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@Tag("multiprocess")
@Tag("netns")
class RemoteFloodTest {

    private TwoHostNetwork net;
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> outputs = new ArrayList<>();

    @BeforeEach
    void network() throws Exception {
        net = TwoHostNetwork.create("flood", "10.213.91");
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (Path o : outputs) Files.deleteIfExists(o);
        if (net != null) net.close();
    }

    /** Starts an {@link Impostor} mode on host {@code ns}, output to a file. */
    private Path on(String ns, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns,
                ProcessHandle.current().info().command().orElseThrow(), "-XX:+UseSerialGC", "-XX:-UsePerfData",
                "-XX:TieredStopAtLevel=1", "-Xmx64m", "-cp", classPath(), Impostor.class.getName()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("dscomm-remote-flood-", ".out");
        outputs.add(out);
        processes.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start());
        return out;
    }

    private static String classPath() throws IOException {
        try {
            return Path.of(SocketOwner.class.getProtectionDomain().getCodeSource().getLocation().toURI()) + ":"
                    + Path.of(Impostor.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
    }

    private static String awaitLine(Path out, String prefix, long seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            for (String line : Files.readAllLines(out)) {
                if (line.startsWith(prefix)) return line;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no line " + prefix + " within " + seconds + " s: " + Files.readString(out));
    }

    private static String tail(Path out) throws IOException {
        String s = Files.readString(out);
        return s.length() <= 3000 ? s : s.substring(s.length() - 3000);
    }

    @Test
    void aFloodFromTheSameHostAsARankLetsTheJobCompleteAndKeepsTheLogSmall() throws Exception {
        String secret = JobSecret.generate();
        String port = "29641";
        long start = System.nanoTime();
        Path flood = on(net.b, "flood", port, "200", "8000", net.addrA);
        Path zero = on(net.a, "rank0", port, "30000", net.addrA, secret);
        Thread.sleep(2000); // the flood is at full strength against a listening rank 0
        Path one = on(net.b, "rank1", port, "25000", net.addrA, secret);
        String joined0;
        String joined1;
        try {
            joined0 = awaitLine(zero, "JOINED", 40);
            joined1 = awaitLine(one, "JOINED", 40);
            assertTrue(processes.getFirst().isAlive(), "rank 1 joined only after the flood was over");
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n--- rank 0:\n" + tail(zero) + "\n--- rank 1:\n" + tail(one)
                    + "\n--- flood:\n" + tail(flood), e);
        }
        assertEquals(joined0, joined1, "both ranks hold the same table");
        double seconds = (System.nanoTime() - start) / 1e9;
        String floodResult = awaitLine(flood, "FLOOD", 30);
        long opened = Long.parseLong(floodResult.replaceAll(".*opened=(\\d+).*", "$1"));
        // It held more than its source's share at some point: rank 0 had to evict to admit it.
        assertTrue(opened > 16, "the flood never reached the per-source bound: " + floodResult);
        long logBytes = Files.size(zero);
        assertTrue(logBytes < 1_000_000 / 60.0 * Math.max(1, seconds), logBytes + " bytes logged by rank 0 in "
                + seconds + " s: " + Files.readString(zero).substring(0, (int) Math.min(2000, logBytes)));
        assertTrue(Files.readString(zero).contains("evicted"), "rank 0 never had to evict: " + Files.readString(zero));
    }
}
