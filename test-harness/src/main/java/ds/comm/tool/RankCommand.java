package ds.comm.tool;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.jar.JarFile;
import java.util.regex.Pattern;

/**
 * Turns the COMMAND of {@code launch -- COMMAND ARGS...} into the argument vector of one rank.
 *
 * <ul>
 *   <li>A main class of module ds.comm or ds.comm.tool (e.g. {@code ds.comm.tool.Main}): run on the
 *       module path, {@code java --module-path <ds.comm>:<ds.comm.tool> -m <module>/<class>}.</li>
 *   <li>Java arguments ({@code -jar app.jar ...}, {@code -cp app.jar Main ...}, any first token that
 *       starts with '-'): {@code java --module-path <ds.comm>:<ds.comm.tool> --add-modules ds.comm
 *       <arguments>}, so that the application finds ds-comm as a module.</li>
 *   <li>Any other class name (dotted Java identifiers, not a program on PATH): on the user class
 *       path ({@code --cp}) with ds.comm added as a module.</li>
 *   <li>Anything else (a path, or a program on PATH): run as it is.</li>
 * </ul>
 * Java always means the very JVM that runs the launcher ({@code java.home}), never the first
 * {@code java} on PATH, so that the ranks run the JDK the user chose for ds-comm.
 */
final class RankCommand {

    private static final Pattern CLASS_NAME = Pattern.compile(
            "(\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*\\.)*\\p{javaJavaIdentifierStart}\\p{javaJavaIdentifierPart}*");

    private RankCommand() {
    }

    /**
     * Where the two modules live: jars from bin/dscomm, the build's folders or jars in tests. The
     * ranks get both on their module path; the tool's module is resolved only when asked for.
     *
     * @param library     the ds.comm module (a jar or a folder)
     * @param tool        the ds.comm.tool module (a jar or a folder)
     * @param application the application's module path ({@code launch -p}), after ds-comm's, or null
     */
    record Modules(Path library, Path tool, String application) {

        Modules {
            Objects.requireNonNull(library, "library");
            Objects.requireNonNull(tool, "tool");
        }

        Modules(Path library, Path tool) {
            this(library, tool, null);
        }

        /** These modules with the application's module path {@code path} (null or empty: none). */
        Modules with(String path) {
            return new Modules(library, tool, path == null || path.isEmpty() ? null : path);
        }

        /** Where this JVM loaded the library and the tool from. */
        static Modules located() {
            return new Modules(codeSource(ds.comm.Communicator.class), codeSource(RankCommand.class), null);
        }

        /** The module path: library, then tool (once, should both be one location), then the application's. */
        String path() {
            String own = library.equals(tool) ? library.toString() : library + File.pathSeparator + tool;
            return application == null ? own : own + File.pathSeparator + application;
        }

        /** The module whose location holds {@code className} as a module, or null. */
        String moduleOf(String className) {
            if (isModule(library) && containsClass(library, className)) return "ds.comm";
            if (isModule(tool) && containsClass(tool, className)) return "ds.comm.tool";
            return null;
        }

        /** A location that holds {@code className} without being a module, or null. */
        Path plainLocationOf(String className) {
            for (Path p : List.of(library, tool)) {
                if (!isModule(p) && containsClass(p, className)) return p;
            }
            return null;
        }
    }

    /**
     * @param command     COMMAND ARGS... as given by the user
     * @param java        the java executable to use
     * @param modules     where the ds.comm and ds.comm.tool code lives
     * @param jvmOptions  options for every rank's JVM (ignored for non-Java programs)
     * @param classPath   user class path for a main class outside ds-comm, or null
     * @param path        the PATH used to tell programs from class names
     */
    static List<String> resolve(List<String> command, Path java, Modules modules, List<String> jvmOptions,
                                String classPath, String path) {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("no command to launch");
        }
        String first = command.getFirst();
        List<String> rest = command.subList(1, command.size());
        List<String> argv = new ArrayList<>();
        if (first.startsWith("-")) {
            javaOnModulePath(argv, java, modules, jvmOptions, "ds.comm,ALL-UNNAMED");
            argv.add("--add-modules");
            argv.add("ds.comm");
            argv.addAll(command);
            return argv;
        }
        if (first.indexOf('/') < 0 && CLASS_NAME.matcher(first).matches() && !onPath(first, path)) {
            String module = modules.moduleOf(first);
            if (module != null) {
                javaOnModulePath(argv, java, modules, jvmOptions, "ds.comm");
                argv.add("-m");
                argv.add(module + "/" + first);
            } else {
                javaOnModulePath(argv, java, modules, jvmOptions, "ds.comm,ALL-UNNAMED");
                argv.add("--add-modules");
                argv.add("ds.comm");
                String cp = classPath;
                Path plain = modules.plainLocationOf(first);
                if (plain != null) {
                    // A ds-comm class in a location without module descriptor: run it from there.
                    cp = cp == null ? plain.toString() : cp + File.pathSeparator + plain;
                }
                if (cp != null) {
                    argv.add("-cp");
                    argv.add(cp);
                }
                argv.add(first);
            }
            argv.addAll(rest);
            return argv;
        }
        argv.addAll(command);
        return argv;
    }

    private static void javaOnModulePath(List<String> argv, Path java, Modules modules, List<String> jvmOptions,
                                         String nativeAccess) {
        argv.add(java.toString());
        argv.add("--enable-native-access=" + nativeAccess);
        argv.addAll(jvmOptions);
        argv.add("--module-path");
        argv.add(modules.path());
    }

    /** The java executable of this JVM, else of DSCOMM_JAVA_HOME (exported by bin/dscomm). */
    static Path currentJava(Map<String, String> env) {
        Path mine = Path.of(System.getProperty("java.home"), "bin", "java");
        if (Files.isExecutable(mine)) {
            return mine;
        }
        String home = env.get("DSCOMM_JAVA_HOME");
        if (home != null && Files.isExecutable(Path.of(home, "bin", "java"))) {
            return Path.of(home, "bin", "java");
        }
        return ProcessHandle.current().info().command().map(Path::of)
                .orElseThrow(() -> new IllegalStateException("cannot find the java executable of this JVM ("
                        + mine + " is missing)"));
    }

    /** Where {@code type} was loaded from: a module's jar, or the build's folder in tests. */
    private static Path codeSource(Class<?> type) {
        try {
            return Path.of(Objects.requireNonNull(type.getProtectionDomain().getCodeSource(),
                    "no code source").getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot locate the code of " + type.getModule() + ": " + e.getMessage(), e);
        }
    }

    static boolean isModule(Path location) {
        if (Files.isDirectory(location)) {
            return Files.isRegularFile(location.resolve("module-info.class"));
        }
        return jarHas(location, "module-info.class");
    }

    static boolean containsClass(Path location, String className) {
        String entry = className.replace('.', '/') + ".class";
        if (Files.isDirectory(location)) {
            return Files.isRegularFile(location.resolve(entry));
        }
        return jarHas(location, entry);
    }

    private static boolean jarHas(Path jar, String entry) {
        if (!Files.isRegularFile(jar)) {
            return false;
        }
        try (JarFile f = new JarFile(jar.toFile())) {
            return f.getEntry(entry) != null;
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean onPath(String program, String path) {
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program)) && !Files.isDirectory(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
