package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
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
@Tag("multiprocess")
class MismatchTest {

    private static List<String> failures(LaunchResult r, int ranks) {
        List<String> out = new ArrayList<>();
        for (int rank = 0; rank < ranks; rank++) {
            List<String> f = r.linesOf(rank, "FAILED ");
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
    void aRankCallingOnASubGroupWhileTheOthersCallOnTheWorldFailsEveryRankWithAMismatchLongBeforeTheTimeout() {
        int ranks = 4;
        long start = System.nanoTime();
        LaunchResult r = Jobs.run(ranks, Duration.ofSeconds(60), Map.of("DSCOMM_TIMEOUT", "30s"),
                System.out::println, Jobs.FAULT, "mismatch", "subgroup");
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(r.succeeded(), "every rank must get an error: " + r.firstFailure());
        List<String> f = failures(r, ranks);
        for (String line : f) {
            assertTrue(line.contains("CollectiveMismatchException"), line);
        }
        // Rank 0 waits on the split {0,1} for rank 1, which waits on the world for rank 0: each
        // names the other, having found the deadlock itself or heard it from the other.
        assertTrue(f.get(0).startsWith("1 ") && f.get(0).contains("on group w.s1c0"), f.get(0));
        assertTrue(f.get(1).startsWith("0 ") && f.get(1).contains("on group w "), f.get(1));
        assertTrue(String.join("\n", f).contains("the ranks called collectives of different groups in different orders"), f.toString());
        // Ranks 2 and 3, also waiting on the world for rank 0, hear it from rank 0 or rank 1,
        // each of which marks its world segment FAILED naming the other.
        for (int rank = 2; rank < ranks; rank++) {
            assertTrue((f.get(rank).startsWith("0 ") && f.get(rank).contains("found its call mismatched with world rank 0"))
                    || (f.get(rank).startsWith("1 ") && f.get(rank).contains("found its call mismatched with world rank 1")),
                    f.get(rank));
        }
        assertTrue(millis < 20_000, "took " + millis + " ms: found by the cross-group check, not the 30 s timeout");
    }
}
