package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGSTOP of a ring rank in the middle of an all-reduce loop: the frozen process keeps its TCP
 * connections open (its kernel still acknowledges), exactly what a node that lost power or
 * network looks like to the others. With a 30 s call timeout and the default-like 3 s silence
 * bound, every survivor must name the frozen rank in a {@code PeerLostException} within the
 * silence bound plus slack, far below the timeout; then the frozen rank is killed and every
 * process reaped. Run with the ring forced, and with HIER forced on three simulated nodes (one
 * rank each), whose node leaders form a ring of their own ("w.x") that must beat too.
 */
@Tag("multiprocess")
class RankFreezeTest {

    private static final Duration COMM_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration SILENCE = Duration.ofSeconds(3);
    /** Asserted bound from the SIGSTOP: the silence bound plus slack for a loaded 2-core machine. */
    private static final long BOUND_MILLIS = 8_000;

    @ParameterizedTest(name = "{0} on {1} node(s)")
    @CsvSource({"ring, 1", "hier, 3"})
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aRankFrozenMidAllReduceIsNamedLostByEverySurvivorWithinTheSilenceBound(String backend, int nodes)
            throws Exception {
        int ranks = 3;
        int victim = 1;
        Path dir = Jobs.privateShmDir("freeze");
        ScheduledExecutorService freezer = Executors.newSingleThreadScheduledExecutor();
        AtomicLong victimPid = new AtomicLong(-1);
        AtomicLong stoppedAt = new AtomicLong();
        AtomicInteger survivorsLost = new AtomicInteger();
        Map<Integer, Long> lostAt = new ConcurrentHashMap<>();
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        try {
            String victimPrefix = "[rank " + victim + "] ";
            Launcher.Builder job = Launcher.builder().ranks(ranks).nodes(nodes).timeout(Duration.ofSeconds(90))
                    .jvmOptions(Jobs.FAST_JVM).killGrace(Duration.ofSeconds(1)).captureOutput(true)
                    .stopOnFailure(false).env("DSCOMM_BACKEND", backend)
                    .env("DSCOMM_TIMEOUT", COMM_TIMEOUT.toSeconds() + "s")
                    .env("DSCOMM_PEER_LOST_TIMEOUT", SILENCE.toSeconds() + "s").env("DSCOMM_SHM_DIR", dir.toString())
                    .command(RankPrograms.resolve(Jobs.FAULT, "loop"));
            job.diagnostics(m -> log.add("[launcher] " + m)).output(line -> {
                log.add(line);
                if (line.startsWith(victimPrefix + "PID ")) {
                    victimPid.set(Long.parseLong(line.substring(victimPrefix.length() + 4).trim()));
                } else if (line.startsWith(victimPrefix + "PHASE collectives")) {
                    // Let the loop run (and the heartbeats start) before freezing it mid-call.
                    freezer.schedule(() -> {
                        stoppedAt.set(System.currentTimeMillis());
                        signal("STOP", victimPid.get());
                    }, 700, TimeUnit.MILLISECONDS);
                } else if (line.contains("] LOST ") && !line.startsWith(victimPrefix)) {
                    lostAt.put(Integer.parseInt(line.substring(6, line.indexOf(']'))), System.currentTimeMillis());
                    if (survivorsLost.incrementAndGet() == ranks - 1) {
                        // Both survivors spoke: end the frozen rank (SIGKILL works on a stopped process).
                        signal("KILL", victimPid.get());
                    }
                }
            });
            LaunchResult r = job.build().run();
            String context = String.join("\n", log);
            assertTrue(stoppedAt.get() > 0, "the victim was never frozen: " + context);
            assertTrue(log.stream().anyMatch(l -> l.startsWith(victimPrefix + "PHASE collectives " + backend.toUpperCase(java.util.Locale.ROOT))),
                    "the job did not run on " + backend + ": " + context);
            long slowest = 0;
            for (int rank = 0; rank < ranks; rank++) {
                if (rank == victim) continue;
                assertEquals(3, r.exitCodes()[rank], "survivor " + rank + " must exit with 3 after naming the loss: "
                        + context);
                List<String> lost = r.linesOf(rank, "LOST ");
                assertEquals(1, lost.size(), "survivor " + rank + ": " + context);
                String[] f = lost.getFirst().split(" ", 4);
                assertEquals(victim, Integer.parseInt(f[0]), "survivor " + rank + " named another rank: " + context);
                assertEquals("PeerLostException", f[1], "survivor " + rank + ": " + context);
                long after = Long.parseLong(f[2]) - stoppedAt.get();
                // Silence is only declared after the bound (minus at most one beat interval that
                // the victim's last beat may precede the stop); earlier would be a false positive.
                assertTrue(after >= SILENCE.toMillis() - SILENCE.toMillis() / 6 - 100 && after <= BOUND_MILLIS,
                        "survivor " + rank + " named the frozen rank " + after + " ms after the SIGSTOP: " + context);
                slowest = Math.max(slowest, after);
                System.out.println("RankFreezeTest " + backend + ": survivor " + rank + " after " + after + " ms: " + f[3]);
            }
            assertTrue(log.stream().anyMatch(l -> l.contains("no heartbeat")),
                    "no survivor reported the silence itself: " + context);
            assertEquals(List.of(), Jobs.stillRunning(r), "processes of the job still running: " + context);
            System.out.println("RankFreezeTest " + backend + ": survivors named the frozen rank after <= " + slowest + " ms");
        } finally {
            freezer.shutdownNow();
            long pid = victimPid.get();
            if (pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                signal("KILL", pid);
            }
            Jobs.deleteTree(dir);
        }
    }

    /** Sends SIGSTOP/SIGKILL with kill(1), whose own process is reaped here. */
    private static void signal(String name, long pid) {
        if (pid <= 0) return;
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).redirectErrorStream(true).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS)) kill.destroyForcibly().waitFor();
        } catch (Exception e) {
            throw new IllegalStateException("kill -" + name + " " + pid + " failed", e);
        }
    }
}
