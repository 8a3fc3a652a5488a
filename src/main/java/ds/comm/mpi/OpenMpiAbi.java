package ds.comm.mpi;

import java.lang.foreign.SymbolLookup;
import java.util.Locale;
import java.util.Set;

/**
 * Open MPI ({@code libmpi.so.40}): every handle is a pointer, and the predefined handles are the
 * addresses of exported objects: its mpi.h defines {@code MPI_X} as {@code &ompi_mpi_x}, and an
 * op {@code MPI_X} as {@code &ompi_mpi_op_x} ({@code MPI_COMM_WORLD} is
 * {@code &ompi_mpi_comm_world}, {@code MPI_SUM} is {@code &ompi_mpi_op_sum}).
 *
 * <p>Constants verified against Open MPI 4.1.4's mpi.h (Debian 12, libopenmpi-dev):
 * {@code MPI_IN_PLACE = (void *) 1}, {@code MPI_THREAD_MULTIPLE = 3} (fourth enumerator),
 * {@code MPI_MAX_ERROR_STRING = 256}, {@code MPI_MAX_LIBRARY_VERSION_STRING = 256}, error classes
 * BUFFER 1, COUNT 2, TYPE 3, RANK 6, ROOT 8, OP 10, ARG 13, TRUNCATE 15. {@code MPI_INT64_T} is
 * {@code &ompi_mpi_int64_t}. Open MPI 4 has no ULFM error classes in its default build, so no
 * class maps to a lost peer (the runtime kills the job when a rank dies).
 */
final class OpenMpiAbi {

    /** Symbol whose presence identifies the Open MPI ABI. */
    static final String MARKER = "ompi_mpi_comm_world";

    private static final Set<String> OPS = Set.of("MPI_SUM", "MPI_PROD", "MPI_MIN", "MPI_MAX");

    private OpenMpiAbi() {
    }

    /** Open MPI's ABI, its predefined handles looked up in {@code lib} (loaded from {@code libName}). */
    static MpiAbi abi(SymbolLookup lib, String libName) {
        return MpiAbi.of("Open MPI", false, name -> address(lib, libName, symbol(name)), 1L, 256, 256,
                new int[] {1, 2, 3, 6, 8, 10, 13, 15}, new int[0]);
    }

    /** The exported object behind {@code MPI_X}, as mpi.h names it. */
    static String symbol(String mpiName) {
        return "ompi_mpi_" + (OPS.contains(mpiName) ? "op_" : "") + mpiName.substring("MPI_".length()).toLowerCase(Locale.ROOT);
    }

    private static long address(SymbolLookup lib, String libName, String symbol) {
        return lib.find(symbol).orElseThrow(() -> MpiLibrary.setupFailure(
                libName + " exports " + MARKER + " but not " + symbol + "; not an Open MPI ABI this backend knows",
                null)).address();
    }
}
