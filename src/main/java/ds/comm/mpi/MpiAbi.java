package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The binary interface of one MPI implementation family: how handles are passed and what the
 * predefined handles and constants are. Everything that differs between Open MPI and the MPICH
 * ABI (MPICH, Intel MPI, MVAPICH, Cray MPICH) lives behind this interface, nowhere else.
 *
 * <p>On the Java side every handle ({@code MPI_Comm}, {@code MPI_Datatype}, {@code MPI_Op},
 * {@code MPI_Errhandler}) is a {@code long}: the address of the object for Open MPI, the
 * sign-extended {@code int} for the MPICH ABI. {@link #handleToCarrier()} converts it to what
 * the C function takes, so every downcall has the same Java type in both families.
 */
sealed interface MpiAbi permits OpenMpiAbi, MpichAbi {

    /** Implementation family, e.g. "Open MPI". */
    String family();

    /** C carrier of every handle type: {@code ADDRESS} or {@code JAVA_INT}. */
    ValueLayout handleLayout();

    /** Adapter {@code (long) -> carrier} applied to every handle argument of a downcall. */
    MethodHandle handleToCarrier();

    /** Reads a handle that MPI wrote through an {@code MPI_Xxx*} out-parameter. */
    long readHandle(MemorySegment slot);

    /** Writes a handle into an {@code MPI_Xxx*} in/out parameter (e.g. for {@code MPI_Comm_free}). */
    void writeHandle(MemorySegment slot, long handle);

    /** {@code MPI_COMM_WORLD}. */
    long commWorld();

    /** Predefined datatype of {@code type}, or 0 when MPI has none (16-bit floats). */
    long datatype(ElementType type);

    /** {@code MPI_BYTE}. */
    long byteType();

    /** Predefined op of {@code op}. */
    long op(Combiner op);

    /** {@code MPI_ERRORS_RETURN}. */
    long errorsReturn();

    /** Address value of {@code MPI_IN_PLACE}. */
    long inPlace();

    /**
     * MPI_THREAD_SERIALIZED: the thread levels are fixed by the MPI standard's ordering
     * (SINGLE &lt; FUNNELED &lt; SERIALIZED &lt; MULTIPLE = 0..3) and the same in every ABI.
     */
    default int threadSerialized() {
        return 2;
    }

    /** MPI_THREAD_MULTIPLE (see {@link #threadSerialized()}). */
    default int threadMultiple() {
        return 3;
    }

    /** {@code MPI_MAX_ERROR_STRING}. */
    int maxErrorString();

    /** {@code MPI_MAX_LIBRARY_VERSION_STRING}. */
    int maxLibraryVersionString();

    /**
     * What an MPI error class means for the caller. Error class numbers differ between the
     * families (MPI_ERR_ROOT is 7 in MPICH, 8 in Open MPI), hence per ABI.
     */
    CommFailure.Kind kindOf(int errorClass);
}
