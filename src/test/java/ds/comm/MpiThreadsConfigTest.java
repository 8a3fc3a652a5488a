package ds.comm;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How DSCOMM_MPI_THREADS (and {@link CommConfig.Builder#mpiThreads}) resolve. */
class MpiThreadsConfigTest {

    private static Resolved resolve(Map<String, String> env) {
        return Resolved.of(CommConfig.builder().environment(env).build());
    }

    @Test
    void mpiIsInitialisedThreadMultipleUnlessSingleIsAskedFor() {
        assertEquals(MpiThreads.MULTIPLE, resolve(Map.of()).mpiThreads());
        assertEquals(MpiThreads.SINGLE, resolve(Map.of("DSCOMM_MPI_THREADS", "single")).mpiThreads());
        assertEquals(MpiThreads.SINGLE, resolve(Map.of("DSCOMM_MPI_THREADS", " Single ")).mpiThreads());
        assertEquals(MpiThreads.MULTIPLE, resolve(Map.of("DSCOMM_MPI_THREADS", "multiple")).mpiThreads());
        assertEquals(MpiThreads.MULTIPLE, Resolved.of(CommConfig.builder().environment(Map.of("DSCOMM_MPI_THREADS", "single"))
                .mpiThreads(MpiThreads.MULTIPLE).build()).mpiThreads(), "CommConfig wins over the environment");
    }

    @Test
    void anUnknownThreadLevelNamesTheVariableAndTheChoices() {
        // funneled and serialized are refused: Open MPI locks at both as at multiple, without the concurrency.
        for (String bad : new String[] {"serialized", "funneled", "3", "multi"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> resolve(Map.of("DSCOMM_MPI_THREADS", bad)));
            assertTrue(e.getMessage().contains("DSCOMM_MPI_THREADS") && e.getMessage().contains("'" + bad + "'")
                    && e.getMessage().contains("multiple or single"), e.getMessage());
        }
        assertThrows(NullPointerException.class, () -> CommConfig.builder().mpiThreads(null));
    }
}
