package ds.comm.multiprocess;

import static ds.comm.multiprocess.Ranks.gone;
import static ds.comm.multiprocess.Ranks.launch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.RankFailure;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Real rank processes started through {@link ds.comm.tool.Launcher}, rendezvousing over TCP. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
class TopologyMultiProcessTest {

    private static final String PROBE = "ds.comm.tool.scenario.TopologyProbe";
    private static final Duration JOB = Duration.ofSeconds(90);
    private static final Map<String, String> ENV = Map.of("DSCOMM_TIMEOUT", "60s");

    /** Checks that every rank printed the same digest, listing the launcher's pids; returns it. */
    private static String agreedDigest(LaunchResult r, int n) {
        assertTrue(r.succeeded(), () -> "launch failed: " + r.firstFailure());
        String digest = null;
        for (int rank = 0; rank < n; rank++) {
            List<String> d = r.linesOf(rank, "digest=");
            assertEquals(1, d.size(), "rank " + rank + " digest lines: " + r.outputOf(rank));
            if (digest == null) {
                digest = d.getFirst();
            }
            assertEquals(digest, d.getFirst(), "rank " + rank + " holds another table than rank 0");
            assertEquals(List.of("launcher=dscomm rank=" + rank + " size=" + n),
                    r.linesOf(rank, "env ").stream().map(s -> s.substring(0, s.indexOf(" localRank"))).toList());
        }
        assertTrue(digest.startsWith("size=" + n + " token="), digest);
        Matcher m = Pattern.compile("(\\d+) pid=(\\d+)").matcher(digest);
        List<Long> pids = new ArrayList<>();
        while (m.find()) {
            assertEquals(pids.size(), Integer.parseInt(m.group(1)));
            pids.add(Long.parseLong(m.group(2)));
        }
        assertEquals(IntStream.range(0, n).mapToObj(i -> r.pids()[i]).toList(), pids,
                "the table's pids are the processes the launcher started, in rank order");
        return digest;
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {1, 2, 4, 7})
    void everyRankAgreesOnTheTopologyOfOneNode(int n) {
        String world = IntStream.range(0, n).mapToObj(Integer::toString).collect(Collectors.joining(","));
        String ends = n > 1 ? "0," + (n - 1) : "0";
        LaunchResult r = launch(n, 1, JOB, ENV, PROBE, world, ends);
        String digest = agreedDigest(r, n);
        assertEquals(1, digest.split("nodes=\\[")[1].split("] ranks=")[0].split("; ").length, "one node: " + digest);
        for (int rank = 0; rank < n; rank++) {
            List<String> me = r.linesOf(rank, "me ");
            assertEquals(1, me.size());
            assertTrue(me.getFirst().startsWith("rank=" + rank + " localRank=" + rank + " localSize=" + n + " node="),
                    me.getFirst());
            assertEquals(List.of("group=" + world + " local=true nodes=1", "group=" + ends + " local=true nodes=1"),
                    r.linesOf(rank, "").stream().filter(s -> s.startsWith("group=")).toList());
        }
    }

    @Test
    void fourRanksOnTwoSimulatedNodesSplitIntoTwoBlocks() {
        LaunchResult r = launch(4, 2, JOB, ENV, PROBE, "0,1", "1,2", "2,3", "0,1,2,3", "0,2");
        String digest = agreedDigest(r, 4);
        assertTrue(digest.contains("nodes=[simnode0:[0, 1]; simnode1:[2, 3]]"), digest);
        for (int rank = 0; rank < 4; rank++) {
            assertEquals(List.of("rank=" + rank + " localRank=" + rank % 2 + " localSize=2 node=simnode" + rank / 2
                    + " leader=" + (rank / 2) * 2), r.linesOf(rank, "me "));
            assertEquals(List.of("0,1 local=true nodes=1", "1,2 local=false nodes=2", "2,3 local=true nodes=1",
                    "0,1,2,3 local=false nodes=2", "0,2 local=false nodes=2"), r.linesOf(rank, "group="));
        }
    }

    @Test
    void rankThatExitsEarlyMakesTheLauncherStopAllRanks() {
        long start = System.nanoTime();
        LaunchResult r = launch(4, 1, JOB, ENV, PROBE, "--exit-before-rendezvous", "2:3");
        RankFailure f = r.firstFailure().orElseThrow(() -> new AssertionError("the launch did not fail"));
        assertEquals(2, f.rank());
        assertEquals(RankFailure.Kind.EXIT, f.kind());
        assertEquals(3, f.exitCode());
        assertTrue(f.message().contains("rank 2 exited with code 3"), f.message());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30),
                "the others wait in the rendezvous for 60 s unless the launcher stops them");
        for (int rank = 0; rank < 4; rank++) {
            assertTrue(gone(r.pids()[rank]), "rank " + rank + " still runs");
            if (rank != 2) {
                assertNotEquals(0, r.exitCodes()[rank], "rank " + rank + " was stopped, not finished");
            }
        }
    }

    @Test
    void launchTimeoutStopsRanksAndTheirChildren() {
        LaunchResult r = launch(2, 1, Duration.ofSeconds(2), Map.of(), "sh", "-c",
                "sleep 60 & echo child $!; echo rank $RANK of $WORLD_SIZE local $LOCAL_RANK; wait");
        RankFailure f = r.firstFailure().orElseThrow(() -> new AssertionError("the launch did not time out"));
        assertEquals(RankFailure.Kind.TIMEOUT, f.kind());
        assertEquals(0, f.rank(), "lowest rank still running");
        for (int rank = 0; rank < 2; rank++) {
            assertEquals(List.of(rank + " of 2 local " + rank), r.linesOf(rank, "rank "));
            long child = Long.parseLong(r.linesOf(rank, "child ").getFirst());
            assertTrue(gone(child), "the sleep started by rank " + rank + " survived the launcher");
            assertTrue(gone(r.pids()[rank]));
        }
    }
}
