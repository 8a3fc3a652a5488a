package ds.comm.multiprocess;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import ds.comm.tool.RankPrograms;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** Starts multi-process tests through the launcher API with settings that keep them fast. */
final class Ranks {

    /** Ranks are short-lived: skip the optimising compiler and the parallel GC's thread start-up. */
    static final List<String> FAST_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Xss512k");

    private Ranks() {
    }

    static LaunchResult launch(int ranks, int nodes, Duration timeout, Map<String, String> env, String... command) {
        Launcher.Builder b = Launcher.builder().ranks(ranks).nodes(nodes).timeout(timeout).jvmOptions(FAST_JVM)
                .killGrace(Duration.ofSeconds(2)).captureOutput(true)
                .output(System.out::println).diagnostics(m -> System.out.println("[launcher] " + m))
                .command(RankPrograms.resolve(List.of(command)));
        env.forEach(b::env);
        return b.build().run();
    }

    /** True when no process with this pid runs (a zombie waiting for init to reap it has exited). */
    static boolean gone(long pid) {
        return !ds.comm.tool.Processes.isRunning(pid);
    }
}
