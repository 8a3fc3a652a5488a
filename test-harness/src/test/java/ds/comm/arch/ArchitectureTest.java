package ds.comm.arch;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import ds.comm.lanes.archfixture.KernelUsingTheApi;
import ds.comm.shm.archfixture.ShmUsingVectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The production classes obey every layering rule, and the rules do catch violations. */
class ArchitectureTest {

    private static JavaClasses production;

    /**
     * Exactly the two shipped modules, from where this JVM loaded them (jars after packaging,
     * folders otherwise): the class path also holds the library's test jar, which is no product.
     */
    @BeforeAll
    static void importProductionClasses() throws Exception {
        List<Location> locations = new ArrayList<>();
        for (Class<?> c : List.of(ds.comm.Communicator.class, ds.comm.tool.Main.class)) {
            Path where = Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
            locations.add(Files.isDirectory(where) ? Location.of(where) : Location.of(new JarFile(where.toFile())));
        }
        production = new ClassFileImporter().importLocations(locations);
    }

    @Test
    void productionClassesObeyEveryLayeringRule() {
        List<String> failures = new ArrayList<>();
        for (ArchRule rule : ArchitectureRules.ALL) {
            var result = rule.evaluate(production);
            if (result.hasViolation()) failures.add(result.getFailureReport().toString());
        }
        assertTrue(failures.isEmpty(), String.join("\n\n", failures));
    }

    @Test
    void importFindsEveryLayer() {
        // Guards against a rule that passes only because the importer saw nothing.
        for (String pkg : List.of("ds.comm", "ds.comm.lanes", "ds.comm.topology", "ds.comm.spi", "ds.comm.observe", "ds.comm.tool")) {
            assertTrue(production.containPackage(pkg), "no classes imported from " + pkg);
        }
    }

    @Test
    void aKernelThatReachesForTheApiIsRejected() {
        JavaClasses bad = new ClassFileImporter().importClasses(KernelUsingTheApi.class);
        var result = ArchitectureRules.NOTHING_BELOW_THE_API_USES_IT.evaluate(bad);
        assertTrue(result.hasViolation(), "a class in a lower layer that uses the public API must be rejected");
        assertTrue(result.getFailureReport().toString().contains("KernelUsingTheApi"));
        assertTrue(ArchitectureRules.LANES_ARE_A_LEAF.evaluate(bad).hasViolation());
    }

    @Test
    void vectorApiOutsideTheKernelsIsRejected() {
        JavaClasses bad = new ClassFileImporter().importClasses(ShmUsingVectors.class);
        assertTrue(ArchitectureRules.VECTOR_API_ONLY_IN_LANES.evaluate(bad).hasViolation());
    }

    @Test
    void noTestClassOrRankProgramIsImportedAsProduction() {
        assertFalse(production.containPackage("ds.comm.tool.scenario"), "rank programs are test classes");
        assertFalse(production.containPackage("ds.comm.testkit"), "the test kit is no product");
    }

    @Test
    void toolReachingIntoABackendIsRejected() {
        JavaClasses bad = new ClassFileImporter().importClasses(ds.comm.tool.archfixture.ToolUsingShm.class);
        assertTrue(ArchitectureRules.TOOL_USES_ONLY_WHAT_THE_LIBRARY_EXPORTS_TO_IT.evaluate(bad).hasViolation());
    }

    @Test
    void theFixtureAloneDoesNotTripUnrelatedRules() {
        JavaClasses bad = new ClassFileImporter().importClasses(KernelUsingTheApi.class);
        assertFalse(ArchitectureRules.VECTOR_API_ONLY_IN_LANES.evaluate(bad).hasViolation());
    }
}
