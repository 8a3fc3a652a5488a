package ds.comm.lanes;

import java.lang.foreign.MemorySegment;

/**
 * Element-wise reduction of K source ranges into a destination range.
 *
 * <p>For every element index {@code i < count}:
 * {@code dst[i] = ((src[0][i] op src[1][i]) op src[2][i]) ... op src[k-1][i]}, combined in
 * source order. 16-bit floats are widened to fp32, combined across all K sources in fp32, and
 * rounded once to nearest-even; a NaN result of any floating-point type (fp32 and fp64 too) is
 * written as the canonical quiet NaN of the type (see {@link HalfFloats}), so that results do not
 * depend on which NaN payload a CPU propagates. With {@code k == 1} the operation is a copy
 * (every value, NaN payloads included, passes through unchanged).
 *
 * <p>Implementations are stateless, thread-safe and allocate nothing per call. The destination
 * may be exactly one of the sources (same segment region); partially overlapping ranges are
 * not supported. Offsets are in bytes and must be multiples of the element size relative to the
 * segment's own alignment requirements only as far as the element layout demands (unaligned
 * access is used, so any element-sized offset works).
 */
public interface Reducer {

    /**
     * Reduces {@code k} sources into {@code dst}.
     *
     * @param type       element type of every range
     * @param op         how elements combine
     * @param dst        destination segment
     * @param dstOffset  byte offset of the first destination element
     * @param src        source segments; only the first {@code k} are read
     * @param srcOffset  byte offset of the first element in each source
     * @param k          number of sources, {@code >= 1}
     * @param count      number of elements, {@code >= 0}
     */
    void reduce(ElementType type, Combiner op,
                MemorySegment dst, long dstOffset,
                MemorySegment[] src, long[] srcOffset, int k,
                long count);

    /** The vector width in bits this reducer uses, or 0 for the scalar reference. */
    int vectorBits();
}
