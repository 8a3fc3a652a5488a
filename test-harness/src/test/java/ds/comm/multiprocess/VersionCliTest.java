package ds.comm.multiprocess;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bin/dscomm --version}, {@code --help} and usage errors as separate processes, stdout and
 * stderr kept apart: results on stdout, usage errors on stderr with exit code 2.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
class VersionCliTest {

    private record Run(int exit, String out, String err) {
        List<String> outLines() {
            return out.lines().toList();
        }
    }

    private static Run run(List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        File out = Files.createTempFile("dscomm-version-out", ".log").toFile();
        File err = Files.createTempFile("dscomm-version-err", ".log").toFile();
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out).redirectError(err);
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("did not finish in 60 s: " + cmd);
            }
            return new Run(p.exitValue(), Files.readString(out.toPath(), StandardCharsets.UTF_8),
                    Files.readString(err.toPath(), StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out.toPath());
            Files.deleteIfExists(err.toPath());
        }
    }

    private static Run tool(String... args) throws IOException, InterruptedException {
        return run(CliProcess.dscommCli(args), Map.of());
    }

    /** Only the incubator module's notice may accompany a successful run on stderr. */
    private static String stderrBeyondTheIncubatorNotice(Run r) {
        return r.err().lines().filter(l -> !l.contains("Using incubator modules")).reduce("", (a, b) -> a + b + "\n");
    }

    private static void assertVersionBlock(Run r) {
        assertEquals(0, r.exit(), () -> r.out() + r.err());
        String version = System.getProperty("dscomm.project.version");
        assertTrue(version != null && !version.isBlank(), "surefire passes the POM's version");
        List<String> lines = r.outLines();
        assertEquals("ds-comm " + version, lines.get(0), "the version comes from the build, i.e. the POM: " + r.out());
        String javaHome = Path.of(System.getProperty("java.home")).toString();
        assertTrue(lines.get(1).startsWith("jdk:") && lines.get(1).contains(Runtime.version().toString())
                && lines.get(1).contains(javaHome), "JDK version and path: " + r.out());
        assertTrue(lines.get(2).startsWith("isa:") && lines.get(2).contains(System.getProperty("os.arch")), r.out());
        assertTrue(lines.get(3).startsWith("vectors:") && lines.get(3).matches(".*\\d+-bit.*|.*scalar.*"),
                "vector width: " + r.out());
        assertEquals("", stderrBeyondTheIncubatorNotice(r), "nothing else on stderr");
    }

    @Test
    void versionPrintsThePomVersionTheJdkAndTheIsa() throws Exception {
        assertVersionBlock(tool("--version"));
    }

    @Test
    void shortVersionFlagIsTheSame() throws Exception {
        assertVersionBlock(tool("-V"));
    }

    @Test
    void binDscommVersionRunsTheSameBlock() throws Exception {
        List<String> cmd = List.of(Path.of("bin", "dscomm").toAbsolutePath().toString(), "--version");
        Run r = run(cmd, Map.of("DSCOMM_MODULE_PATH", CliProcess.modulePath(),
                "JAVA_HOME", System.getProperty("java.home")));
        assertVersionBlock(r);
    }

    @Test
    void helpListsTheExitCodesOnStdout() throws Exception {
        Run r = tool("--help");
        assertEquals(0, r.exit());
        assertTrue(r.out().contains("--version"), r.out());
        assertTrue(r.out().contains("exit codes:"), r.out());
        for (String code : List.of("  0  success", "  1  the command ran and found a failure", "  2  usage error")) {
            assertTrue(r.out().contains(code), "exit code line '" + code + "': " + r.out());
        }
    }

    @Test
    void usageErrorsGoToStderrWithExitCodeTwo() throws Exception {
        List<List<String>> mistakes = List.of(List.of(), List.of("no-such-command"), List.of("--version", "extra"),
                List.of("doctor", "--no-such-option"), List.of("launch"), List.of("launch", "-n", "zero", "--", "true"));
        for (List<String> args : mistakes) {
            Run r = tool(args.toArray(String[]::new));
            assertEquals(2, r.exit(), () -> args + ": " + r.out() + r.err());
            assertEquals("", r.out(), args + ": nothing on stdout for a usage error");
            assertTrue(!stderrBeyondTheIncubatorNotice(r).isBlank(), args + ": the reason is on stderr");
        }
    }

    @Test
    void usageErrorNamesTheOffendingArgument() throws Exception {
        Run r = tool("doctor", "--no-such-option");
        assertTrue(r.err().contains("dscomm doctor: unknown argument '--no-such-option'"), r.err());
    }
}
