package ds.comm.arch;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import ds.comm.lanes.archfixture.KernelUsingTheApi;
import ds.comm.shm.archfixture.ShmUsingVectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The production classes obey every layering rule, and the rules do catch violations. */
class ArchitectureTest {

    private static JavaClasses production;

    @BeforeAll
    static void importProductionClasses() {
        production = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("ds.comm");
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
    void theFixtureAloneDoesNotTripUnrelatedRules() {
        JavaClasses bad = new ClassFileImporter().importClasses(KernelUsingTheApi.class);
        assertFalse(ArchitectureRules.VECTOR_API_ONLY_IN_LANES.evaluate(bad).hasViolation());
    }
}
