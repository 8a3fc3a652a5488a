package ds.comm.lanes;

import java.lang.foreign.MemorySegment;

/**
 * The reducer of one vector width: validates the call, copies when {@code k == 1}, runs the
 * kernel specialised for the combiner over whole vectors and finishes the remaining elements
 * with the scalar reference.
 */
final class VectorReducer implements Reducer {

    private final int bits;
    private final int floatLanes;
    /** Indexed by {@link Combiner#ordinal()}. */
    private final VectorKernel[] kernels;

    VectorReducer(int bits, int floatLanes, VectorKernel[] kernels) {
        for (Combiner op : Combiner.values()) {
            VectorKernel kernel = kernels[op.ordinal()];
            if (kernel.vectorBits() != bits || kernel.combiner() != op) {
                throw new IllegalArgumentException("kernel " + op.ordinal() + " is " + kernel.vectorBits()
                        + "-bit " + kernel.combiner() + ", expected " + bits + "-bit " + op);
            }
        }
        this.bits = bits;
        this.floatLanes = floatLanes;
        this.kernels = kernels.clone();
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
        long done = kernels[op.ordinal()].reduceWholeVectors(type, dst, dstOffset, src, srcOffset, k, count);
        ScalarReducer.reduceRange(type, op, dst, dstOffset, src, srcOffset, k, done, count);
    }

    @Override
    public int vectorBits() {
        return bits;
    }

    @Override
    public String toString() {
        return bits + "-bit vector (FloatVector " + floatLanes + " lanes)";
    }
}
