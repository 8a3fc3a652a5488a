package ds.comm.mpi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@link MpiScenario} (or another rank program) under an MPI launcher as separate processes,
 * with a hard deadline after which the launcher and every descendant are killed and reaped.
 *
 * <p>Public for the tool module's tests, which reach it through this module's test jar.
 */
public final class MpiLaunch {

    /** What a launch produced. */
    public record Result(int exitCode, String output) {
        public List<String> lines(String prefix) {
            return output.lines().filter(l -> l.startsWith(prefix)).toList();
        }
    }

    /** Launcher family, how to start n ranks, and which library to point the ranks at. */
    public enum Launcher {
        OPEN_MPI("Open MPI", null, "mpirun.openmpi", "orterun", "mpirun") {
            @Override
            public List<String> command(String exe, int ranks) {
                return List.of(exe, "--allow-run-as-root", "--oversubscribe", "-np", Integer.toString(ranks));
            }
        },
        MPICH("MPICH", "libmpich.so.12", "mpiexec.mpich", "mpiexec.hydra") {
            @Override
            public List<String> command(String exe, int ranks) {
                return List.of(exe, "-n", Integer.toString(ranks));
            }
        };

        public final String family;
        public final String library;
        final String[] executables;

        Launcher(String family, String library, String... executables) {
            this.family = family;
            this.library = library;
            this.executables = executables;
        }

        public abstract List<String> command(String exe, int ranks);

        /** The first executable on PATH that reports this family in --version, or null. */
        public String find() {
            for (String name : executables) {
                for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
                    Path exe = Path.of(dir, name);
                    if (Files.isExecutable(exe) && reportsFamily(exe)) return exe.toString();
                }
            }
            return null;
        }

        private boolean reportsFamily(Path exe) {
            try {
                Result r = run(List.of(exe.toString(), "--version"), Map.of(), 20);
                String text = r.output();
                return this == OPEN_MPI ? text.contains("Open MPI") || text.contains("OpenRTE")
                        : text.contains("HYDRA") || text.contains("MPICH");
            } catch (IOException e) {
                return false;
            }
        }
    }

    private MpiLaunch() {
    }

    /** The scenario's rank program under C1 (ranks start quickly, even oversubscribed on 2 cores). */
    static final String SCENARIO = MpiScenario.class.getName();
    public static final List<String> QUICK_START = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

    /** Java command of one rank: this JVM's java, the given class path, the flags ds-comm needs. */
    public static List<String> rankCommand(Path errorDir, List<String> jvmFlags, String classPath, String mainClass,
                                    String... args) {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.addAll(jvmFlags);
        c.addAll(List.of("-XX:ErrorFile=" + errorDir.resolve("hs_err_pid%p.log"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", classPath, mainClass));
        c.addAll(List.of(args));
        return c;
    }

    /** The library's compiled module (target/classes), where surefire says it is. */
    static String mainClasses() {
        return System.getProperty("dscomm.classes", "target/classes");
    }

    /** The library's classes and this module's test classes, where the rank programs live. */
    static String rankClassPath() {
        return mainClasses() + java.io.File.pathSeparator + System.getProperty("dscomm.testClasses", "target/test-classes");
    }

    /** Starts the scenario ({@code args}: mode, chunk) with {@code ranks} ranks, waiting at most {@code deadlineSeconds}. */
    static Result scenario(Launcher launcher, String exe, int ranks, long deadlineSeconds, String... args)
            throws IOException {
        return ranks(launcher, exe, ranks, QUICK_START, rankClassPath(), SCENARIO, deadlineSeconds, args);
    }

    /** Starts {@code mainClass} with {@code ranks} ranks; crash logs of the JVMs are appended to the output. */
    static Result ranks(Launcher launcher, String exe, int ranks, List<String> jvmFlags, String classPath,
                        String mainClass, long deadlineSeconds, String... args) throws IOException {
        Path errorDir = Files.createTempDirectory("dscomm-mpi-test");
        try {
            List<String> command = new ArrayList<>(launcher.command(exe, ranks));
            command.addAll(rankCommand(errorDir, jvmFlags, classPath, mainClass, args));
            Map<String, String> env = launcher.library == null ? Map.of()
                    : Map.of(MpiLibrary.LIBRARY_VARIABLE, launcher.library);
            Result r = run(command, env, deadlineSeconds);
            try (var crashes = Files.list(errorDir)) {
                for (Path crash : crashes.toList()) {
                    List<String> head = Files.readAllLines(crash);
                    head = head.subList(0, Math.min(40, head.size()));
                    r = new Result(r.exitCode(), r.output() + "\n--- " + crash + " ---\n" + String.join("\n", head));
                }
            }
            return r;
        } finally {
            try (var left = Files.list(errorDir)) {
                for (Path p : left.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(errorDir);
        }
    }

    public static Result run(List<String> command, Map<String, String> extraEnv, long deadlineSeconds) throws IOException {
        Path log = Files.createTempFile("dscomm-mpi", ".log");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        // The ranks must not inherit a library choice or UCX signal setting from the test's
        // environment: the backend's own defaults are what is under test.
        pb.environment().remove(MpiLibrary.LIBRARY_VARIABLE);
        pb.environment().remove(JvmSignalSafety.UCX_ERROR_SIGNALS);
        pb.environment().putAll(extraEnv);
        Process p = pb.start();
        try {
            boolean finished = p.waitFor(deadlineSeconds, TimeUnit.SECONDS);
            if (!finished) {
                kill(p);
                return new Result(-1, "DEADLINE of " + deadlineSeconds + " s exceeded, killed: " + command + "\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted");
        } finally {
            if (p.isAlive()) kill(p);
            Files.deleteIfExists(log);
        }
    }

    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
