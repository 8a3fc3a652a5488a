package ds.comm.portability;

import ds.comm.lanes.Reducers;
import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The x86 half of the portability proof (docs/portability.md): the all-reduce of seeded random
 * inputs gives the same bits whatever vector width the kernels use, so the checksums that
 * test-harness/portability.sh compares against NEON, SVE and s390x runs are not an accident of
 * this machine's width. Each width runs {@code ChecksumScenario} in three real rank processes
 * (three, so that floating-point reduction order could matter) through the launcher, with
 * {@code --symmetric}: at every width the zero-copy all-reduce of a symmetric tensor must give
 * the copy path's bits too.
 */
@Tag("multiprocess")
class VectorWidthChecksumTest {

    private static final String SCENARIO = "ds.comm.tool.scenario.ChecksumScenario";

    /** Tails below and above one vector at every width, an odd length, and one past the small-message limit. */
    private static final String COUNTS = "1,17,33,4099,70001";

    /** Short-lived ranks: skip the optimising compiler and the parallel GC's start-up. */
    private static final List<String> FAST_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-XX:-UsePerfData");

    @Test
    @Timeout(300)
    void shmAllReduceChecksumsAreTheSameAtEveryVectorWidthAndScalar() {
        List<Integer> widths = new ArrayList<>(List.of(0));
        for (int bits : new int[]{64, 128, 256, 512}) {
            if (bits <= Reducers.maxBits()) widths.add(bits);
        }
        assertTrue(widths.size() >= 2, "this JVM offers no vector width to compare with the scalar reference");
        Map<String, String> scalar = checksums("shm", 0);
        assertEquals(6 * 4 * COUNTS.split(",").length + 6 * COUNTS.split(",").length + 1, scalar.size(),
                "one checksum per all-reduce case, one per allToAll case, plus the combined one");
        for (int bits : widths.subList(1, widths.size())) {
            assertSameChecksums(scalar, checksums("shm", bits), "shm at " + bits + " bits");
        }
    }

    @Test
    @Timeout(120)
    void ringAllReduceChecksumsAreTheSameScalarAndAtThePreferredWidth() {
        assertTrue(Reducers.maxBits() > 0, "this JVM offers no vector width to compare with the scalar reference");
        assertSameChecksums(checksums("ring", 0), checksums("ring", Reducers.maxBits()),
                "ring at " + Reducers.maxBits() + " bits");
    }

    /** Names every case whose checksum differs, so a failure says which dtype and op broke. */
    private static void assertSameChecksums(Map<String, String> expected, Map<String, String> actual, String what) {
        List<String> differ = new ArrayList<>();
        expected.forEach((k, v) -> {
            if (!v.equals(actual.get(k))) differ.add(k + ": scalar " + v + ", " + what + " " + actual.get(k));
        });
        assertEquals(expected.keySet(), actual.keySet(), what + ": different cases");
        assertTrue(differ.isEmpty(), what + " differs from scalar in " + differ.size() + " cases:\n" + String.join("\n", differ));
    }

    /** Rank 0's {@code checksum <dtype> <op> <count> <hex>} lines as "dtype op count" to hex. */
    private static Map<String, String> checksums(String backend, int vectorBits) {
        List<String> lines = new ArrayList<>();
        LaunchResult r = Launcher.builder().ranks(3).nodes(1).timeout(Duration.ofSeconds(100)).jvmOptions(FAST_JVM)
                .killGrace(Duration.ofSeconds(2)).captureOutput(true).output(lines::add).diagnostics(lines::add)
                .env("DSCOMM_BACKEND", backend).env("DSCOMM_VECTOR_BITS", String.valueOf(vectorBits))
                .command(RankPrograms.resolve(SCENARIO, "--seed", "7", "--counts", COUNTS, "--symmetric"))
                .build().run();
        assertTrue(r.succeeded(), () -> backend + " at " + vectorBits + " bits failed: "
                + r.firstFailure().map(f -> f.message()).orElse("?") + "\n" + String.join("\n", lines));
        // --symmetric: every case also ran on a slice of the symmetric tensor (zero-copy on SHM)
        // and gave the copy path's bits, or the scenario would have failed.
        assertTrue(r.outputOf(0).stream().anyMatch(l -> l.matches("symmetric \\d+ cases bit-identical to the copy path")),
                () -> backend + " at " + vectorBits + " bits: no symmetric verdict\n" + String.join("\n", lines));
        Map<String, String> sums = new LinkedHashMap<>();
        for (String line : r.outputOf(0)) {
            String[] f = line.split(" ");
            if (f.length == 5 && f[0].equals("checksum")) sums.put(f[1] + " " + f[2] + " " + f[3], f[4]);
        }
        return sums;
    }
}
