package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

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
final class MpichAbi implements MpiAbi {

    /** Symbol whose presence (with no Open MPI marker) identifies an MPICH-derived library. */
    static final String MARKER = "MPIR_Err_create_code";

    private static final MethodHandle TO_INT =
            MethodHandles.explicitCastArguments(MethodHandles.identity(int.class),
                    MethodType.methodType(int.class, long.class));

    @Override
    public String family() {
        return "MPICH";
    }

    @Override
    public ValueLayout handleLayout() {
        return ValueLayout.JAVA_INT;
    }

    @Override
    public MethodHandle handleToCarrier() {
        // Narrowing keeps the low 32 bits: user handles such as 0x8c000000 are negative ints,
        // stored sign-extended in the long and restored exactly here.
        return TO_INT;
    }

    @Override
    public long readHandle(MemorySegment slot) {
        return slot.get(ValueLayout.JAVA_INT, 0);
    }

    @Override
    public void writeHandle(MemorySegment slot, long handle) {
        slot.set(ValueLayout.JAVA_INT, 0, (int) handle);
    }

    @Override
    public long commWorld() {
        return 0x44000000;
    }

    @Override
    public long datatype(ElementType type) {
        return switch (type) {
            case FP32 -> 0x4c00040a;
            case FP64 -> 0x4c00080b;
            case INT32 -> 0x4c000405;
            case INT64 -> 0x4c00083a;
            case BF16, FP16 -> 0L;
        };
    }

    @Override
    public long byteType() {
        return 0x4c00010d;
    }

    @Override
    public long op(Combiner op) {
        return switch (op) {
            case MAX -> 0x58000001;
            case MIN -> 0x58000002;
            case SUM -> 0x58000003;
            case PROD -> 0x58000004;
        };
    }

    @Override
    public long errorsReturn() {
        return 0x54000001;
    }

    @Override
    public long inPlace() {
        return -1L;
    }

    @Override
    public int maxErrorString() {
        return 512;
    }

    @Override
    public int maxLibraryVersionString() {
        return 8192;
    }

    @Override
    public CommFailure.Kind kindOf(int errorClass) {
        return switch (errorClass) {
            case 1, 2, 3, 6, 7, 9, 12, 14 -> CommFailure.Kind.MISMATCH;
            case 101, 103 -> CommFailure.Kind.PEER_LOST;
            default -> CommFailure.Kind.SETUP;
        };
    }
}
