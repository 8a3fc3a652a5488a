package ds.comm.multiprocess;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bin/dscomm bench --collective sendrecv}, {@code bench --async} and
 * {@code demo --parallel pipeline} as a user runs them.
 */
class PointToPointCliTest {

    private record Run(int exit, List<String> out, String err) {
    }

    private static Run tool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(CliProcess.dscommCli(args));
        File err = Files.createTempFile("dscomm-p2p-err", ".log").toFile();
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err);
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
                throw new AssertionError("the tool did not finish in time");
            }
            return new Run(p.exitValue(), out, Files.readString(err.toPath()));
        } finally {
            Files.deleteIfExists(err.toPath());
        }
    }

    private static String context(Run r) {
        return "exit " + r.exit() + "\n" + String.join("\n", r.out()) + "\n" + r.err();
    }

    @Test
    @Timeout(240)
    void sendrecvBenchPrintsOneCheckedAllReduceCompatibleCsvRowPerSizeOnShmAndRing() throws Exception {
        for (String backend : List.of("shm", "ring")) {
            Run r = tool("bench", "-n", "2", "--backend", backend, "--collective", "sendrecv", "--sizes", "0,13,4K,100000",
                    "--iters", "200", "--warmup", "20", "--check", "--format", "csv");
            assertEquals(0, r.exit(), context(r));
            assertEquals("backend,dtype,op,ranks,nodes,bytes,iters,p50_us,p99_us,busbw_gbps,memcpy_us,mean_us,p999_us,max_us,"
                    + "collective", r.out().getFirst(), context(r));
            List<String[]> rows = r.out().stream().skip(1).filter(l -> !l.startsWith("#")).map(l -> l.split(",")).toList();
            assertEquals(4, rows.size(), context(r));
            // fp32 is the default dtype: sizes are cut to whole elements, as in the all-reduce sweep.
            assertEquals(List.of("0", "12", "4096", "100000"), rows.stream().map(c -> c[5]).toList(), context(r));
            for (String[] c : rows) {
                assertEquals(backend, c[0]);
                assertEquals("sendrecv", c[2]);
                assertEquals("sendrecv", c[14], "the trailing collective column");
                assertTrue(Double.parseDouble(c[7]) > 0, context(r));
                // The copy of the same bytes beside every row, as for the collectives.
                if (c[5].equals("100000")) assertTrue(Double.parseDouble(c[10]) > 0, context(r));
            }
            assertTrue(r.out().contains("# check: every message arrived intact"), context(r));
        }
    }

    @Test
    @Timeout(240)
    void asyncBenchReportsTheOverlapRatio() throws Exception {
        Run r = tool("bench", "-n", "2", "--backend", "shm", "--async", "--sizes", "64K", "--iters", "50", "--warmup", "20",
                "--format", "csv");
        assertEquals(0, r.exit(), context(r));
        assertEquals("backend,dtype,ranks,nodes,bytes,iters,allreduce_us,compute_us,sequential_us,overlapped_us,ratio",
                r.out().getFirst(), context(r));
        String[] c = r.out().get(1).split(",");
        assertEquals("65536", c[4]);
        double ratio = Double.parseDouble(c[10]);
        // Not a performance assertion (2 shared cores): the figure exists and is plausible.
        assertTrue(ratio > 0.3 && ratio < 50, context(r));
    }

    @Test
    @Timeout(240)
    void pipelineDemoMatchesOneProcessBitForBitOnTwoStages() throws Exception {
        Run r = tool("demo", "-n", "2", "--parallel", "pipeline", "--layers", "4", "--hidden", "128", "--tokens", "8");
        assertEquals(0, r.exit(), context(r));
        String all = String.join("\n", r.out());
        assertTrue(all.contains("2 stages") && all.contains("bit-identical") && all.contains("PASS"), context(r));
    }

    @Test
    @Timeout(240)
    void expertDemoMatchesOneProcessBitForBitFromSymmetricAndOrdinaryTokenBuffers() throws Exception {
        for (String buffers : new String[] {"symmetric", "copy"}) {
            Run r = tool("demo", "-n", "3", "--parallel", "expert", "--layers", "2", "--hidden", "64", "--tokens", "16",
                    "--buffers", buffers);
            assertEquals(0, r.exit(), context(r));
            String all = String.join("\n", r.out());
            assertTrue(all.contains("expert-parallel") && all.contains("bit-identical to one process: yes")
                    && all.contains("PASS"), context(r));
            assertTrue(all.contains(buffers.equals("symmetric") ? "sent from symmetric tensors" : "sent from ordinary buffers"),
                    context(r));
        }
    }
}
