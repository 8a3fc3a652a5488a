package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two ranks on one node sharing {@code /dev/shm}, the second in a pid namespace of its own (as in
 * two containers sharing only {@code /dev/shm}): neither can ask the kernel about the other's pid,
 * so a frozen peer is found by its stopped HEARTBEAT counter, within the peer-lost bound and long
 * before the 30 s timeout. Needs {@code unshare --pid} (root or user namespaces); skipped where the
 * kernel or the container refuses it.
 */
@Tag("multiprocess")
@Tag("netns")
class ForeignPidNamespaceTest {

    private static final Duration PEER_LOST = Duration.ofSeconds(2);

    private static boolean unshareWorks() {
        try {
            Process p = new ProcessBuilder("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true")
                    .redirectErrorStream(true).start();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                return false;
            }
            return p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    /** The JVM of rank 1: the child of the unshare process that the launcher started. */
    private static Optional<ProcessHandle> jvmInTheNamespace() {
        return ProcessHandle.current().descendants()
                .filter(h -> h.parent().flatMap(p -> p.info().command()).map(c -> c.endsWith("unshare")).orElse(false))
                .findFirst();
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aFrozenPeerInAnotherPidNamespaceIsNamedByItsStoppedHeartbeatWithinTheBound() throws Exception {
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(unshareWorks(), "unshare --pid is not allowed here");
        Path dir = Jobs.privateShmDir("pidns");
        try {
            List<String> inner = Launcher.builder().ranks(2).jvmOptions(Jobs.FAST_JVM).command(RankPrograms.resolve(Jobs.FAULT, "loop"))
                    .build().argv();
            List<String> command = new ArrayList<>(List.of("bash", "-c",
                    "if [ \"$RANK\" = 1 ]; then exec unshare --pid --fork --mount-proc --kill-child -- \"$@\"; else exec \"$@\"; fi",
                    "rank-wrapper"));
            command.addAll(inner);
            AtomicLong frozenAt = new AtomicLong();
            AtomicLong frozenPid = new AtomicLong(-1);
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            LaunchResult r = Launcher.builder().ranks(2).timeout(Duration.ofSeconds(60)).killGrace(Duration.ofSeconds(1))
                    .captureOutput(true).stopOnFailure(false).command(command)
                    .env("DSCOMM_BACKEND", "shm").env("DSCOMM_SHM_DIR", dir.toString()).env("DSCOMM_SHM_BYTES", "256K")
                    .env("DSCOMM_TIMEOUT", "30s").env("DSCOMM_PEER_LOST_TIMEOUT", PEER_LOST.toMillis() + "ms")
                    .diagnostics(m -> log.add("[launcher] " + m))
                    .output(line -> {
                        log.add(line);
                        if (line.startsWith("[rank 1] PHASE collectives") && frozenPid.get() < 0) {
                            ProcessHandle jvm = jvmInTheNamespace().orElseThrow();
                            frozenPid.set(jvm.pid());
                            signal("STOP", jvm.pid());
                            frozenAt.set(System.currentTimeMillis());
                        }
                        if (line.startsWith("[rank 0] LOST") && frozenPid.get() > 0) {
                            ProcessHandle.of(frozenPid.get()).ifPresent(ProcessHandle::destroyForcibly);
                        }
                    }).build().run();
            String context = String.join("\n", log);
            assertTrue(frozenAt.get() > 0, "rank 1 was never frozen: " + context);
            assertEquals(3, r.exitCodes()[0], "rank 0 must name the loss and exit 3: " + context);
            List<String> lost = r.linesOf(0, "LOST ");
            assertEquals(1, lost.size(), context);
            String[] f = lost.getFirst().split(" ", 4);
            assertEquals("1", f[0], "rank 0 named another rank: " + context);
            assertEquals("PeerLostException", f[1], context);
            assertTrue(f[3].contains("another pid namespace") && f[3].contains("stopped its heartbeat"), f[3]);
            long after = Long.parseLong(f[2]) - frozenAt.get();
            assertTrue(after >= PEER_LOST.toMillis() - 200 && after < PEER_LOST.toMillis() + 4_000,
                    "named " + after + " ms after the freeze; bound " + PEER_LOST.toMillis() + " ms, timeout 30 s: " + context);
            // Not Jobs.stillRunning: rank 1 printed its pid inside its namespace (1), which names init here.
            for (long pid : new long[] {r.pids()[0], r.pids()[1], Jobs.printedPid(r, 0)}) {
                assertTrue(ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true), "process " + pid + " left: " + context);
            }
            assertTrue(ProcessHandle.of(frozenPid.get()).map(h -> !h.isAlive()).orElse(true), "the frozen JVM was reaped");
            assertEquals(List.of(), Jobs.segmentFiles(dir), "segment files left");
        } finally {
            Jobs.deleteTree(dir);
        }
    }

    private static void signal(String name, long pid) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).start();
            kill.waitFor(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("kill -" + name + " " + pid + ": " + e, e);
        }
    }
}
