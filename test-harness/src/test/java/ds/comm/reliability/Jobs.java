package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import ds.comm.tool.Processes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/** Launches reliability scenarios as real processes and inspects what they left behind. */
final class Jobs {

    static final String FAULT = "ds.comm.tool.scenario.FaultScenario";

    /** Ranks are short-lived: skip the optimising compiler and the parallel GC's thread start-up. */
    static final List<String> FAST_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Xss512k", "-Xmx64m");

    private Jobs() {
    }

    /**
     * Runs a job whose ranks may fail: the launcher does not stop the others on the first failure,
     * so survivors must detect it themselves; it still reaps every rank at the end.
     */
    static LaunchResult run(int ranks, Duration timeout, Map<String, String> env, Consumer<String> lines,
                            String... command) {
        Launcher.Builder b = Launcher.builder().ranks(ranks).timeout(timeout).jvmOptions(FAST_JVM)
                .killGrace(Duration.ofSeconds(1)).captureOutput(true).stopOnFailure(false)
                .output(lines).diagnostics(m -> lines.accept("[launcher] " + m))
                .command(RankPrograms.resolve(List.of(command)));
        env.forEach(b::env);
        return b.build().run();
    }

    /**
     * Runs {@code task} on a thread of its own. Not the common pool: it has a single thread on a
     * 2-core machine, and {@link Process#onExit()}, which the launcher waits on, needs it too.
     */
    static <T> java.util.concurrent.CompletableFuture<T> onOwnThread(java.util.function.Supplier<T> task) {
        var f = new java.util.concurrent.CompletableFuture<T>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                f.complete(task.get());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /** The pid a rank printed itself ("PID n"): the JVM, whatever wrapper started it. */
    static long printedPid(LaunchResult r, int rank) {
        List<String> p = r.linesOf(rank, "PID ");
        return p.isEmpty() ? -1 : Long.parseLong(p.getFirst().trim());
    }

    /** True when no process of the job runs any more (launcher's children and the printed JVM pids). */
    static List<Long> stillRunning(LaunchResult r) {
        List<Long> alive = new ArrayList<>();
        for (int rank = 0; rank < r.pids().length; rank++) {
            for (long pid : new long[] {r.pids()[rank], printedPid(r, rank)}) {
                if (pid > 0 && Processes.isRunning(pid)) alive.add(pid);
            }
        }
        return alive;
    }

    /** ds-comm files in {@code dir}. */
    static List<Path> segmentFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("dscomm-")).toList();
        }
    }

    /** A private directory on /dev/shm (named so no other test's /dev/shm check mistakes it for a segment). */
    static Path privateShmDir(String name) throws IOException {
        return Files.createTempDirectory(Path.of("/dev/shm"), "rely-" + name + "-");
    }

    static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
