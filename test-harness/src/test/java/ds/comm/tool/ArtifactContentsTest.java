package ds.comm.tool;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the two artifacts hold: the library jar only the library's packages (no tool, no rank
 * program, no test class), the tool only its own; sources and javadoc jars beside the library.
 */
class ArtifactContentsTest {

    private static final Path BASEDIR = Path.of(System.getProperty("dscomm.basedir", "."));

    /** The library jar: the one these tests run against, else the build's (run `mvn package` first). */
    private static Path libraryJar() throws Exception {
        Path loaded = Path.of(ds.comm.Communicator.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path jar = Files.isRegularFile(loaded) ? loaded
                : Path.of(System.getProperty("dscomm.libraryJar", "target/ds-comm.jar"));
        assertTrue(Files.isRegularFile(jar), "no library jar at " + jar + " (build it: mvn -DskipTests package)");
        return jar;
    }

    /** The packages of the library's sources (src/main/java), e.g. ds/comm/topology. */
    private static Set<String> sourcePackages() throws IOException {
        Path root = BASEDIR.resolve("src/main/java");
        Set<String> packages = new TreeSet<>();
        try (Stream<Path> all = Files.walk(root)) {
            all.filter(p -> p.toString().endsWith(".java") && !p.getFileName().toString().equals("module-info.java"))
                    .forEach(p -> packages.add(root.relativize(p.getParent()).toString()));
        }
        return packages;
    }

    private static List<String> entries(Path jar) throws IOException {
        try (JarFile f = new JarFile(jar.toFile())) {
            return f.stream().map(JarEntry::getName).filter(n -> !n.endsWith("/")).toList();
        }
    }

    /** Entries that are neither metadata nor a file of one of {@code packages}. */
    private static List<String> strays(List<String> entries, Set<String> packages, String suffix) {
        List<String> bad = new ArrayList<>();
        for (String e : entries) {
            if (e.startsWith("META-INF/") || e.equals("module-info.class") || e.equals("module-info.java")) continue;
            int slash = e.lastIndexOf('/');
            if (slash < 0 || !packages.contains(e.substring(0, slash)) || !e.endsWith(suffix)) bad.add(e);
        }
        return bad;
    }

    @Test
    void libraryJarHoldsOnlyTheLibrarysPackagesAndItsLicence() throws Exception {
        Path jar = libraryJar();
        Set<String> packages = sourcePackages();
        assertTrue(packages.contains("ds/comm") && packages.contains("ds/comm/topology"), "source packages " + packages);
        List<String> entries = entries(jar);
        assertEquals(List.of(), strays(entries, packages, ".class"), "entries of " + jar + " outside " + packages);
        assertTrue(entries.stream().noneMatch(e -> e.startsWith("ds/comm/tool/")), "the tool is not in the library");
        assertTrue(entries.contains("META-INF/LICENSE") && entries.contains("META-INF/NOTICE"), "licence inside");
    }

    @Test
    void libraryJarIsModuleDsCommExportingTheApiAndQualifyingTheRest() throws Exception {
        ModuleReference ref = ModuleFinder.of(libraryJar()).find("ds.comm").orElseThrow();
        ModuleDescriptor d = ref.descriptor();
        assertEquals(System.getProperty("dscomm.project.version"), d.rawVersion().orElse(null), "version stamped");
        for (ModuleDescriptor.Exports e : d.exports()) {
            if (!e.source().equals("ds.comm")) {
                assertEquals(Set.of("ds.comm.tool"), e.targets(), e.source() + " may be exported to the tool only");
            }
        }
        assertTrue(d.requires().stream().allMatch(r -> r.name().startsWith("java.") || r.name().startsWith("jdk.")),
                "no runtime dependency beyond the JDK: " + d.requires());
    }

    @Test
    void sourcesAndJavadocJarsLieBesideTheLibraryJar() throws Exception {
        Path jar = libraryJar();
        String base = jar.getFileName().toString().replaceFirst("\\.jar$", "");
        Path sources = jar.resolveSibling(base + "-sources.jar");
        Path javadoc = jar.resolveSibling(base + "-javadoc.jar");
        assertTrue(Files.isRegularFile(sources), "sources jar " + sources);
        assertTrue(Files.isRegularFile(javadoc), "javadoc jar " + javadoc);
        assertEquals(List.of(), strays(entries(sources), sourcePackages(), ".java"), "entries of " + sources);
        assertTrue(entries(javadoc).contains("ds.comm/ds/comm/Communicator.html"), "Communicator documented");
        List<String> internals = entries(javadoc).stream()
                .filter(e -> e.matches("(ds\\.comm/)?ds/comm/[a-z]+/.*\\.html") && !e.contains("/class-use/")
                        && !e.matches("(ds\\.comm/)?ds/comm/class-use/.*"))
                .toList();
        assertEquals(List.of(), internals, "the javadoc jar documents the public API (package ds.comm) only");
    }

    @Test
    void toolHoldsOnlyItsOwnPackageAndNoRankProgram() throws Exception {
        Path tool = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> entries;
        if (Files.isDirectory(tool)) {
            try (Stream<Path> all = Files.walk(tool)) {
                entries = all.filter(Files::isRegularFile).map(p -> tool.relativize(p).toString()).toList();
            }
        } else {
            entries = entries(tool);
        }
        assertEquals(List.of(), strays(entries, Set.of("ds/comm/tool"), ".class"), "entries of " + tool);
        assertTrue(entries.contains("ds/comm/tool/Main.class"), "the tool's main class in " + tool);
    }
}
