package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGKILL of a random rank at a random moment (during the rendezvous, an SHM all-reduce loop, a
 * ring all-reduce loop): every survivor must exit on its own, naming the lost rank, within the
 * bound (5 s, with the default 30 s timeout); no process of the job may remain; and after the next clean run no ds-comm file may
 * remain in the shared-memory directory (a rank killed inside its segment's open window leaves
 * its file, which the next job reclaims).
 *
 * <p>The number of runs is {@code -Ddscomm.killRuns} (50 by default, the CI value).
 */
@Tag("multiprocess")
class RankKillTest {

    private static final int RUNS = Integer.getInteger("dscomm.killRuns", 50);
    private static final int LANES = Integer.getInteger("dscomm.killLanes", 2);
    /**
     * The library's default timeout: detection must come from the failure detectors (launcher
     * ledger, table pids, segment pids, EOF), not from a timeout shortened for the test.
     */
    private static final Duration COMM_TIMEOUT = Duration.ofSeconds(30);
    /**
     * Detection bound asserted, from the kill (or the survivor's own init, if later): the
     * required 5 s, plus 3 s of slack for a loaded 2-core machine (JVM start-up of a late
     * survivor, the scheduler).
     */
    private static final long BOUND_MILLIS = 5_000 + 3_000;

    private enum Phase { RENDEZVOUS, SHM, RING }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void aRankKilledAtARandomMomentIsNamedByEverySurvivorWithinTheBoundAndNothingIsLeftBehind() throws Exception {
        long seed = Long.getLong("dscomm.killSeed", System.nanoTime());
        System.out.println("RankKillTest: " + RUNS + " runs, seed " + seed + " (-Ddscomm.killSeed to repeat)");
        Random random = new Random(seed);
        Path dir = Jobs.privateShmDir("kill");
        ScheduledExecutorService killer = Executors.newSingleThreadScheduledExecutor();
        long[] worst = new long[Phase.values().length];
        try {
            // Two runs at a time: most of a run is JVM start-up or a survivor waiting out the
            // rendezvous deadline, so two lanes halve the wall time without starving the ranks.
            var lanes = Executors.newFixedThreadPool(LANES);
            try {
                List<java.util.concurrent.Future<long[]>> results = new ArrayList<>();
                for (int run = 0; run < RUNS; run++) {
                    Phase phase = Phase.values()[run % 3];
                    int ranks = 2 + random.nextInt(2);
                    int victim = random.nextInt(ranks);
                    int delayMillis = phase == Phase.RENDEZVOUS ? random.nextInt(600) : random.nextInt(300);
                    int n = run;
                    results.add(lanes.submit(() -> new long[] {phase.ordinal(),
                            killOnce(n, phase, ranks, victim, delayMillis, dir, killer)}));
                }
                for (var f : results) {
                    try {
                        long[] r = f.get();
                        worst[(int) r[0]] = Math.max(worst[(int) r[0]], r[1]);
                    } catch (java.util.concurrent.ExecutionException e) {
                        if (e.getCause() instanceof AssertionError a) throw a;
                        throw e;
                    }
                }
            } finally {
                lanes.shutdownNow();
                lanes.awaitTermination(60, TimeUnit.SECONDS);
            }
            // The next clean run reclaims whatever a killed rank left in its open window.
            LaunchResult clean = Jobs.run(2, Duration.ofSeconds(60), env(dir, Phase.SHM), System.out::println,
                    Jobs.FAULT, "clean", "50");
            assertTrue(clean.succeeded(), "clean run failed: " + clean.firstFailure());
            assertEquals(List.of(), Jobs.segmentFiles(dir), "ds-comm files left after the clean run");
            System.out.println("RankKillTest: worst detection after the kill, ms: rendezvous " + worst[0]
                    + ", shm " + worst[1] + ", ring " + worst[2]);
        } finally {
            killer.shutdownNow();
            Jobs.deleteTree(dir);
        }
    }

    /**
     * A survivor that named the loss inside its collective loop made one more call: it must have
     * been refused at once ("ABORTED-FAST micros"), never carried out ("NOT-ABORTED"). A failure
     * in the rendezvous leaves no communicator to call, so only NOT-ABORTED is checked there.
     */
    static void assertRefusedAfterTheLoss(LaunchResult r, int rank, boolean collectives, String context) {
        assertEquals(List.of(), r.linesOf(rank, "NOT-ABORTED"),
                "survivor " + rank + ": the call after the failure was not refused: " + context);
        if (!collectives) return;
        List<String> fast = r.linesOf(rank, "ABORTED-FAST ");
        assertEquals(1, fast.size(), "survivor " + rank + " must report how fast the next call was refused: " + context);
        long micros = Long.parseLong(fast.getFirst().trim());
        assertTrue(micros < 100_000, "the call after the failure took " + micros + " us: " + context);
    }

    @Test
    void aSurvivorWhoseNextCallWasNotRefusedFailsTheCheck() {
        java.util.function.Function<List<String>, LaunchResult> survivor = lines -> new LaunchResult(new int[]{3},
                new long[]{1}, List.of(lines), java.util.Optional.empty(), Duration.ZERO);
        String lost = "LOST 1 PeerLostException 1 gone";
        assertRefusedAfterTheLoss(survivor.apply(List.of(lost, "ABORTED-FAST 42")), 0, true, "ok");
        assertRefusedAfterTheLoss(survivor.apply(List.of(lost)), 0, false, "rendezvous");
        for (List<String> bad : List.of(List.of(lost, "NOT-ABORTED"), List.of(lost), List.of(lost, "ABORTED-FAST 250000"))) {
            org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
                    () -> assertRefusedAfterTheLoss(survivor.apply(bad), 0, true, bad.toString()), bad.toString());
        }
        org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
                () -> assertRefusedAfterTheLoss(survivor.apply(List.of(lost, "NOT-ABORTED")), 0, false, "rendezvous"));
    }

    private static Map<String, String> env(Path dir, Phase phase) {
        var env = new java.util.HashMap<String, String>();
        env.put("DSCOMM_TIMEOUT", COMM_TIMEOUT.toMillis() + "ms");
        env.put("DSCOMM_SHM_DIR", dir.toString());
        env.put("DSCOMM_SHM_BYTES", "256K");
        if (phase == Phase.RING) env.put("DSCOMM_BACKEND", "ring");
        return env;
    }

    /** One run; returns the slowest survivor's detection time after the kill, in ms. */
    private static long killOnce(int run, Phase phase, int ranks, int victim, int delayMillis, Path dir,
                                 ScheduledExecutorService killer) {
        String what = "run " + run + ": " + phase + ", " + ranks + " ranks, rank " + victim + " killed "
                + delayMillis + " ms after " + (phase == Phase.RENDEZVOUS ? "it started" : "its first collective");
        AtomicLong killedAt = new AtomicLong();
        Map<Integer, Long> pids = new ConcurrentHashMap<>();
        String trigger = phase == Phase.RENDEZVOUS ? "PID " : "PHASE collectives";
        String victimPrefix = "[rank " + victim + "] ";
        List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
        LaunchResult r = Jobs.run(ranks, Duration.ofSeconds(40), env(dir, phase), line -> {
            log.add(line);
            if (!line.startsWith(victimPrefix)) return;
            String body = line.substring(victimPrefix.length());
            if (body.startsWith("PID ")) pids.put(victim, Long.parseLong(body.substring(4).trim()));
            if (body.startsWith(trigger)) {
                long pid = pids.getOrDefault(victim, -1L);
                killer.schedule(() -> {
                    killedAt.set(System.currentTimeMillis());
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                }, delayMillis, TimeUnit.MILLISECONDS);
            }
        }, Jobs.FAULT, "loop");
        String context = what + "\n" + String.join("\n", log);
        assertTrue(killedAt.get() > 0, "the victim was never killed: " + context);
        assertEquals(137, r.exitCodes()[victim], "victim's exit: " + context);
        long slowest = 0;
        for (int rank = 0; rank < ranks; rank++) {
            if (rank == victim) continue;
            assertEquals(3, r.exitCodes()[rank], "survivor " + rank + " must exit with 3 after naming the loss: " + context);
            List<String> lost = r.linesOf(rank, "LOST ");
            assertEquals(1, lost.size(), "survivor " + rank + ": " + context);
            String[] f = lost.getFirst().split(" ", 4);
            assertEquals(victim, Integer.parseInt(f[0]), "survivor " + rank + " named another rank: " + context);
            // From the kill, or from the survivor's own init if it started later (on the loaded
            // VM a survivor's JVM may start after the victim died; its deadline runs from init).
            List<String> init = r.linesOf(rank, "PHASE init ");
            long from = Math.max(killedAt.get(), init.isEmpty() ? 0 : Long.parseLong(init.getFirst().trim()));
            long after = Long.parseLong(f[2]) - from;
            assertTrue(after <= BOUND_MILLIS, "survivor " + rank + " took " + after + " ms: " + context);
            slowest = Math.max(slowest, after);
            assertRefusedAfterTheLoss(r, rank, phase != Phase.RENDEZVOUS, context);
        }
        assertEquals(List.of(), Jobs.stillRunning(r), "processes of the run still running: " + context);
        System.out.println("RankKillTest " + what + ": survivors named it after <= " + slowest + " ms");
        return slowest;
    }
}
