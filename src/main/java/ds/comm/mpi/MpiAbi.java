package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.function.ToLongFunction;

/**
 * The binary interface of one MPI implementation family: how handles are passed and what the
 * predefined handles and constants are. Everything that differs between Open MPI and the MPICH
 * ABI (MPICH, Intel MPI, MVAPICH, Cray MPICH) is a value here, read from one table per family
 * ({@link OpenMpiAbi}, {@link MpichAbi}), nowhere else.
 *
 * <p>On the Java side every handle ({@code MPI_Comm}, {@code MPI_Datatype}, {@code MPI_Op},
 * {@code MPI_Errhandler}) is a {@code long}: the address of the object for Open MPI, the
 * sign-extended {@code int} for the MPICH ABI ({@code intHandles}). {@link #handleToCarrier()}
 * converts it to what the C function takes, so every downcall has the same Java type in both
 * families.
 *
 * @param family                  implementation family, e.g. "Open MPI"
 * @param intHandles              handles are C {@code int}s (MPICH ABI), else pointers (Open MPI)
 * @param commWorld               {@code MPI_COMM_WORLD}
 * @param byteType                {@code MPI_BYTE}
 * @param errorsReturn            {@code MPI_ERRORS_RETURN}
 * @param inPlace                 address value of {@code MPI_IN_PLACE}
 * @param fp32                    {@code MPI_FLOAT}
 * @param fp64                    {@code MPI_DOUBLE}
 * @param int32                   {@code MPI_INT}
 * @param int64                   {@code MPI_INT64_T}
 * @param sum                     {@code MPI_SUM}
 * @param prod                    {@code MPI_PROD}
 * @param min                     {@code MPI_MIN}
 * @param max                     {@code MPI_MAX}
 * @param maxErrorString          {@code MPI_MAX_ERROR_STRING}
 * @param maxLibraryVersionString {@code MPI_MAX_LIBRARY_VERSION_STRING}
 * @param mismatchClasses         error classes that mean the ranks' calls disagree (MPI_ERR_ROOT is 7 in MPICH, 8 in Open MPI)
 * @param peerLostClasses         error classes that mean a peer is gone
 */
record MpiAbi(String family, boolean intHandles, long commWorld, long byteType, long errorsReturn, long inPlace,
              long fp32, long fp64, long int32, long int64, long sum, long prod, long min, long max,
              int maxErrorString, int maxLibraryVersionString, int[] mismatchClasses, int[] peerLostClasses) {

    /** Narrowing keeps the low 32 bits: user handles such as 0x8c000000 are negative ints, stored sign-extended. */
    private static final MethodHandle TO_INT =
            MethodHandles.explicitCastArguments(MethodHandles.identity(int.class), MethodType.methodType(int.class, long.class));
    private static final MethodHandle OF_ADDRESS;

    static {
        try {
            OF_ADDRESS = MethodHandles.lookup().findStatic(MemorySegment.class, "ofAddress",
                    MethodType.methodType(MemorySegment.class, long.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * A family's ABI from its predefined handles, each asked for by its name in mpi.h
     * ({@code "MPI_COMM_WORLD"}, {@code "MPI_FLOAT"}, {@code "MPI_SUM"}, ...).
     */
    static MpiAbi of(String family, boolean intHandles, ToLongFunction<String> predefined, long inPlace, int maxErrorString,
                     int maxLibraryVersionString, int[] mismatchClasses, int[] peerLostClasses) {
        return new MpiAbi(family, intHandles,
                predefined.applyAsLong("MPI_COMM_WORLD"), predefined.applyAsLong("MPI_BYTE"),
                predefined.applyAsLong("MPI_ERRORS_RETURN"), inPlace,
                predefined.applyAsLong("MPI_FLOAT"), predefined.applyAsLong("MPI_DOUBLE"),
                predefined.applyAsLong("MPI_INT"), predefined.applyAsLong("MPI_INT64_T"),
                predefined.applyAsLong("MPI_SUM"), predefined.applyAsLong("MPI_PROD"),
                predefined.applyAsLong("MPI_MIN"), predefined.applyAsLong("MPI_MAX"),
                maxErrorString, maxLibraryVersionString, mismatchClasses, peerLostClasses);
    }

    /** C carrier of every handle type: {@code ADDRESS} or {@code JAVA_INT}. */
    ValueLayout handleLayout() {
        return intHandles ? ValueLayout.JAVA_INT : ValueLayout.ADDRESS;
    }

    /** Adapter {@code (long) -> carrier} applied to every handle argument of a downcall. */
    MethodHandle handleToCarrier() {
        return intHandles ? TO_INT : OF_ADDRESS;
    }

    /** Reads a handle that MPI wrote through an {@code MPI_Xxx*} out-parameter. */
    long readHandle(MemorySegment slot) {
        return intHandles ? slot.get(ValueLayout.JAVA_INT, 0) : slot.get(ValueLayout.ADDRESS, 0).address();
    }

    /** Writes a handle into an {@code MPI_Xxx*} in/out parameter (e.g. for {@code MPI_Comm_free}). */
    void writeHandle(MemorySegment slot, long handle) {
        if (intHandles) {
            slot.set(ValueLayout.JAVA_INT, 0, (int) handle);
        } else {
            slot.set(ValueLayout.ADDRESS, 0, MemorySegment.ofAddress(handle));
        }
    }

    /** Predefined datatype of {@code type}, or 0 when MPI has none (16-bit floats). */
    long datatype(ElementType type) {
        return switch (type) {
            case FP32 -> fp32;
            case FP64 -> fp64;
            case INT32 -> int32;
            case INT64 -> int64;
            case BF16, FP16 -> 0L;
        };
    }

    /** Predefined op of {@code op}. */
    long op(Combiner op) {
        return switch (op) {
            case SUM -> sum;
            case PROD -> prod;
            case MIN -> min;
            case MAX -> max;
        };
    }

    /**
     * MPI_THREAD_SERIALIZED: the thread levels are fixed by the MPI standard's ordering
     * (SINGLE &lt; FUNNELED &lt; SERIALIZED &lt; MULTIPLE = 0..3) and the same in every ABI.
     */
    int threadSerialized() {
        return 2;
    }

    /** MPI_THREAD_SINGLE (see {@link #threadSerialized()}). */
    int threadSingle() {
        return 0;
    }

    /** MPI_THREAD_MULTIPLE (see {@link #threadSerialized()}). */
    int threadMultiple() {
        return 3;
    }

    /** What an MPI error class means for the caller; error class numbers differ between the families. */
    CommFailure.Kind kindOf(int errorClass) {
        for (int c : mismatchClasses) {
            if (c == errorClass) return CommFailure.Kind.MISMATCH;
        }
        for (int c : peerLostClasses) {
            if (c == errorClass) return CommFailure.Kind.PEER_LOST;
        }
        return CommFailure.Kind.SETUP;
    }
}
