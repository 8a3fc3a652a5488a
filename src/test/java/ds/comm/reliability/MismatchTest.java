package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mismatched calls (rank 0 differs from the others) raise a clear error on every rank naming
 * what differed, instead of hanging or producing garbage. Real processes, public API, SHM.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class MismatchTest {

    private static List<String> failures(LaunchResult r, int ranks) {
        List<String> out = new ArrayList<>();
        for (int rank = 0; rank < ranks; rank++) {
            List<String> f = Jobs.linesOf(r, rank, "FAILED ");
            assertEquals(1, f.size(), "rank " + rank + " reported no failure: " + r.outputOf(rank));
            out.add(f.getFirst());
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "collective | the collective differs",
            "dtype      | the element type differs",
            "op         | the reduction op differs",
            "count      | the byte count differs",
            "root       | the root differs"})
    void aMismatchedCallFailsOnEveryRankNamingWhatDiffered(String what, String named) {
        int ranks = 3;
        LaunchResult r = Jobs.run(ranks, Duration.ofSeconds(60), Map.of("DSCOMM_TIMEOUT", "10s"),
                System.out::println, Jobs.FAULT, "mismatch", what);
        assertTrue(r.succeeded(), "every rank must get the mismatch error: " + r.firstFailure());
        for (String f : failures(r, ranks)) {
            assertTrue(f.contains("CollectiveMismatchException"), f);
            assertTrue(f.contains(named), "the message must say what differed: " + f);
        }
    }

    @Test
    void aRankCallingOnASubGroupWhileTheOthersCallOnTheWorldFailsEveryRankNamingGroupAndAbsentRanks() {
        int ranks = 4;
        long start = System.nanoTime();
        LaunchResult r = Jobs.run(ranks, Duration.ofSeconds(60), Map.of("DSCOMM_TIMEOUT", "3s"),
                System.out::println, Jobs.FAULT, "mismatch", "subgroup");
        assertTrue(r.succeeded(), "every rank must get an error: " + r.firstFailure());
        List<String> f = failures(r, ranks);
        // Rank 0 waits on the split {0,1} for rank 1, which waits on the world for rank 0: a
        // timeout naming the group and the absent rank, or, once rank 0 gave up and closed its
        // communicators, a lost peer naming it.
        assertTrue(f.get(0).contains("on group w.s1c0 (peer rank 1)") && f.get(0).contains("world ranks [1]"), f.get(0));
        for (int rank = 1; rank < ranks; rank++) {
            assertTrue(f.get(rank).contains("on group w (peer rank 0)"), f.get(rank));
        }
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(40), "bounded by the timeout");
    }
}
