package ds.comm.mpi;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Which library each launcher's MPI is looked up by. In-process; nothing is loaded. */
class MpiImplementationTest {

    @Test
    void openMpiLaunchTriesOnlyOpenMpisSoname() {
        assertEquals(List.of("libmpi.so.40"), MpiImplementation.OPEN_MPI.libraries(Map.of()));
    }

    @Test
    void hydraLaunchTriesMpichsSonamesAndNeverOpenMpis() {
        assertEquals(List.of("libmpich.so.12", "libmpi.so.12"), MpiImplementation.MPICH.libraries(Map.of()));
    }

    @Test
    void intelMpiIsFoundInEachOfItsInstallLayoutsThenOnTheLoaderPath() {
        assertEquals(List.of("/opt/intel/oneapi/mpi/2021.13/lib/libmpi.so.12",
                        "/opt/intel/oneapi/mpi/2021.13/lib/release/libmpi.so.12",
                        "/opt/intel/oneapi/mpi/2021.13/intel64/lib/release/libmpi.so.12", "libmpi.so.12"),
                MpiImplementation.INTEL_MPI.libraries(Map.of(MpiImplementation.INTEL_MPI_ROOT, "/opt/intel/oneapi/mpi/2021.13/")));
        assertEquals(List.of("libmpi.so.12"), MpiImplementation.INTEL_MPI.libraries(Map.of()));
    }

    @Test
    void hydraIsIntelMpiOnlyWhenItsRootIsExported() {
        assertEquals(MpiImplementation.INTEL_MPI, MpiImplementation.ofHydra(Map.of("I_MPI_ROOT", "/opt/intel/mpi")));
        assertEquals(MpiImplementation.MPICH, MpiImplementation.ofHydra(Map.of()));
        assertEquals(MpiImplementation.MPICH, MpiImplementation.ofHydra(Map.of("I_MPI_ROOT", " ")));
    }

    @Test
    void unknownLauncherKeepsTheStandardOrder() {
        assertEquals(MpiLibrary.DEFAULT_CANDIDATES, MpiImplementation.UNKNOWN.libraries(Map.of()));
    }

    @Test
    void explicitLibraryOverridesTheLaunchersImplementation() {
        // DSCOMM_MPI_LIB wins: only it is tried even though the launcher says MPICH.
        var f = org.junit.jupiter.api.Assertions.assertThrows(ds.comm.spi.CommFailure.class,
                () -> MpiLibrary.load("/nonexistent/libmpi.so.40", MpiImplementation.MPICH, Map.of()));
        String m = f.getMessage();
        String tried = m.substring(m.indexOf("tried ") + "tried ".length(), m.indexOf(". Point"));
        assertEquals(true, tried.startsWith("/nonexistent/libmpi.so.40 (") && !tried.contains("libmpich"), tried);
    }
}
