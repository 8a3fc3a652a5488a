package ds.comm.lanes;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.util.Locale;

/**
 * The reducer of one vector width: validates the call, copies when {@code k == 1}, runs the
 * kernel specialised for the combiner and element type over whole vectors and finishes the
 * remaining elements with the scalar reference.
 */
final class VectorReducer implements Reducer {

    /** Type of every kernel method of {@link VectorKernelTemplate}. */
    static final MethodType KERNEL_TYPE = MethodType.methodType(long.class,
            MemorySegment.class, long.class, MemorySegment[].class, long[].class, int.class, long.class);

    private static final int TYPES = ElementType.values().length;
    private static final int COMBINERS = Combiner.values().length;
    /** Handles per kernel copy: one for each (combiner, type). */
    static final int KERNELS_PER_COPY = COMBINERS * TYPES;
    /**
     * The class of plain native segments (arena-allocated, or made from an address): what the
     * exact kernel copies are compiled for (see {@code VectorKernelTemplate.NATIVE} for why).
     */
    static final Class<?> PLAIN_NATIVE = MemorySegment.NULL.getClass();

    private final int bits;
    /**
     * Indexed as {@link #kernelIndex} says: first the copies compiled for plain native segments
     * only, then the copies for any segments (see {@code VectorKernelTemplate.NATIVE} for why).
     * Deliberately an array, not fields: a handle loaded from an array is not a JIT constant, so
     * the kernel behind it is never inlined into (and never starved by) the caller.
     */
    private final MethodHandle[] kernels;

    /** @param kernels the kernel handles, indexed as {@link #kernels} is */
    VectorReducer(int bits, MethodHandle[] kernels) {
        if (kernels.length != 2 * KERNELS_PER_COPY) {
            throw new IllegalArgumentException("expected " + 2 * KERNELS_PER_COPY + " kernels: " + kernels.length);
        }
        for (MethodHandle kernel : kernels) {
            if (!kernel.type().equals(KERNEL_TYPE)) {
                throw new IllegalArgumentException("kernel of type " + kernel.type() + ", expected " + KERNEL_TYPE);
            }
        }
        this.bits = bits;
        this.kernels = kernels.clone();
    }

    /**
     * Name of the {@link VectorKernelTemplate} method reducing {@code type}. (Kept here: touching
     * a static method of the template would initialise it under its own name, which fails.)
     */
    static String kernelName(ElementType type) {
        return type.name().toLowerCase(Locale.ROOT);
    }

    /**
     * Index of a kernel: {@code exact} picks the copy compiled for plain native segments only,
     * which the caller may choose only when every segment of the call is one.
     */
    static int kernelIndex(boolean exact, Combiner op, ElementType type) {
        return (exact ? 0 : KERNELS_PER_COPY) + op.ordinal() * TYPES + type.ordinal();
    }

    /** Whether {@code dst} and the first {@code k} sources are all plain native segments. */
    static boolean allPlainNative(MemorySegment dst, MemorySegment[] src, int k) {
        if (!Reducers.isPlainNative(dst)) {
            return false;
        }
        for (int j = 0; j < k; j++) {
            if (!Reducers.isPlainNative(src[j])) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void reduce(ElementType type, Combiner op,
                       MemorySegment dst, long dstOffset,
                       MemorySegment[] src, long[] srcOffset, int k,
                       long count) {
        ScalarReducer.checkArguments(type, op, dst, dstOffset, src, srcOffset, k, count);
        if (k == 1) {
            MemorySegment.copy(src[0], srcOffset[0], dst, dstOffset, count * type.byteSize());
            return;
        }
        long done;
        try {
            done = (long) kernels[kernelIndex(allPlainNative(dst, src, k), op, type)]
                    .invokeExact(dst, dstOffset, src, srcOffset, k, count);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("vector kernel failed", e);   // kernels throw nothing checked
        }
        ScalarReducer.reduceRange(type, op, dst, dstOffset, src, srcOffset, k, done, count);
    }

    @Override
    public int vectorBits() {
        return bits;
    }

    @Override
    public String toString() {
        return bits + "-bit vector (FloatVector " + bits / Float.SIZE + " lanes)";
    }
}
