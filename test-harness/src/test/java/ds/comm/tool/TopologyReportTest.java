package ds.comm.tool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class TopologyReportTest {

    private record Printed(int exit, String text) {
    }

    private static Printed report(Map<String, String> env) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = TopologyReport.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), env, Path.of("/dev/shm"));
        return new Printed(exit, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void withoutRankVariablesItIsASingleProcess() {
        Printed p = report(Map.of("DSCOMM_NODE_ID", "here"));
        assertEquals(0, p.exit());
        assertEquals("launcher:     none (single process)\nnode:         here\n", p.text().replace(System.lineSeparator(), "\n"));
    }

    @Test
    void malformedLauncherVariablesAreAUsageErrorNamingTheVariable() {
        Printed p = report(Map.of("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "2"));
        assertEquals(2, p.exit());
        assertTrue(p.text().contains("launcher:     error: OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2"),
                p.text());
    }

    @Test
    void launchedWorldOfOneNeedsNoRendezvous() {
        Printed p = report(Map.of("PMI_RANK", "0", "PMI_SIZE", "1"));
        assertEquals(0, p.exit());
        assertTrue(p.text().startsWith("launcher:     mpich (rank 0 of 1, local rank ? of ?)"), p.text());
        assertTrue(p.text().contains("topology:     1 rank, no rendezvous needed"), p.text());
    }

    @Test
    void failedRendezvousIsReportedWithExitOne() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // free, and nobody listens on it once closed
        }
        Printed p = report(Map.of("RANK", "1", "WORLD_SIZE", "2", "MASTER_PORT", Integer.toString(port),
                "DSCOMM_TIMEOUT", "300ms"));
        assertEquals(1, p.exit());
        assertTrue(p.text().contains("rendezvous:   FAILED at 127.0.0.1:" + port), p.text());
    }
}
