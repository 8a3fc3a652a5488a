package ds.comm.tool;

import ds.comm.testkit.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --format json}: valid JSON, strings escaped, and the same findings as the text form. */
@Timeout(60)
class JsonOutputTest {

    @Test
    void everyStringSurvivesTheRoundTripIncludingQuotesBackslashesAndControlCharacters() {
        String nasty = "a \"quoted\" C:\\path\n\ttab \u0001\u001f \u2028 é 日本 \uD83D\uDE00 </script>";
        String json = new JsonWriter().beginObject().field(nasty, nasty).name("list").beginArray().value(nasty)
                .value(-3).value(1.5, 2).value(Double.NaN).value(true).value((String) null).beginObject().endObject()
                .endArray().endObject().toString();
        assertTrue(json.chars().noneMatch(c -> c < 0x20), "no raw control characters: " + json);
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) JsonParser.parse(json);
        assertEquals(nasty, parsed.get(nasty));
        List<?> list = (List<?>) parsed.get("list");
        assertEquals(nasty, list.get(0));
        assertEquals(new BigDecimal("-3"), list.get(1));
        assertEquals(new BigDecimal("1.50"), list.get(2));
        assertEquals(null, list.get(3), "NaN is not JSON: null");
        assertEquals(Boolean.TRUE, list.get(4));
        assertEquals(Map.of(), list.get(6));
    }

    /** The text form's "label: value" lines, as label -> value. */
    private static Map<String, String> textFindings(DoctorReport report) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        report.printText(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        Map<String, String> out = new HashMap<>();
        for (String line : bytes.toString(StandardCharsets.UTF_8).split("\n")) {
            if (line.startsWith("  ")) continue; // table rows
            int colon = line.indexOf(':');
            out.put(line.substring(0, colon).replace(' ', '_'), line.substring(14));
        }
        return out;
    }

    @Test
    void doctorJsonHoldsExactlyTheTextFindingsAndTheStatus() {
        DoctorReport report = new DoctorReport();
        int status = Doctor.collect(report, Map.of("DSCOMM_NODE_ID", "here", "DSCOMM_SHM_DIR", "/dev/shm"));
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) JsonParser.parse(report.json(status));
        Map<String, String> text = textFindings(report);
        assertEquals(List.of("jdk", "isa", "byte_order", "vectors", "shm", "launcher", "node", "status"),
                List.copyOf(json.keySet()));
        for (var e : text.entrySet()) assertEquals(e.getValue(), json.get(e.getKey()), e.getKey());
        assertEquals("here", json.get("node"));
        assertEquals("none (single process)", json.get("launcher"));
        assertEquals(new BigDecimal(status), json.get("status"));
    }

    @Test
    void doctorJsonUnderALauncherCarriesTheVerifiedTablesAsArrays() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        List<CompletableFuture<DoctorReport>> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Map<String, String> env = Map.of("RANK", Integer.toString(r), "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1",
                    "MASTER_PORT", Integer.toString(port), "DSCOMM_NODE_ID", "n1", "DSCOMM_TIMEOUT", "20s",
                    "DSCOMM_JOB_SECRET", "json-output-test");
            ranks.add(CompletableFuture.supplyAsync(() -> {
                DoctorReport report = new DoctorReport();
                assertEquals(0, TopologyReport.collect(report, env, Path.of("/dev/shm")));
                return report;
            }, command -> Thread.ofPlatform().daemon().start(command)));
        }
        for (int r = 0; r < 2; r++) {
            DoctorReport report = ranks.get(r).get(40, TimeUnit.SECONDS);
            @SuppressWarnings("unchecked")
            Map<String, Object> json = (Map<String, Object>) JsonParser.parse(report.json(0));
            Map<String, String> text = textFindings(report);
            for (String key : List.of("launcher", "node", "rendezvous", "topology")) {
                assertEquals(text.get(key), json.get(key), key);
            }
            List<?> nodes = (List<?>) json.get("nodes");
            assertEquals(1, nodes.size());
            Map<?, ?> node = (Map<?, ?>) nodes.getFirst();
            assertEquals("n1", node.get("node"));
            assertEquals(List.of(BigDecimal.ZERO, BigDecimal.ONE), node.get("ranks"));
            assertEquals(BigDecimal.ZERO, node.get("leader"));
            assertEquals(Boolean.TRUE, node.get("this_rank"));
            List<?> rows = (List<?>) json.get("ranks");
            assertEquals(2, rows.size());
            for (int q = 0; q < 2; q++) {
                Map<?, ?> row = (Map<?, ?>) rows.get(q);
                assertEquals(new BigDecimal(q), row.get("rank"));
                assertTrue(((BigDecimal) row.get("pid")).longValue() > 0);
                assertEquals("127.0.0.1", row.get("address"));
                assertEquals(java.nio.ByteOrder.nativeOrder().toString(), row.get("byte_order"));
            }
        }
    }
}
