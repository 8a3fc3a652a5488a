package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Open MPI ({@code libmpi.so.40}): every handle is a pointer, and the predefined handles are the
 * addresses of exported objects ({@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world}).
 *
 * <p>Constants verified against Open MPI 4.1.4's mpi.h (Debian 12, libopenmpi-dev):
 * {@code MPI_IN_PLACE = (void *) 1}, {@code MPI_THREAD_MULTIPLE = 3} (fourth enumerator),
 * {@code MPI_MAX_ERROR_STRING = 256}, {@code MPI_MAX_LIBRARY_VERSION_STRING = 256}, error classes
 * BUFFER 1, COUNT 2, TYPE 3, RANK 6, ROOT 8, OP 10, ARG 13, TRUNCATE 15. {@code MPI_INT64_T} is
 * {@code &ompi_mpi_int64_t}. Open MPI 4 has no ULFM error classes in its default build, so no
 * class maps to a lost peer (the runtime kills the job when a rank dies).
 */
final class OpenMpiAbi implements MpiAbi {

    /** Symbol whose presence identifies the Open MPI ABI. */
    static final String MARKER = "ompi_mpi_comm_world";

    private static final MethodHandle OF_ADDRESS;

    static {
        try {
            OF_ADDRESS = MethodHandles.lookup().findStatic(MemorySegment.class, "ofAddress",
                    MethodType.methodType(MemorySegment.class, long.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long commWorld;
    private final long fp32;
    private final long fp64;
    private final long int32;
    private final long int64;
    private final long bytes;
    private final long sum;
    private final long prod;
    private final long min;
    private final long max;
    private final long errorsReturn;

    OpenMpiAbi(SymbolLookup lib, String libName) {
        commWorld = address(lib, libName, MARKER);
        fp32 = address(lib, libName, "ompi_mpi_float");
        fp64 = address(lib, libName, "ompi_mpi_double");
        int32 = address(lib, libName, "ompi_mpi_int");
        int64 = address(lib, libName, "ompi_mpi_int64_t");
        bytes = address(lib, libName, "ompi_mpi_byte");
        sum = address(lib, libName, "ompi_mpi_op_sum");
        prod = address(lib, libName, "ompi_mpi_op_prod");
        min = address(lib, libName, "ompi_mpi_op_min");
        max = address(lib, libName, "ompi_mpi_op_max");
        errorsReturn = address(lib, libName, "ompi_mpi_errors_return");
    }

    private static long address(SymbolLookup lib, String libName, String symbol) {
        return lib.find(symbol).orElseThrow(() -> MpiLibrary.setupFailure(
                libName + " exports " + MARKER + " but not " + symbol + "; not an Open MPI ABI this backend knows",
                null)).address();
    }

    @Override
    public String family() {
        return "Open MPI";
    }

    @Override
    public ValueLayout handleLayout() {
        return ValueLayout.ADDRESS;
    }

    @Override
    public MethodHandle handleToCarrier() {
        return OF_ADDRESS;
    }

    @Override
    public long readHandle(MemorySegment slot) {
        return slot.get(ValueLayout.ADDRESS, 0).address();
    }

    @Override
    public void writeHandle(MemorySegment slot, long handle) {
        slot.set(ValueLayout.ADDRESS, 0, MemorySegment.ofAddress(handle));
    }

    @Override
    public long commWorld() {
        return commWorld;
    }

    @Override
    public long datatype(ElementType type) {
        return switch (type) {
            case FP32 -> fp32;
            case FP64 -> fp64;
            case INT32 -> int32;
            case INT64 -> int64;
            case BF16, FP16 -> 0L;
        };
    }

    @Override
    public long byteType() {
        return bytes;
    }

    @Override
    public long op(Combiner op) {
        return switch (op) {
            case SUM -> sum;
            case PROD -> prod;
            case MIN -> min;
            case MAX -> max;
        };
    }

    @Override
    public long errorsReturn() {
        return errorsReturn;
    }

    @Override
    public long inPlace() {
        return 1L;
    }

    @Override
    public int maxErrorString() {
        return 256;
    }

    @Override
    public int maxLibraryVersionString() {
        return 256;
    }

    @Override
    public CommFailure.Kind kindOf(int errorClass) {
        return switch (errorClass) {
            case 1, 2, 3, 6, 8, 10, 13, 15 -> CommFailure.Kind.MISMATCH;
            default -> CommFailure.Kind.SETUP;
        };
    }
}
