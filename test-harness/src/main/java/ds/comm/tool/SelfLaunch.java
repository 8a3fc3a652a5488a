package ds.comm.tool;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Lets a command that runs as one rank (bench, demo) start its own ranks when no launcher
 * started it: it relaunches itself N times through {@link Launcher}. Rank 0's standard output
 * becomes this process's standard output unprefixed (so {@code bench --format csv} prints clean
 * CSV); every rank's standard error is passed on, prefixed with its rank.
 */
final class SelfLaunch {

    private static final String RANK0 = "[rank 0] ";

    private SelfLaunch() {
    }

    static int launch(int ranks, int nodes, int timeoutSeconds, List<String> env, String mainClass, String[] args) {
        List<String> command = new ArrayList<>();
        command.add(mainClass);
        command.addAll(Arrays.asList(args));
        Launcher.Builder b = Launcher.builder()
                .ranks(ranks)
                .nodes(nodes)
                .timeout(Duration.ofSeconds(timeoutSeconds))
                .command(command)
                .output(line -> {
                    if (line.startsWith(RANK0)) System.out.println(line.substring(RANK0.length()));
                    else System.out.println(line);
                })
                .errors(System.err::println);
        for (String kv : env) {
            int eq = kv.indexOf('=');
            b.env(kv.substring(0, eq), kv.substring(eq + 1));
        }
        LaunchResult result = b.build().run();
        result.firstFailure().ifPresent(f -> System.err.println("dscomm: " + f.message()));
        return result.succeeded() ? 0 : 1;
    }
}
