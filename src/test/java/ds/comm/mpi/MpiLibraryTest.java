package ds.comm.mpi;

import ds.comm.spi.CommFailure;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading the MPI library: what happens when it is not there or is not an MPI. In-process. */
class MpiLibraryTest {

    @Test
    void missingExplicitLibraryFailsWithSetupNamingItAndTheVariable() {
        CommFailure f = assertThrows(CommFailure.class, () -> MpiLibrary.load("/nonexistent/libmpi.so.40"));
        assertEquals(CommFailure.Kind.SETUP, f.kind());
        assertTrue(f.getMessage().contains("tried /nonexistent/libmpi.so.40"), f.getMessage());
        assertTrue(f.getMessage().contains("Point DSCOMM_MPI_LIB at the MPI library"), f.getMessage());
    }

    @Test
    void explicitLibraryIsTheOnlyOneTried() {
        CommFailure f = assertThrows(CommFailure.class, () -> MpiLibrary.load("/nonexistent/libmpi.so.40"));
        String m = f.getMessage();
        String tried = m.substring(m.indexOf("tried ") + "tried ".length(), m.indexOf(". Point"));
        assertTrue(tried.startsWith("/nonexistent/libmpi.so.40 ("), tried);
        assertTrue(!tried.contains(", "), "more than the explicit library was tried: " + tried);
    }

    @Test
    void everyCandidateTriedIsListedWhenNoneLoads() {
        List<String> names = List.of("libdscomm-no-such-openmpi.so.40", "libdscomm-no-such-mpich.so.12");
        CommFailure f = assertThrows(CommFailure.class, () -> MpiLibrary.load(names, false));
        assertEquals(CommFailure.Kind.SETUP, f.kind());
        int first = f.getMessage().indexOf(names.get(0));
        int second = f.getMessage().indexOf(names.get(1));
        assertTrue(first > 0 && second > first, "both candidates, in order: " + f.getMessage());
    }

    @Test
    void libraryExportingNoMpiIsRejectedNotMistakenForOne() {
        CommFailure f = assertThrows(CommFailure.class, () -> MpiLibrary.load(List.of("libm.so.6"), true));
        assertTrue(f.getMessage().contains("libm.so.6 (loaded, but exports neither ompi_mpi_comm_world"), f.getMessage());
    }

    @Test
    void standardSonamesAreOpenMpiThenTheMpichAbi() {
        assertEquals(List.of("libmpi.so.40", "libmpich.so.12", "libmpi.so.12"), MpiLibrary.DEFAULT_CANDIDATES);
    }
}
