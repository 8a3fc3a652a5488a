package ds.comm.multiprocess;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every collective through the public API, in real processes started by the launcher, verified
 * exactly and for bit-identity across ranks by {@code CollectiveScenario}.
 *
 * <p>Small SHM thresholds ({@link #SMALL_SHM}) make modest counts cross the one-step/chunked
 * boundary and the chunk size, so every algorithm runs without large buffers.
 */
@Tag("multiprocess")
class CollectiveMultiProcessTest {

    private static final String SCENARIO = "ds.comm.tool.scenario.CollectiveScenario";

    /** 4 KiB one-step threshold, 16 KiB chunks, 256 KiB segments. */
    private static final Map<String, String> SMALL_SHM = Map.of(
            "DSCOMM_SMALL_BYTES", "4K", "DSCOMM_CHUNK_BYTES", "16K", "DSCOMM_SHM_BYTES", "256K");

    /** fp32 elements around 4 KiB (1023..1025), across several 16 KiB chunks (20000), and tiny. */
    private static final String COUNTS = "0,1,7,1023,1024,1025,4099,20000";

    private static void expectPass(LaunchResult r, int ranks) {
        assertTrue(r.succeeded(), () -> "ranks failed: " + r.firstFailure().map(f -> f.message()).orElse("?")
                + "\n" + String.join("\n", r.outputOf(0)));
        for (int rank = 0; rank < ranks; rank++) {
            List<String> pass = r.linesOf(rank, "PASS ");
            assertEquals(1, pass.size(), "rank " + rank + " did not report PASS: " + r.outputOf(rank));
        }
    }

    private static Map<String, String> with(Map<String, String> base, String... kv) {
        var m = new java.util.HashMap<>(base);
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }

    @Test
    @Timeout(240)
    void shmCollectivesOfEveryDtypeAndOpAreExactAndBitIdenticalOnTwoRanks() {
        LaunchResult r = Ranks.launch(2, 1, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", COUNTS, "--expect", "shm", "--split-expect", "shm", "--big", String.valueOf(64L << 20));
        expectPass(r, 2);
    }

    @Test
    @Timeout(240)
    void shmCollectivesAreExactOnThreeAndFourRanksWithConcurrentTpPairs() {
        expectPass(Ranks.launch(3, 1, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", "0,1,1025,20000", "--ops", "sum,max", "--expect", "shm"), 3);
        expectPass(Ranks.launch(4, 1, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", "0,1,1025,20000", "--ops", "sum,prod", "--expect", "shm", "--split-expect", "shm"), 4);
    }

    @Test
    @Timeout(300)
    void shmCollectivesAreExactOnEightRanksSharingTwoCores() {
        expectPass(Ranks.launch(8, 1, Duration.ofSeconds(280), SMALL_SHM,
                SCENARIO, "--counts", "1,1025,20000", "--dtypes", "fp32,bf16,int32", "--ops", "sum,min", "--expect", "shm",
                "--split-expect", "shm"), 8);
    }

    @Test
    @Timeout(240)
    void fourRanksOnTwoNodesUseHierAndTpPairsInsideANodeUseShm() {
        expectPass(Ranks.launch(4, 2, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", "0,1,1025,20000", "--ops", "sum,max", "--expect", "hier", "--split-expect", "shm"), 4);
    }

    @Test
    @Timeout(240)
    void sixRanksOnThreeNodesUseHier() {
        expectPass(Ranks.launch(6, 3, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", "1,1025,20000", "--dtypes", "fp32,bf16,fp16,int64", "--ops", "sum,max",
                "--expect", "hier", "--split-expect", "shm"), 6);
    }

    @Test
    @Timeout(240)
    void threeRanksOnTwoUnevenNodesUseHier() {
        expectPass(Ranks.launch(3, 2, Duration.ofSeconds(220), SMALL_SHM,
                SCENARIO, "--counts", "0,1,1025,20000", "--ops", "sum,max", "--expect", "hier"), 3);
    }

    @Test
    @Timeout(240)
    void theRingServesEveryCollectiveWhenShmIsSwitchedOff() {
        expectPass(Ranks.launch(4, 2, Duration.ofSeconds(220), with(SMALL_SHM, "DSCOMM_SHM", "0"),
                SCENARIO, "--counts", "0,1,7,1025,20000", "--expect", "ring", "--split-expect", "ring"), 4);
    }

    @Test
    @Timeout(240)
    void forcedBackendsServeEveryCollective() {
        expectPass(Ranks.launch(3, 1, Duration.ofSeconds(220), with(SMALL_SHM, "DSCOMM_BACKEND", "ring"),
                SCENARIO, "--counts", "1,1025,20000", "--ops", "sum,max", "--expect", "ring"), 3);
        expectPass(Ranks.launch(4, 2, Duration.ofSeconds(220), with(SMALL_SHM, "DSCOMM_BACKEND", "hier"),
                SCENARIO, "--counts", "1,1025,20000", "--dtypes", "fp32,bf16,fp16", "--ops", "sum,max", "--expect", "hier"), 4);
    }

    @Test
    @Timeout(120)
    void forcingShmOnAGroupThatSpansNodesFailsAtInitOnEveryRank() {
        LaunchResult r = Ranks.launch(2, 2, Duration.ofSeconds(100), with(SMALL_SHM, "DSCOMM_BACKEND", "shm"),
                SCENARIO, "--counts", "1");
        assertTrue(!r.succeeded(), "forced SHM across nodes must fail");
        String all = String.join("\n", r.outputOf(0)) + String.join("\n", r.outputOf(1));
        assertTrue(all.contains("cannot serve ranks 0-1 span 2 nodes"), all);
    }

    @AfterAll
    static void noSegmentIsLeftInDevShm() throws IOException {
        try (Stream<Path> files = Files.list(Path.of("/dev/shm"))) {
            // Segments are named dscomm-<user>-<job>-...; only ours are this test's business.
            String prefix = "dscomm-" + System.getProperty("user.name").replaceAll("[^A-Za-z0-9_]", "_") + "-";
            List<String> left = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).toList();
            assertTrue(left.isEmpty(), "left in /dev/shm: " + left);
        }
    }
}
