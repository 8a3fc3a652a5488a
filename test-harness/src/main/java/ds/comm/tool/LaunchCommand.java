package ds.comm.tool;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code bin/dscomm launch -n N [--nodes M] [--timeout S] [--env K=V ...] [--cp CP] [--jvm-opt OPT ...]
 * -- COMMAND ARGS...}: runs N ranks of a job on this machine (see {@link Launcher}).
 */
final class LaunchCommand {

    static final String USAGE = """
            usage: bin/dscomm launch -n N [--nodes M] [--timeout S] [--env K=V ...] [--cp CLASSPATH]
                                     [-p MODULEPATH] [--jvm-opt OPTION ...] -- COMMAND ARGS...

            Starts N ranks on this machine, torchrun-style (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
            LOCAL_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT), prefixes every output line with
            "[rank N] ", and stops all ranks as soon as one exits non-zero or the timeout passes.

              -n, --ranks N     number of ranks
              --nodes M         simulate M nodes: contiguous blocks of ranks get their own DSCOMM_NODE_ID
                                (uneven splits allowed: 3 ranks on 2 nodes = 2 + 1)
              --timeout S       stop everything after S (30, 30s, 500ms, 2m); default: no limit
              --env K=V         extra environment variable for every rank (repeatable)
              --cp CLASSPATH    class path for a main class outside ds-comm
              -p, --module-path MODULEPATH
                                the application's modules, after ds-comm's on every rank's module path:
                                launch -n 2 -p app.jar -- -m app/app.Main
              --jvm-opt OPTION  option for every rank's JVM, e.g. --jvm-opt -Xmx2g (repeatable)

            COMMAND is a main class (run with this JDK, ds-comm on the module path), java arguments
            such as -jar app.jar, or any program. Exit status: 0 when every rank exited 0, 1 otherwise,
            2 for a usage error.""";

    private LaunchCommand() {
    }

    static int run(String[] args) {
        if (args.length == 0) {
            System.err.println(USAGE);
            return 2;
        }
        if (args[0].equals("--help") || args[0].equals("-h")) {
            System.out.println(USAGE);
            return 0;
        }
        Launcher launcher = parse(args).build();
        LaunchResult result = launcher.run();
        result.firstFailure().ifPresent(f -> System.err.println("dscomm launch: failed: " + f.message()
                + "; exit codes " + Arrays.toString(result.exitCodes())));
        return result.succeeded() ? 0 : 1;
    }

    /** Parses the options into a builder; usage mistakes become {@link Main.UsageException}. */
    static Launcher.Builder parse(String[] args) {
        Launcher.Builder b = Launcher.builder();
        List<String> jvmOptions = new ArrayList<>();
        int ranks = -1;
        int i = 0;
        for (; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                i++;
                break;
            }
            switch (a) {
                case "-n", "--ranks" -> ranks = positive(a, value(args, ++i, a));
                case "--nodes" -> b.nodes(positive(a, value(args, ++i, a)));
                case "--timeout" -> b.timeout(Args.duration("--timeout", value(args, ++i, a)));
                case "--env" -> {
                    String kv = value(args, ++i, a);
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new Main.UsageException("--env wants K=V, got '" + kv + "'");
                    }
                    b.env(kv.substring(0, eq), kv.substring(eq + 1));
                }
                case "--cp", "-cp", "--class-path" -> b.classPath(value(args, ++i, a));
                case "-p", "--module-path" -> b.modulePath(value(args, ++i, a));
                case "--jvm-opt" -> jvmOptions.add(value(args, ++i, a));
                default -> throw new Main.UsageException("unknown option '" + a + "' (the command goes after --)");
            }
        }
        if (ranks < 0) {
            throw new Main.UsageException("-n N is required");
        }
        if (i >= args.length) {
            throw new Main.UsageException("no command: put it after --, e.g. launch -n 2 -- ds.comm.tool.Main doctor");
        }
        try {
            b.ranks(ranks);
            b.jvmOptions(jvmOptions);
            b.command(Arrays.asList(args).subList(i, args.length));
            b.build(); // validates --nodes against -n now, as a usage error
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        return b;
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new Main.UsageException(option + " needs a value");
        }
        return args[i];
    }

    private static int positive(String option, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new Main.UsageException(option + " wants a positive integer, got '" + v + "'");
    }
}
