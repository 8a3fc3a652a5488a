package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * An MPI user-defined op ({@code MPI_Op_create}) whose function is an upcall into a
 * {@link Reducer}, for a (type, combiner) pair whose MPI built-in op has other semantics.
 *
 * <p>Used for floating-point MIN and MAX: MPI's built-in {@code MPI_MIN} is {@code a < b ? a : b},
 * which lets the reduction tree decide between -0.0 and +0.0 and drops or keeps NaN depending on
 * operand order; ds-comm promises {@link Math#min(float, float)} semantics (NaN wins, -0.0 &lt;
 * +0.0) on every backend. The op is registered as commutative, which {@code Math.min} is except
 * for which of two different NaN payloads survives.
 *
 * <p>MPI calls {@code f(void *invec, void *inoutvec, int *len, MPI_Datatype *dt)} and expects
 * {@code inoutvec[i] = invec[i] op inoutvec[i]}; this is {@code reduce(dst = inout, src = {in,
 * inout}, k = 2)}. An exception must never unwind into MPI's C frames (the JVM would abort), so
 * it is caught, remembered, and rethrown by the communicator after the MPI call returns.
 *
 * <p>Owned by one communicator, whose calls are made by one thread at a time, so the scratch
 * arrays are reused without synchronisation. MPI runs user functions of a blocking collective on
 * the calling thread.
 */
@SuppressWarnings("restricted") // an upcall stub and an address-space-wide segment, both deliberate
final class MpiUserOp {

    private static final MethodHandle APPLY;
    /**
     * The four pointers arrive as 64-bit integers rather than {@code ADDRESS}: an upcall wraps
     * each ADDRESS argument in a fresh MemorySegment (80-240 bytes of garbage per MPI call, as
     * measured), whereas a pointer and a long travel in the same register on every 64-bit ABI
     * the JDK supports. Memory is then reached through {@link #ALL} at absolute offsets.
     */
    private static final FunctionDescriptor USER_FUNCTION = FunctionDescriptor.ofVoid(
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG);
    /** The whole address space: MPI's vectors are addressed by absolute offset in it. */
    private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    static {
        if (ValueLayout.ADDRESS.byteSize() != Long.BYTES) {
            throw new ExceptionInInitializerError("ds-comm's MPI user ops need 64-bit pointers");
        }
        try {
            APPLY = MethodHandles.lookup().findVirtual(MpiUserOp.class, "apply",
                    MethodType.methodType(void.class, long.class, long.class, long.class, long.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ElementType type;
    private final Combiner combiner;
    private final Reducer reducer;
    private final MemorySegment[] sources = {ALL, ALL};
    private final long[] sourceOffsets = new long[2];
    private final MemorySegment function;
    private long handle;
    private Throwable failure;

    /**
     * @param arena owns the upcall stub; must outlive the MPI op (closed after {@link #free})
     */
    MpiUserOp(ElementType type, Combiner combiner, Reducer reducer, Arena arena) {
        this.type = type;
        this.combiner = combiner;
        this.reducer = reducer;
        this.function = Linker.nativeLinker().upcallStub(APPLY.bindTo(this), USER_FUNCTION, arena);
    }

    /** Registers the op with MPI; returns the MPI_Op handle, or the MPI error code as failure. */
    int create(MpiLibrary lib, MemorySegment handleSlot) throws Throwable {
        int rc = (int) lib.opCreate.invokeExact(function, 1, handleSlot);
        if (rc == MpiLibrary.MPI_SUCCESS) handle = lib.abi().readHandle(handleSlot);
        return rc;
    }

    /** The MPI_Op handle. */
    long handle() {
        return handle;
    }

    /** Returns and clears the exception a reduction raised since the last call, or null. */
    Throwable takeFailure() {
        Throwable t = failure;
        failure = null;
        return t;
    }

    /** Releases the MPI op (before the upcall stub's arena closes). */
    void free(MpiLibrary lib, MemorySegment handleSlot) {
        if (handle == 0) return;
        try {
            lib.abi().writeHandle(handleSlot, handle);
            int rc = (int) lib.opFree.invokeExact(handleSlot);
            if (rc != MpiLibrary.MPI_SUCCESS) failure = new IllegalStateException("MPI_Op_free returned " + rc);
        } catch (Throwable t) {
            failure = t;
        }
        handle = 0;
    }

    private void apply(long in, long inout, long len, long datatype) {
        try {
            int count = ALL.get(ValueLayout.JAVA_INT, len);
            sourceOffsets[0] = in;
            sourceOffsets[1] = inout;
            reducer.reduce(type, combiner, ALL, inout, sources, sourceOffsets, 2, count);
        } catch (Throwable t) {
            if (failure == null) failure = t;
        }
    }

    @Override
    public String toString() {
        return "user op " + type + " " + combiner;
    }
}
