package ds.comm.mpi;

import java.util.Map;

/**
 * The MPICH ABI ({@code libmpich.so.12}, also Intel MPI's and MVAPICH's {@code libmpi.so.12}):
 * every handle is a C {@code int} whose bits encode kind and index, so the predefined handles are
 * compile-time constants rather than symbols.
 *
 * <p>Constants verified against MPICH 4.0.2's mpi.h (Debian 12, libmpich-dev,
 * /usr/include/x86_64-linux-gnu/mpich/mpi.h):
 * <pre>
 *   MPI_COMM_WORLD    0x44000000    MPI_MAX   0x58000001    MPI_ERRORS_RETURN 0x54000001
 *   MPI_FLOAT         0x4c00040a    MPI_MIN   0x58000002    MPI_IN_PLACE      (void *) -1
 *   MPI_DOUBLE        0x4c00080b    MPI_SUM   0x58000003    MPI_THREAD_MULTIPLE 3
 *   MPI_INT           0x4c000405    MPI_PROD  0x58000004    MPI_MAX_ERROR_STRING 512
 *   MPI_INT64_T       0x4c00083a    MPI_BYTE  0x4c00010d    MPI_MAX_LIBRARY_VERSION_STRING 8192
 * </pre>
 * Error classes: BUFFER 1, COUNT 2, TYPE 3, RANK 6, ROOT 7, OP 9, ARG 12, TRUNCATE 14,
 * MPIX_ERR_PROC_FAILED 101, MPIX_ERR_REVOKED 103.
 */
final class MpichAbi {

    /** Symbol whose presence (with no Open MPI marker) identifies an MPICH-derived library. */
    static final String MARKER = "MPIR_Err_create_code";

    /** The predefined handles of the table above, by their names in mpi.h. */
    private static final Map<String, Long> HANDLES = Map.ofEntries(
            Map.entry("MPI_COMM_WORLD", 0x44000000L), Map.entry("MPI_BYTE", 0x4c00010dL),
            Map.entry("MPI_ERRORS_RETURN", 0x54000001L),
            Map.entry("MPI_FLOAT", 0x4c00040aL), Map.entry("MPI_DOUBLE", 0x4c00080bL),
            Map.entry("MPI_INT", 0x4c000405L), Map.entry("MPI_INT64_T", 0x4c00083aL),
            Map.entry("MPI_SUM", 0x58000003L), Map.entry("MPI_PROD", 0x58000004L),
            Map.entry("MPI_MIN", 0x58000002L), Map.entry("MPI_MAX", 0x58000001L));

    private MpichAbi() {
    }

    /** The MPICH ABI. */
    static MpiAbi abi() {
        return MpiAbi.of("MPICH", true, HANDLES::get, -1L, 512, 8192,
                new int[] {1, 2, 3, 6, 7, 9, 12, 14}, new int[] {101, 103});
    }
}
