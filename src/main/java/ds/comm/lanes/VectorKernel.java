package ds.comm.lanes;

import java.lang.foreign.MemorySegment;

/**
 * One (vector width, combiner) specialisation of the vector kernels: reduces the whole vectors
 * of a range and leaves the rest to the caller. Implemented only by hidden classes defined from
 * {@link VectorKernelTemplate}.
 */
interface VectorKernel {

    /**
     * Reduces {@code k >= 2} sources over the largest prefix of {@code count} elements the kernel
     * handles with whole vectors; arguments are already checked.
     *
     * @return the number of elements reduced, {@code <= count}
     */
    long reduceWholeVectors(ElementType type, MemorySegment dst, long dstOffset,
                            MemorySegment[] src, long[] srcOffset, int k, long count);

    /** Vector width in bits. */
    int vectorBits();

    /** The combiner this kernel applies. */
    Combiner combiner();
}
