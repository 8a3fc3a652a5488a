package ds.comm.tool;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Command lines for the rank programs of the tests ({@code ds.comm.tool.scenario}), which live in
 * this module's test classes, in neither shipped jar.
 *
 * <p>The ranks still run as modules, as a user's ranks do: the library and the tool on the module
 * path, and the test classes patched into {@code ds.comm.tool}, so that a scenario reads the
 * library through the same (qualified) exports as the tool. The test classes therefore hold no
 * package of the library module (a package in two modules stops the JVM at start-up).
 */
public final class RankPrograms {

    private RankPrograms() {
    }

    /** This module's test classes, where surefire says they are. */
    public static Path testClasses() {
        return Path.of(System.getProperty("dscomm.testClasses", "test-harness/target/test-classes")).toAbsolutePath();
    }

    /** The module path of the library and the tool as this JVM loaded them (jars or build folders). */
    public static String modulePath() {
        return RankCommand.Modules.located().path();
    }

    /**
     * {@code command} for {@link Launcher.Builder#command}: a rank program of the test classes
     * becomes the Java arguments that run it in the patched tool module; anything else (a tool or
     * library main class, a program) is returned as it is.
     */
    public static List<String> resolve(List<String> command) {
        String first = command.getFirst();
        if (!isRankProgram(first)) {
            return command;
        }
        List<String> argv = new ArrayList<>(patch());
        argv.add("-m");
        argv.add("ds.comm.tool/" + first);
        argv.addAll(command.subList(1, command.size()));
        return argv;
    }

    /** {@link #resolve(List)} of {@code mainClass args...}, as an array for {@code command(String...)}. */
    public static String[] resolve(String mainClass, String... args) {
        List<String> c = new ArrayList<>(List.of(mainClass));
        c.addAll(List.of(args));
        return resolve(c).toArray(String[]::new);
    }

    /**
     * A whole java command line for one rank of {@code mainClass} (for tests that start ranks
     * without the launcher): this JVM's java, {@code jvmOptions}, both modules and the patch.
     */
    public static List<String> java(List<String> jvmOptions, String mainClass, String... args) {
        List<String> c = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ds.comm"));
        c.addAll(jvmOptions);
        c.addAll(List.of("--module-path", modulePath()));
        if (isRankProgram(mainClass)) {
            c.addAll(patch());
            c.addAll(List.of("-m", "ds.comm.tool/" + mainClass));
        } else {
            c.addAll(List.of("-m", (mainClass.startsWith("ds.comm.tool.") ? "ds.comm.tool/" : "ds.comm/") + mainClass));
        }
        c.addAll(List.of(args));
        return c;
    }

    /** The command line of {@code bin/dscomm ARGS} run from the built modules (this JVM's java). */
    public static List<String> cli(String... args) {
        return java(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"), "ds.comm.tool.Main", args);
    }

    private static List<String> patch() {
        return List.of("--patch-module", "ds.comm.tool=" + testClasses());
    }

    private static boolean isRankProgram(String className) {
        return className.startsWith("ds.comm.tool.scenario.")
                && Files.isRegularFile(testClasses().resolve(className.replace('.', '/') + ".class"));
    }
}
