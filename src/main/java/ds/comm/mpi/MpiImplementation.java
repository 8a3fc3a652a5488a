package ds.comm.mpi;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The MPI implementation a job's launcher belongs to, and where that implementation's library
 * is found. The library must be the launcher's own: an MPI library started by a foreign launcher
 * does not find its process manager and initialises as a world of one on every rank.
 *
 * <p>Sonames, most specific first:
 * <ul>
 *   <li>Open MPI (mpirun / prterun): {@code libmpi.so.40} (Open MPI 3, 4 and 5);</li>
 *   <li>MPICH (Hydra's mpiexec): {@code libmpich.so.12} (Debian's and Ubuntu's name), then
 *       {@code libmpi.so.12} (upstream MPICH, MVAPICH and other MPICH-ABI installs);</li>
 *   <li>Intel MPI (also Hydra, told apart by {@code I_MPI_ROOT}, which its environment script
 *       sets): {@code libmpi.so.12} in {@code $I_MPI_ROOT/lib} (oneAPI 2021.11 and later),
 *       {@code $I_MPI_ROOT/lib/release} (oneAPI before 2021.11) and
 *       {@code $I_MPI_ROOT/intel64/lib/release} (Intel MPI 2019), then {@code libmpi.so.12} on the
 *       loader's path;</li>
 *   <li>unknown (a launcher that is not an MPI's, or none): Open MPI's, then the MPICH ABI's.</li>
 * </ul>
 */
public enum MpiImplementation {
    /** Open MPI. */
    OPEN_MPI("Open MPI"),
    /** MPICH and MPICH-ABI derivatives other than Intel MPI. */
    MPICH("MPICH"),
    /** Intel MPI: MPICH's ABI in Intel's directory layout. */
    INTEL_MPI("Intel MPI"),
    /** Not known from the launcher. */
    UNKNOWN("unknown MPI");

    /** Environment variable Intel MPI's setup script exports: the installation's root. */
    public static final String INTEL_MPI_ROOT = "I_MPI_ROOT";

    private final String displayName;

    MpiImplementation(String displayName) {
        this.displayName = displayName;
    }

    /** E.g. "Intel MPI". */
    public String displayName() {
        return displayName;
    }

    /**
     * The library names or paths to try, in order, for this implementation.
     *
     * @param env the process environment (only {@value #INTEL_MPI_ROOT} is read)
     * @return names for {@link java.lang.foreign.SymbolLookup#libraryLookup(String, java.lang.foreign.Arena)}
     */
    public List<String> libraries(Map<String, String> env) {
        return switch (this) {
            case OPEN_MPI -> List.of("libmpi.so.40");
            case MPICH -> List.of("libmpich.so.12", "libmpi.so.12");
            case INTEL_MPI -> {
                List<String> out = new ArrayList<>();
                String root = env.get(INTEL_MPI_ROOT);
                if (root != null && !root.isBlank()) {
                    String r = root.strip().replaceAll("/+$", "");
                    out.add(r + "/lib/libmpi.so.12");
                    out.add(r + "/lib/release/libmpi.so.12");
                    out.add(r + "/intel64/lib/release/libmpi.so.12");
                }
                out.add("libmpi.so.12");
                yield List.copyOf(out);
            }
            case UNKNOWN -> MpiLibrary.DEFAULT_CANDIDATES;
        };
    }

    /**
     * The implementation behind a Hydra launch: Intel MPI when its root is exported, else MPICH.
     *
     * @param env the process environment
     * @return {@link #INTEL_MPI} or {@link #MPICH}
     */
    public static MpiImplementation ofHydra(Map<String, String> env) {
        String root = env.get(INTEL_MPI_ROOT);
        return root != null && !root.isBlank() ? INTEL_MPI : MPICH;
    }
}
