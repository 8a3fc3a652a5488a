package ds.comm.mpi;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MPI backend end to end: {@code MpiScenario} under Open MPI's mpirun (2 ranks, and 4 ranks
 * oversubscribed on this 2-core machine) and MPICH's hydra (2 ranks). The scenario checks every
 * collective, element type and op against a reference and across ranks, and provokes an error
 * that MPI detects (an invalid root). Each launch runs once and several tests read its output.
 * A separate launch per family checks that a collective a peer never joins ends the job after
 * the group timeout (the watchdog) instead of hanging.
 * Skipped, loudly, only when the launcher is not installed.
 */
@Timeout(value = 150)
@Tag("multiprocess")
@Tag("mpi")
class MpiBackendTest {

    private static final long DEADLINE_SECONDS = 120;
    private static final Pattern DONE = Pattern.compile("DONE rank (\\d+)/(\\d+): (\\d+) passed, (\\d+) failed");
    /** Fewer checks than this per rank would mean the scenario silently skipped a section. */
    private static final int MIN_CHECKS_PER_RANK = 150;

    private record Launch(MpiLaunch.Launcher launcher, int ranks) {
    }

    private static final Map<Launch, MpiLaunch.Result> RESULTS = new ConcurrentHashMap<>();

    @Test
    void everyCollectiveTypeAndOpIsCorrectAndBitIdenticalOnTwoOpenMpiRanks() {
        assertEveryCheckPassed(MpiLaunch.Launcher.OPEN_MPI, 2);
    }

    @Test
    void everyCollectiveTypeAndOpIsCorrectAndBitIdenticalOnFourOversubscribedOpenMpiRanks() {
        assertEveryCheckPassed(MpiLaunch.Launcher.OPEN_MPI, 4);
    }

    @Test
    void everyCollectiveTypeAndOpIsCorrectAndBitIdenticalOnTwoMpichRanks() {
        assertEveryCheckPassed(MpiLaunch.Launcher.MPICH, 2);
    }

    @Test
    void invalidRootDetectedByOpenMpiBecomesCommFailureWithMpiErrorText() {
        assertErrorSurfaced(MpiLaunch.Launcher.OPEN_MPI, "MPI_ERR_ROOT: invalid root");
    }

    @Test
    void invalidRootDetectedByMpichBecomesCommFailureWithMpiErrorText() {
        assertErrorSurfaced(MpiLaunch.Launcher.MPICH, "Invalid root");
    }

    @Test
    void collectiveAPeerNeverJoinsAbortsTheOpenMpiJobAfterTheTimeoutWithAnExplanation() throws IOException {
        assertHangIsAborted(MpiLaunch.Launcher.OPEN_MPI);
    }

    @Test
    void collectiveAPeerNeverJoinsAbortsTheMpichJobAfterTheTimeoutWithAnExplanation() throws IOException {
        assertHangIsAborted(MpiLaunch.Launcher.MPICH);
    }

    @Test
    void allReduceAndTheExchangesAllocateNothingPerCallOnAnyPathOnceCompiled() throws IOException {
        String exe = launcherOrSkip(MpiLaunch.Launcher.OPEN_MPI);
        // C2 (no TieredStopAtLevel): escape analysis is part of what is under test.
        MpiLaunch.Result r = MpiLaunch.ranks(MpiLaunch.Launcher.OPEN_MPI, exe, 2, List.of("-XX:+UseSerialGC"),
                MpiLaunch.mainClasses() + File.pathSeparator + testClasses(), MpiAllocationProbe.class.getName(),
                DEADLINE_SECONDS);
        String out = r.output();
        assertEquals(0, r.exitCode(), out);
        List<String> lines = r.lines("ALLOC");
        assertEquals(12, lines.size(), "6 paths x 2 ranks:\n" + out);
        for (String line : lines) {
            double bytesPerCall = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            // < 1 B/call over 1,000 calls tolerates a one-off allocation (a deoptimisation), not a per-call one.
            assertTrue(bytesPerCall < 1.0, line);
        }
    }

    @Test
    void mpiInitialisedByTheHostWithSerializedThreadsIsAdoptedSerialisedAndLeftRunning() throws IOException {
        for (MpiLaunch.Launcher launcher : MpiLaunch.Launcher.values()) {
            String exe = launcherOrSkip(launcher);
            MpiLaunch.Result r = MpiLaunch.ranks(launcher, exe, 2, MpiLaunch.QUICK_START,
                    MpiLaunch.mainClasses() + File.pathSeparator + testClasses(), MpiHostedProbe.class.getName(),
                    DEADLINE_SECONDS);
            String out = r.output();
            assertEquals(List.of(), r.lines("FAIL"), launcher + ":\n" + out);
            assertEquals(0, r.exitCode(), launcher + ":\n" + out);
            assertEquals(8, r.lines("PASS").size(), launcher + ": 4 checks x 2 ranks:\n" + out);
            assertTrue(out.contains("thread level 2"), launcher + ": the host asked for MPI_THREAD_SERIALIZED:\n" + out);
        }
    }

    private static String testClasses() {
        return Path.of(URI.create(MpiBackendTest.class.getProtectionDomain().getCodeSource().getLocation().toString()))
                .toString();
    }

    /** Rank 0 stays away for 60 s; the group timeout is 2 s; the job must end long before 60 s. */
    private static void assertHangIsAborted(MpiLaunch.Launcher launcher) throws IOException {
        String exe = launcherOrSkip(launcher);
        long t0 = System.nanoTime();
        MpiLaunch.Result r = MpiLaunch.scenario(launcher, exe, 2, DEADLINE_SECONDS, "hang");
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        String out = r.output();
        assertTrue(r.exitCode() != 0 && r.exitCode() != -1, "the launcher must report the abort:\n" + out);
        assertTrue(out.contains("ds-comm mpi: rank 1: barrier() on group w has not completed after"), out);
        assertTrue(out.contains("MPI_Abort " + MpiWatchdog.ABORT_CODE), out);
        assertEquals(List.of(), r.lines("FAIL"), "no rank may outlive the abort:\n" + out);
        assertTrue(seconds < 45, "took " + seconds + " s; rank 0 was away for 60 s:\n" + out);
    }

    private static String launcherOrSkip(MpiLaunch.Launcher launcher) {
        String exe = launcher.find();
        if (exe == null) {
            String msg = "!!! SKIPPING " + launcher.family + " test: no " + String.join("/", launcher.executables)
                    + " on PATH (install openmpi-bin / mpich) — the MPI backend is NOT tested here !!!";
            System.err.println(msg);
            ds.comm.testkit.RequiredEnvironment.skip(msg);
        }
        return exe;
    }

    private static MpiLaunch.Result launch(MpiLaunch.Launcher launcher, int ranks) {
        String exe = launcherOrSkip(launcher);
        return RESULTS.computeIfAbsent(new Launch(launcher, ranks), l -> {
            try {
                // Two ranks: the default staging chunk (every heap buffer in one piece). Otherwise a
                // 1000-byte chunk, so every heap and 16-bit check loops over several pieces.
                String chunk = launcher == MpiLaunch.Launcher.OPEN_MPI && ranks == 2 ? "1048576" : "1000";
                return MpiLaunch.scenario(launcher, exe, ranks, DEADLINE_SECONDS, "all", chunk);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static void assertEveryCheckPassed(MpiLaunch.Launcher launcher, int ranks) {
        MpiLaunch.Result r = launch(launcher, ranks);
        String out = r.output();
        assertEquals(List.of(), r.lines("FAIL"), out);
        assertEquals(0, r.exitCode(), out);
        Set<Integer> ranksDone = new HashSet<>();
        for (String line : r.lines("DONE")) {
            Matcher m = DONE.matcher(line);
            assertTrue(m.matches(), line);
            assertEquals(ranks, Integer.parseInt(m.group(2)), line);
            assertTrue(Integer.parseInt(m.group(3)) >= MIN_CHECKS_PER_RANK, "too few checks ran: " + line + "\n" + out);
            assertEquals(0, Integer.parseInt(m.group(4)), line);
            ranksDone.add(Integer.parseInt(m.group(1)));
        }
        assertEquals(ranks, ranksDone.size(), "every rank must report DONE:\n" + out);
        assertTrue(r.lines("PASS").stream().anyMatch(l -> l.contains("identity mpi: " + launcher.family)),
                "the ranks must have loaded " + launcher.family + ":\n" + out);
    }

    private static void assertErrorSurfaced(MpiLaunch.Launcher launcher, String mpiText) {
        MpiLaunch.Result r = launch(launcher, 2);
        String out = r.output();
        List<String> messages = r.lines("     message:");
        assertEquals(2, messages.size(), "each rank prints the CommFailure it caught:\n" + out);
        for (String m : messages) {
            assertTrue(m.contains("mismatch in broadcast(64 B,root 2) on group w.s2c0: rank "), m);
            assertTrue(m.contains(mpiText), "MPI_Error_string text expected in: " + m);
        }
        for (String check : List.of("raises CommFailure with MPI's text", "is aborted after the MPI error",
                "world still works after an error on another group")) {
            assertEquals(2, r.lines("PASS").stream().filter(l -> l.contains(check)).count(), check + ":\n" + out);
        }
        assertEquals(0, r.exitCode(), out);
    }
}
