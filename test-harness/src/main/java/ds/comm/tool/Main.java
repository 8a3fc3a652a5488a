package ds.comm.tool;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Entry point of {@code bin/dscomm}: dispatches to one subcommand.
 *
 * <p>Exit codes ({@link #EXIT_CODES}, also printed by {@code --help}): 0 success, 1 the command
 * ran and found a failure (a mismatch, a failed rank), 2 bad usage or an unusable environment.
 * Usage errors go to stderr, so a script reading stdout never parses a usage text as a result.
 */
public final class Main {

    /** One subcommand: takes its arguments, returns the process exit code. */
    @FunctionalInterface
    interface Command {
        int run(String[] args) throws Exception;
    }

    private record Entry(String summary, Command command) {
    }

    /** The exit codes every command keeps to, as {@code --help} lists them. */
    static final String EXIT_CODES = """
            exit codes:
              0  success
              1  the command ran and found a failure: a rank failed or timed out, a result mismatched,
                 a check or the topology verification failed
              2  usage error (unknown command or option, bad value) or unusable environment (no JDK 25,
                 build failed, malformed launcher variables); the reason is printed on stderr""";

    private static final Map<String, Entry> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("doctor", new Entry("print the JDK, ISA, vector width, SHM space and (under a launcher) the verified topology",
                Doctor::run));
        COMMANDS.put("launch", new Entry("run N ranks of a job on this machine, torchrun-style (see launch --help)",
                LaunchCommand::run));
        COMMANDS.put("bench", new Entry("osu-style all-reduce sweep over sizes, dtypes and ops (see bench --help)",
                Bench::run));
        COMMANDS.put("demo", new Entry("tensor-parallel bf16 MLP block over N ranks, checked against one process",
                Demo::run));
        COMMANDS.put("soak", new Entry("random collectives, types, ops, sizes and sub-groups, all verified (see soak --help)",
                Soak::run));
    }

    private Main() {
    }

    /**
     * Runs the subcommand named by {@code args[0]}.
     *
     * @param args subcommand and its arguments
     */
    public static void main(String[] args) {
        ConsoleLogFormat.install(System.getProperties(), System.getenv());
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0) {
            // No command is a usage error: the usage goes where errors go.
            usage(System.err);
            return 2;
        }
        if (args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            usage(System.out);
            return 0;
        }
        if (args[0].equals("--version") || args[0].equals("-V")) {
            try {
                return VersionInfo.run(Arrays.copyOfRange(args, 1, args.length));
            } catch (UsageException u) {
                System.err.println("dscomm: " + u.getMessage());
                return 2;
            }
        }
        Entry e = COMMANDS.get(args[0]);
        if (e == null) {
            System.err.println("dscomm: unknown command '" + args[0] + "'");
            usage(System.err);
            return 2;
        }
        try {
            return e.command().run(Arrays.copyOfRange(args, 1, args.length));
        } catch (UsageException u) {
            System.err.println("dscomm " + args[0] + ": " + u.getMessage());
            return 2;
        } catch (Exception ex) {
            System.err.println("dscomm " + args[0] + ": " + ex);
            return 1;
        }
    }

    private static void usage(PrintStream out) {
        out.println("usage: bin/dscomm COMMAND [ARGS...]");
        out.println("       bin/dscomm --version | -V   print the version, the JDK and the ISA");
        out.println();
        out.println("commands:");
        COMMANDS.forEach((name, e) -> out.printf("  %-8s %s%n", name, e.summary()));
        out.println("  test     run the test suite (Maven, with the JDK bin/dscomm found)");
        out.println();
        out.println();
        out.println("Run 'bin/dscomm COMMAND --help' for a command's options.");
        out.println();
        out.println(EXIT_CODES);
    }

    /** A command-line mistake: printed as one line, exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
