package ds.comm.multiprocess;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Point-to-point and non-blocking collectives through the public API, in real processes, on
 * every backend the launcher can give without MPI: SHM (one node), ring (forced), HIER (two
 * simulated nodes: same-node pairs through SHM, cross-node pairs through on-demand ring
 * connections). Failures: size mismatch on both sides, a lost peer, close with outstanding
 * non-blocking calls.
 */
class PointToPointMultiProcessTest {

    private static final String SCENARIO = "ds.comm.tool.scenario.PointToPointScenario";

    private static void expectPass(LaunchResult r, int ranks) {
        assertTrue(r.succeeded(), () -> "ranks failed: " + r.firstFailure().map(f -> f.message()).orElse("?")
                + "\n" + String.join("\n", r.outputOf(0)) + "\n" + String.join("\n", r.outputOf(1)));
        for (int rank = 0; rank < ranks; rank++) {
            assertEquals(1, r.linesOf(rank, "PASS ").size(), "rank " + rank + ": " + r.outputOf(rank));
        }
    }

    /** A job whose ranks may fail on purpose: the launcher does not stop the others. */
    private static LaunchResult faulty(int ranks, Map<String, String> env, String... args) {
        Launcher.Builder b = Launcher.builder().ranks(ranks).timeout(Duration.ofSeconds(60)).jvmOptions(Ranks.FAST_JVM)
                .killGrace(Duration.ofSeconds(1)).captureOutput(true).stopOnFailure(false)
                .output(System.out::println).diagnostics(m -> System.out.println("[launcher] " + m))
                .command(RankPrograms.resolve(SCENARIO, args));
        env.forEach(b::env);
        return b.build().run();
    }

    @Test
    @Timeout(200)
    void everyPairExchangesOverShmAndNonBlockingCollectivesCompleteInOrder() {
        expectPass(Ranks.launch(3, 1, Duration.ofSeconds(180), Map.of(), SCENARIO, "exchange", "shm"), 3);
    }

    @Test
    @Timeout(200)
    void everyPairExchangesOverTheRing() {
        expectPass(Ranks.launch(3, 1, Duration.ofSeconds(180), Map.of("DSCOMM_BACKEND", "ring"),
                SCENARIO, "exchange", "ring"), 3);
    }

    @Test
    @Timeout(200)
    void everyPairExchangesOverHierWithinAndAcrossNodes() {
        expectPass(Ranks.launch(4, 2, Duration.ofSeconds(180), Map.of(), SCENARIO, "exchange", "hier"), 4);
    }

    @Test
    @Timeout(120)
    void aReceiveOfTheWrongSizeFailsOnBothRanksNamingBoth() {
        LaunchResult r = faulty(2, Map.of(), "mismatch");
        for (int rank = 0; rank < 2; rank++) {
            List<String> failed = r.linesOf(rank, "FAILED ");
            assertEquals(1, failed.size(), "rank " + rank + ": " + r.outputOf(rank));
            String line = failed.getFirst();
            assertTrue(line.startsWith("CollectiveMismatchException " + (1 - rank) + " "), line);
            assertTrue(line.contains("group rank 0") && line.contains("group rank 1") && line.contains("4096")
                    && line.contains("4000"), line);
        }
    }

    @Test
    @Timeout(120)
    void aRecvFromARankThatDiesFailsWithPeerLostOnShmAndRing() {
        // The ring learns of a sender that died before connecting from its heartbeat (rank 1 is
        // rank 0's neighbour): a short silence bound keeps the test short.
        for (Map<String, String> env : List.of(Map.<String, String>of(),
                Map.of("DSCOMM_BACKEND", "ring", "DSCOMM_PEER_LOST_TIMEOUT", "2s"))) {
            LaunchResult r = faulty(2, env, "p2plost");
            List<String> lost = r.linesOf(0, "LOST ");
            assertEquals(1, lost.size(), env + ": " + r.outputOf(0));
            assertTrue(lost.getFirst().startsWith("PeerLostException 1 "), lost.getFirst());
            assertEquals(0, r.exitCodes()[0], env + ": " + r.outputOf(0));
        }
    }

    @Test
    @Timeout(120)
    void aNonBlockingAllReduceWhosePeerDiesCompletesExceptionallyWithPeerLost() {
        LaunchResult r = faulty(2, Map.of(), "asynclost");
        List<String> lost = r.linesOf(0, "LOST ");
        assertEquals(1, lost.size(), String.valueOf(r.outputOf(0)));
        assertTrue(lost.getFirst().startsWith("PeerLostException 1 "), lost.getFirst());
        assertEquals(1, r.linesOf(0, "ABORTED ").size(), String.valueOf(r.outputOf(0)));
    }

    @Test
    @Timeout(120)
    void closeWaitsForOutstandingNonBlockingCallsThatComplete() {
        LaunchResult r = faulty(2, Map.of("DSCOMM_TIMEOUT", "5s"), "asyncclose", "late");
        assertEquals(List.of("ok,ok,ok"), r.linesOf(0, "FUTURES "), String.valueOf(r.outputOf(0)));
    }

    @Test
    @Timeout(120)
    void closeFailsOutstandingNonBlockingCallsThatCannotCompleteWithinTheTimeout() {
        LaunchResult r = faulty(2, Map.of("DSCOMM_TIMEOUT", "1500ms"), "asyncclose", "never");
        List<String> futures = r.linesOf(0, "FUTURES ");
        assertEquals(1, futures.size(), String.valueOf(r.outputOf(0)));
        // The first times out; the two queued behind it fail as aborted by it, or, when close's
        // bound ran out first, as abandoned by close: either way none is left pending.
        assertTrue(futures.getFirst().matches("CollectiveTimeoutException(,(CommException|IllegalStateException)){2}"),
                futures.getFirst());
        long closedMillis = Long.parseLong(r.linesOf(0, "CLOSED ").getFirst().trim());
        assertTrue(closedMillis < 5_000, closedMillis + " ms");
    }
}
