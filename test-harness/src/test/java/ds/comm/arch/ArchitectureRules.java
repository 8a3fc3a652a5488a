package ds.comm.arch;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.lang.ArchRule;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackages;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The layering of ds-comm, as executable rules (see docs/architecture.md for the picture).
 *
 * <pre>
 *                 ds.comm (public API)  &lt;-  ds.comm.tool (CLI, launcher: module ds.comm.tool,
 *                                               reads ds.comm, topology and lanes only)
 *                /      |      \      \
 *        ds.comm.hier   |       \    ds.comm.mpi
 *          /     \      |        \      |
 *   ds.comm.shm   ds.comm.ring    \     |
 *          \       /      \        \    |
 *          ds.comm.spi    ds.comm.topology
 *               |
 *          ds.comm.lanes   (only user of jdk.incubator.vector)
 *
 *   ds.comm.observe (JFR events; filled by the public API) -- depends on nothing
 * </pre>
 */
final class ArchitectureRules {
    // Every rule allows an empty 'that()' because some layers (hier, mpi) may be absent from a
    // build; ArchitectureTest.importFindsEveryLayer guards against importing nothing at all.

    private ArchitectureRules() {
    }

    private static DescribedPredicate<JavaClass> otherDsCommThan(String pkg) {
        return resideInAPackage("ds.comm..").and(resideOutsideOfPackage(pkg + ".."))
                .as("ds-comm classes outside " + pkg);
    }

    static final ArchRule LANES_ARE_A_LEAF = noClasses().that().resideInAPackage("ds.comm.lanes..")
            .should().dependOnClassesThat(otherDsCommThan("ds.comm.lanes"))
            .because("kernels must be usable and testable on their own")
            .allowEmptyShould(true);

    static final ArchRule TOPOLOGY_IS_A_LEAF = noClasses().that().resideInAPackage("ds.comm.topology..")
            .should().dependOnClassesThat(otherDsCommThan("ds.comm.topology"))
            .because("who-is-where must not depend on how data moves")
            .allowEmptyShould(true);

    static final ArchRule OBSERVE_IS_A_LEAF = noClasses().that().resideInAPackage("ds.comm.observe..")
            .should().dependOnClassesThat(otherDsCommThan("ds.comm.observe"))
            .because("events carry strings and numbers, so any layer could record them without a cycle")
            .allowEmptyShould(true);

    static final ArchRule ONLY_THE_API_RECORDS_EVENTS = noClasses().that().resideOutsideOfPackages("ds.comm", "ds.comm.observe..")
            .should().dependOnClassesThat(resideInAPackage("ds.comm.observe.."))
            .because("one place fills events, so every backend's calls are recorded alike; backends report waits through spi")
            .allowEmptyShould(true);

    static final ArchRule SPI_DEPENDS_ONLY_ON_LANES = noClasses().that().resideInAPackage("ds.comm.spi..")
            .should().dependOnClassesThat(otherDsCommThan("ds.comm.spi").and(resideOutsideOfPackage("ds.comm.lanes..")))
            .because("the backend contract sits just above the kernels")
            .allowEmptyShould(true);

    static final ArchRule SHM_AND_RING_ARE_INDEPENDENT = noClasses().that().resideInAPackage("ds.comm.shm..")
            .should().dependOnClassesThat(resideInAnyPackage("ds.comm.ring..", "ds.comm.mpi..", "ds.comm.hier.."))
            .because("shared memory must never reach for sockets or MPI")
            .allowEmptyShould(true);

    static final ArchRule RING_DOES_NOT_USE_SHM = noClasses().that().resideInAPackage("ds.comm.ring..")
            .should().dependOnClassesThat(resideInAnyPackage("ds.comm.shm..", "ds.comm.mpi..", "ds.comm.hier.."))
            .because("the socket ring must work where no shared memory exists")
            .allowEmptyShould(true);

    static final ArchRule MPI_IS_SELF_CONTAINED = noClasses().that().resideInAPackage("ds.comm.mpi..")
            .should().dependOnClassesThat(resideInAnyPackage("ds.comm.shm..", "ds.comm.ring..", "ds.comm.hier.."))
            .because("the MPI backend composes with others only through the public API's policy")
            .allowEmptyShould(true);

    static final ArchRule ONLY_API_AND_COMPOSITES_USE_BACKENDS = noClasses()
            .that().resideOutsideOfPackages("ds.comm", "ds.comm.hier..", "ds.comm.shm..", "ds.comm.ring..", "ds.comm.mpi..")
            .should().dependOnClassesThat(resideInAnyPackage("ds.comm.shm..", "ds.comm.ring..", "ds.comm.mpi..", "ds.comm.hier.."))
            .because("backends are reached only through the public API, which chooses among them")
            .allowEmptyShould(true);

    static final ArchRule NOTHING_BELOW_THE_API_USES_IT = noClasses()
            .that().resideInAnyPackage("ds.comm.lanes..", "ds.comm.topology..", "ds.comm.observe..", "ds.comm.spi..", "ds.comm.shm..",
                    "ds.comm.ring..", "ds.comm.mpi..", "ds.comm.hier..")
            .should().dependOnClassesThat(resideInAPackage("ds.comm"))
            .because("the public API sits on top; a dependency back up would be a cycle")
            .allowEmptyShould(true);

    static final ArchRule VECTOR_API_ONLY_IN_LANES = noClasses().that().resideOutsideOfPackage("ds.comm.lanes..")
            .should().dependOnClassesThat(resideInAPackage("jdk.incubator.vector.."))
            .because("the incubator API is confined to the kernels so it can be swapped when it graduates")
            .allowEmptyShould(true);

    static final ArchRule FOREIGN_CALLS_ONLY_IN_MPI_AND_SHM = noClasses()
            .that().resideOutsideOfPackages("ds.comm.mpi..", "ds.comm.shm..")
            .should().dependOnClassesThat(com.tngtech.archunit.base.DescribedPredicate.describe(
                    "foreign linker types",
                    (JavaClass c) -> c.getName().equals("java.lang.foreign.Linker")
                            || c.getName().startsWith("java.lang.foreign.Linker$")
                            || c.getName().equals("java.lang.foreign.SymbolLookup")
                            || c.getName().equals("java.lang.foreign.FunctionDescriptor")))
            .because("native calls are confined to the MPI backend (and SHM mapping)")
            .allowEmptyShould(true);

    static final ArchRule LIBRARY_NEVER_USES_THE_TOOL = noClasses().that().resideOutsideOfPackage("ds.comm.tool..")
            .should().dependOnClassesThat(resideInAPackage("ds.comm.tool.."))
            .because("the CLI and launcher are built on the library, never the reverse")
            .allowEmptyShould(true);

    // The tool is a module of its own: it can read only what module ds.comm exports to it (the
    // API, and topology and lanes qualified to ds.comm.tool). Checked here as well, so that a
    // wish for more shows up as a failing rule next to the layering, not as a javac error.
    static final ArchRule TOOL_USES_ONLY_WHAT_THE_LIBRARY_EXPORTS_TO_IT = noClasses().that().resideInAPackage("ds.comm.tool..")
            .should().dependOnClassesThat(resideInAPackage("ds.comm..").and(resideOutsideOfPackages("ds.comm",
                    "ds.comm.topology", "ds.comm.lanes", "ds.comm.tool..")).as("library packages not exported to the tool"))
            .because("module ds.comm exports only ds.comm, and topology and lanes to ds.comm.tool")
            .allowEmptyShould(true);

    static final ArchRule NO_PACKAGE_CYCLES = slices().matching("ds.comm.(*)..").should().beFreeOfCycles()
            .allowEmptyShould(true);

    static final ArchRule[] ALL = {
            LANES_ARE_A_LEAF, TOPOLOGY_IS_A_LEAF, OBSERVE_IS_A_LEAF, ONLY_THE_API_RECORDS_EVENTS, SPI_DEPENDS_ONLY_ON_LANES, SHM_AND_RING_ARE_INDEPENDENT,
            RING_DOES_NOT_USE_SHM, MPI_IS_SELF_CONTAINED, ONLY_API_AND_COMPOSITES_USE_BACKENDS,
            NOTHING_BELOW_THE_API_USES_IT, VECTOR_API_ONLY_IN_LANES, FOREIGN_CALLS_ONLY_IN_MPI_AND_SHM,
            LIBRARY_NEVER_USES_THE_TOOL, TOOL_USES_ONLY_WHAT_THE_LIBRARY_EXPORTS_TO_IT, NO_PACKAGE_CYCLES
    };
}
