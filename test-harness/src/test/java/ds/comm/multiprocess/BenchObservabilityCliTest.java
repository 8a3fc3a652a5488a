package ds.comm.multiprocess;

import ds.comm.testkit.JsonParser;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
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
 * {@code bin/dscomm bench --jfr} and {@code --format json} as a user runs them: every rank's
 * recording holds exactly one collective event per call the bench makes, and the JSON holds the
 * rows the CSV would.
 */
@Tag("multiprocess")
class BenchObservabilityCliTest {

    private record Run(int exit, List<String> out, String err) {
    }

    private static Run bench(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(CliProcess.dscommCli("bench"));
        cmd.addAll(List.of(args));
        File err = Files.createTempFile("dscomm-bench-err", ".log").toFile();
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err).directory(dir.toFile());
            pb.environment().keySet().removeIf(k -> k.startsWith("DSCOMM_") || k.equals("RANK") || k.equals("WORLD_SIZE"));
            // The JIT warm-up init() runs by default costs seconds per rank JVM on 2 cores;
            // BenchCliTest.initWarmsUpTheCollectivePathOnShmAndRing covers it;
            // a test's env may still ask for it.
            pb.environment().put("DSCOMM_WARMUP", "0");
            Process p = pb.start();
            List<String> out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            if (!p.waitFor(200, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new AssertionError("bench did not finish in time");
            }
            Run r = new Run(p.exitValue(), out, Files.readString(err.toPath()));
            assertEquals(0, r.exit(), () -> "exit " + r.exit() + "\n" + String.join("\n", r.out()) + "\n" + r.err());
            return r;
        } finally {
            Files.deleteIfExists(err.toPath());
        }
    }

    private static long count(List<RecordedEvent> events, String operation, String dtype, long bytes) {
        return events.stream().filter(e -> e.getString("operation").equals(operation)
                && java.util.Objects.equals(e.getString("dtype"), dtype) && e.getLong("bytes") == bytes).count();
    }

    @Test
    @Timeout(240)
    void benchJfrRecordsOneCollectiveEventPerCallOnEveryRank(@TempDir Path dir) throws Exception {
        int iters = 50;
        int warm = 2;
        Run r = bench(dir, "-n", "2", "--backend", "shm", "--pattern", "decode", "--dtype", "fp32,bf16", "--sizes", "16K",
                "--iters", Integer.toString(iters), "--warmup", Integer.toString(warm), "--format", "csv", "--jfr", "out.jfr");
        assertTrue(r.out().getFirst().startsWith("backend,dtype,op"), "the csv stays clean: " + r.out());
        for (int rank = 0; rank < 2; rank++) {
            Path file = dir.resolve("out.rank" + rank + ".jfr");
            assertTrue(Files.isRegularFile(file), "no " + file + "; stderr:\n" + r.err());
            List<RecordedEvent> all = RecordingFile.readAllEvents(file);
            List<RecordedEvent> calls = all.stream().filter(e -> e.getEventType().getName().equals("ds.comm.Collective")).toList();
            // What the bench calls, per rank (see Bench): init()'s agreement (int32 MIN) and the
            // slowest-init MAX; per dtype a JIT warm-up point of 100 x --warmup untimed calls
            // (decode: a barrier, the calls, the gather of its zero times) on the first size (16K
            // is below 64K); per point a barrier, --warmup + --iters calls and the gather of the
            // times; the closing failure count (int32 SUM).
            int warmUpCalls = 100 * warm;
            for (String dtype : List.of("fp32", "bf16")) {
                assertEquals(warmUpCalls + warm + iters, count(calls, "allReduce", dtype, 16384), dtype + " all-reduces");
            }
            assertEquals(4, calls.stream().filter(e -> e.getString("operation").equals("barrier")).count());
            assertEquals(4, calls.stream().filter(e -> e.getString("operation").equals("allGather")).count());
            assertEquals(2, count(calls, "allReduce", "int32", 4), "init's agreement and the failure count");
            assertEquals(1, count(calls, "allReduce", "fp64", 8), "the slowest init()");
            assertEquals(2 + 2 * (1 + warmUpCalls + 1) + 2 * (1 + warm + iters + 1) + 1, calls.size());
            for (RecordedEvent e : calls) {
                assertEquals("shm", e.getString("backend"));
                assertEquals("w", e.getString("group"));
                assertEquals(2, e.getInt("groupSize"));
                assertEquals(rank, e.getInt("rank"));
                assertEquals(rank, e.getInt("worldRank"));
                assertTrue(e.getDuration().toNanos() > 0, e.toString());
                assertTrue(e.getLong("peerWait") >= 0 && e.getLong("peerWait") <= e.getDuration().toNanos(), e.toString());
                if (e.getString("operation").equals("allReduce")) {
                    assertTrue(e.getLong("bytes") > 0 && e.getString("dtype") != null && e.getString("reduceOp") != null,
                            e.toString());
                }
            }
            for (String type : List.of("ds.comm.GroupOpen", "ds.comm.GroupClose")) {
                assertEquals(1, all.stream().filter(e -> e.getEventType().getName().equals(type)).count(), type);
            }
        }
    }

    @Test
    @Timeout(240)
    void benchJsonHoldsTheCsvRowsWithTheCsvColumns(@TempDir Path dir) throws Exception {
        String[] common = {"-n", "2", "--backend", "shm", "--dtype", "fp32,bf16", "--sizes", "4K,64K", "--iters", "5",
                "--warmup", "1", "--check"};
        List<String> csv = bench(dir, concat(common, "--format", "csv")).out();
        Run jsonRun = bench(dir, concat(common, "--format", "json"));
        assertEquals(1, jsonRun.out().size(), "one JSON document on one line: " + jsonRun.out());
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) JsonParser.parse(jsonRun.out().getFirst());
        assertEquals("shm", json.get("backend"));
        assertEquals(new BigDecimal(2), json.get("ranks"));
        assertEquals("sweep", json.get("pattern"));
        assertEquals(Map.of("ranks", new BigDecimal(2), "failures", BigDecimal.ZERO), json.get("check"));
        assertTrue(((BigDecimal) json.get("init_ms")).doubleValue() > 0);
        String[] header = csv.getFirst().split(",");
        List<String[]> csvRows = csv.stream().skip(1).filter(l -> !l.startsWith("#")).map(l -> l.split(",")).toList();
        List<?> rows = (List<?>) json.get("rows");
        assertEquals(csvRows.size(), rows.size());
        assertEquals(4, rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Map<?, ?> row = (Map<?, ?>) rows.get(i);
            assertEquals(List.of(header), List.copyOf(row.keySet()), "the csv's columns, in order");
            // The run's identity columns agree; the timings are of another run.
            for (int c = 0; c <= 6; c++) {
                Object v = row.get(header[c]);
                assertEquals(csvRows.get(i)[c], v instanceof BigDecimal b ? b.toPlainString() : v, header[c]);
            }
            for (int c = 7; c < header.length; c++) {
                if (header[c].equals("collective")) {
                    // The trailing identity column (what --collective timed), as text in both.
                    assertEquals(csvRows.get(i)[c], row.get(header[c]), header[c]);
                    continue;
                }
                assertTrue(row.get(header[c]) instanceof BigDecimal b && b.signum() >= 0, header[c] + " " + row);
            }
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
