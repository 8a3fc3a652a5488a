package ds.comm.reliability;

import ds.comm.topology.SocketOwner;
import ds.comm.testkit.RequiredEnvironment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs an attacker as a second local user: uid and gid 65534 ("nobody"), through setpriv
 * (util-linux), which needs root. The attacker's classes are copied to a world-readable
 * directory first (the build tree may sit in a home only root can enter). A test that cannot
 * run a second uid is skipped with the reason, or fails where skips are failures
 * ({@link RequiredEnvironment}: CI), where a skip would hide that the attack was never re-run.
 */
final class OtherUser {

    /** The attacker's uid and gid. */
    static final long UID = 65534;

    private static String classes;

    private OtherUser() {
    }

    /** Skips (or, under dscomm.requireAll, fails) the calling test when no second uid can run. */
    static void assumeAvailable() {
        String why = null;
        if (SocketOwner.ownUid() != 0) {
            why = "running a process as another uid needs root (this is " + SocketOwner.describeUid(SocketOwner.ownUid()) + ")";
        } else if (Stream.of("/usr/bin/setpriv", "/bin/setpriv").noneMatch(p -> Files.isExecutable(Path.of(p)))) {
            why = "setpriv (util-linux) is not installed";
        }
        if (why != null) {
            RequiredEnvironment.skip(why);
        }
    }

    /** An attacker process and the file its output goes to. */
    record Attacker(Process process, Path output) {
        /** Waits up to {@code seconds} for it to end by itself; its output. */
        String awaitOutput(long seconds) throws InterruptedException, IOException {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                throw new AssertionError("the attacker did not finish within " + seconds + " s: " + reap());
            }
            return reap();
        }

        /** Kills and reaps it (if still running), removes the output file; returns the output (once). */
        String reap() throws IOException {
            process.destroyForcibly();
            try {
                process.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (!Files.exists(output)) return ""; // reaped before
            String out = Files.readString(output);
            Files.delete(output);
            return out;
        }
    }

    /** Starts {@code mainClass} of the test classes as uid 65534; stdout and stderr go to a file. */
    static Attacker start(String mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + UID, "--regid=" + UID, "--clear-groups", "--",
                ProcessHandle.current().info().command().orElseThrow(), "-XX:+UseSerialGC", "-XX:-UsePerfData",
                "-XX:TieredStopAtLevel=1", "-Xmx64m", "-cp", classes(), mainClass));
        cmd.addAll(List.of(args));
        // A file, not a pipe: Process.destroy closes the pipe, and with it what the attacker said.
        Path out = Files.createTempFile("dscomm-attacker-", ".out");
        return new Attacker(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start(), out);
    }

    /** A world-readable copy of the library (its jar or classes) and of these tests' classes, made once per JVM. */
    private static synchronized String classes() throws IOException {
        if (classes != null) return classes;
        Path dir = Files.createTempDirectory("dscomm-attacker-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        // The class path may be a manifest-only jar (surefire): copy the locations the
        // library's and the tests' classes come from (a jar, or a directory of classes).
        List<String> classPath = new ArrayList<>();
        for (Class<?> c : List.of(SocketOwner.class, Impostor.class)) {
            Path src;
            try {
                src = Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
            } catch (java.net.URISyntaxException e) {
                throw new IOException(e);
            }
            Path copy = dir.resolve("cp" + classPath.size() + (Files.isDirectory(src) ? "" : ".jar"));
            classPath.add(copy.toString());
            try (Stream<Path> all = Files.walk(src)) {
                all.forEach(p -> {
                    Path to = p.equals(src) ? copy : copy.resolve(src.relativize(p).toString());
                    try {
                        if (Files.isDirectory(p)) Files.createDirectories(to);
                        else Files.copy(p, to, StandardCopyOption.REPLACE_EXISTING);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString(
                                Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
        classes = String.join(java.io.File.pathSeparator, classPath);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                Jobs.deleteTree(dir);
            } catch (IOException e) {
                // a temporary directory: the system cleans it up eventually
            }
        }));
        return classes;
    }
}
