package ds.comm.lanes;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The bulk 16-bit float conversions of {@link HalfFloats} ({@code widen}, {@code narrow},
 * {@code widenInPlace}), staged in blocks through per-thread heap arrays, where C2 vectorises
 * the conversions; plus the array loops themselves, which {@link Fp16Blocks} shares.
 *
 * <h2>Why arrays</h2>
 * A per-element loop over memory segments is not vectorised by C2 (JDK 25): JMH, one type per
 * fork, 64 KiB of 16-bit floats: 1.5-4.7 GB/s, against 45 GB/s for a copy of the same bytes; in
 * a process that converts both types (the element type's branch then stays in the loop) widening
 * 256 Ki elements took 620-640 us, 16 times a memcpy of the 1 MiB it writes. The socket ring pays
 * it on every 16-bit partial sum it receives and the MPI backend on every bf16 or fp16
 * all-reduce (widen the whole tensor, narrow it back). Copying a block into an array
 * ({@code MemorySegment.copy}, a memcpy), converting array to array in a simple counted loop,
 * and copying the result out, is what C2 vectorises: fp16 with {@link Float#float16ToFloat} /
 * {@link Float#floatToFloat16} (F16C on x86); bf16, a 16-bit shift either way, two elements at
 * a time in 32- and 64-bit words (see {@link #widenBf16Pairs}).
 *
 * <h2>Same bits as the scalar reference</h2>
 * Widening is exact; narrowing rounds to nearest even and writes every NaN as the canonical NaN
 * of {@link HalfFloats}, element for element what {@link HalfFloats#floatToBf16} and
 * {@link HalfFloats#floatToFp16} return. The NaN test is a per-block max-reduction (which
 * vectorises) followed, only in a block that holds a NaN, by a fix-up loop (a per-element
 * conditional store does not vectorise). Each block is read completely before any of it is
 * written, so overlaps behave as the element loops did: {@link #narrow} may write over its own
 * source from the same start (its output is half as long), and widening in place goes through
 * {@link #widenInPlace}, which walks the blocks backwards.
 *
 * <p>The arrays ({@value #BLOCK} elements: 16-bit and fp32, and the bf16 pairs, 24 KiB in all)
 * are allocated once per thread that converts; calls allocate nothing after the first.
 */
final class HalfBlocks {

    /** Elements per block: the arrays stay in the first-level cache beside the segments' lines. */
    static final int BLOCK = 2048;

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ThreadLocal<HalfBlocks> SCRATCH = ThreadLocal.withInitial(HalfBlocks::new);

    /** Largest fp32 magnitude pattern that is not a NaN (+infinity). */
    private static final int FP32_INFINITY_BITS = 0x7F80_0000;

    private final short[] half = new short[BLOCK];
    private final float[] floats = new float[BLOCK];
    /** bf16: pairs of elements as 32-bit words. */
    private final int[] words = new int[BLOCK / 2];
    /** bf16: pairs of fp32 bit patterns as 64-bit words. */
    private final long[] pairs = new long[BLOCK / 2];

    private HalfBlocks() {
    }

    /** {@link HalfFloats#widen}, arguments checked by it. */
    static void widen(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
        HalfBlocks s = SCRATCH.get();
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(BLOCK, count - done);
            s.widenBlock(type, src, srcOffset + done * Short.BYTES, dst, dstOffset + done * Float.BYTES, n);
            done += n;
        }
    }

    /** {@link HalfFloats#widenInPlace}: blocks from the last to the first (see there why that is safe). */
    static void widenInPlace(ElementType type, MemorySegment seg, long count) {
        HalfBlocks s = SCRATCH.get();
        for (long end = count; end > 0; ) {
            int n = (int) Math.min(BLOCK, end);
            long start = end - n;
            // Reads [2 start, 2 end) before writing [4 start, 4 end): the write only reaches
            // 16-bit elements at or after 2 start >= start, i.e. this block's, already read, and
            // later blocks', already converted.
            s.widenBlock(type, seg, start * Short.BYTES, seg, start * Float.BYTES, n);
            end = start;
        }
    }

    /** {@link HalfFloats#narrow}, arguments checked by it. */
    static void narrow(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
        HalfBlocks s = SCRATCH.get();
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(BLOCK, count - done);
            s.narrowBlock(type, src, srcOffset + done * Float.BYTES, dst, dstOffset + done * Short.BYTES, n);
            done += n;
        }
    }

    private void widenBlock(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, int n) {
        if (type == ElementType.BF16) {
            // An odd last element alone, read before anything is written (in place, the pairs'
            // output covers it).
            int p = n / 2;
            int last = (n & 1) == 0 ? 0 : src.get(HALF, srcOffset + (long) (n - 1) * Short.BYTES) << 16;
            MemorySegment.copy(src, INT, srcOffset, words, 0, p);
            widenBf16Pairs(words, pairs, p);
            MemorySegment.copy(pairs, 0, dst, LONG, dstOffset, p);
            if ((n & 1) != 0) dst.set(INT, dstOffset + (long) (n - 1) * Float.BYTES, last);
        } else {
            MemorySegment.copy(src, HALF, srcOffset, half, 0, n);
            widenFp16(half, floats, n);
            MemorySegment.copy(floats, 0, dst, FLOAT, dstOffset, n);
        }
    }

    private void narrowBlock(ElementType type, MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, int n) {
        if (type == ElementType.BF16) {
            int p = n / 2;
            short last = (n & 1) == 0 ? 0
                    : HalfFloats.floatToBf16(src.get(FLOAT, srcOffset + (long) (n - 1) * Float.BYTES));
            MemorySegment.copy(src, LONG, srcOffset, pairs, 0, p);
            narrowBf16Pairs(pairs, words, p);
            MemorySegment.copy(words, 0, dst, INT, dstOffset, p);
            if ((n & 1) != 0) dst.set(HALF, dstOffset + (long) (n - 1) * Short.BYTES, last);
        } else {
            MemorySegment.copy(src, FLOAT, srcOffset, floats, 0, n);
            narrowFp16(floats, half, n);
            MemorySegment.copy(half, 0, dst, HALF, dstOffset, n);
        }
    }

    // One simple counted loop each, so that C2's superword pass vectorises it.

    /**
     * bf16 to fp32, two elements at a time: a 32-bit word holding elements e0 and e1 becomes the
     * 64-bit word holding their fp32 patterns {@code e << 16}. The same expression serves both
     * byte orders: little-endian, the word is {@code e1:e0} and the long {@code f1:f0}; big-endian,
     * {@code e0:e1} and {@code f0:f1}; either way the upper element goes to the upper half.
     * (A loop from {@code short[]} to {@code int[]} is not vectorised by C2: it mixes element sizes
     * without a conversion node; 32 to 64 bits is, and ran 2.7 times faster per element.)
     */
    static void widenBf16Pairs(int[] words, long[] pairs, int p) {
        for (int i = 0; i < p; i++) {
            int w = words[i];
            pairs[i] = ((long) (w & 0xFFFF_0000) << 32) | ((w << 16) & 0xFFFF_FFFFL);
        }
    }

    /**
     * fp32 to bf16, two elements at a time (the inverse pairing of {@link #widenBf16Pairs}),
     * nearest even as {@link HalfFloats#floatToBf16}: both halves get {@code 0x7FFF} plus their
     * lowest kept bit, in one 64-bit addition (a lower half that is not a NaN is at most
     * {@code 0xFF80_0000}, so nothing carries into the upper half), and keep their upper 16 bits.
     * Then, only if some half is a NaN, every pair holding one is narrowed again element by
     * element: a half is a NaN when its magnitude plus {@code 0x007F_FFFF} reaches bit 31, so one
     * OR-reduction over the sums tells.
     */
    static void narrowBf16Pairs(long[] pairs, int[] words, int p) {
        for (int i = 0; i < p; i++) {
            long x = pairs[i];
            long r = x + 0x0000_7FFF_0000_7FFFL + ((x >>> 16) & 0x0000_0001_0000_0001L);
            words[i] = (int) (((r >>> 32) & 0xFFFF_0000L) | ((r >>> 16) & 0xFFFFL));
        }
        long nanBits = 0;
        for (int i = 0; i < p; i++) nanBits |= (pairs[i] & 0x7FFF_FFFF_7FFF_FFFFL) + 0x007F_FFFF_007F_FFFFL;
        if ((nanBits & 0x8000_0000_8000_0000L) != 0) {
            // Both elements of a pair holding a NaN again, by the scalar rule: besides the NaN
            // itself, a lower-half NaN of large magnitude (0xFFFF_8001 and up) carried into the
            // upper half's rounding above.
            for (int i = 0; i < p; i++) {
                long x = pairs[i];
                int hi = (int) (x >>> 32);
                int lo = (int) x;
                if ((hi & 0x7FFF_FFFF) > FP32_INFINITY_BITS || (lo & 0x7FFF_FFFF) > FP32_INFINITY_BITS) {
                    words[i] = (HalfFloats.floatToBf16(Float.intBitsToFloat(hi)) << 16)
                            | (HalfFloats.floatToBf16(Float.intBitsToFloat(lo)) & 0xFFFF);
                }
            }
        }
    }

    /** fp16 to fp32, exact. */
    static void widenFp16(short[] h, float[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = Float.float16ToFloat(h[i]);
    }

    /**
     * fp32 to fp16, nearest even; then, only if some value is NaN, every NaN pattern (exponent all
     * ones, mantissa not zero) made canonical. A max-reduction that any NaN turns into NaN
     * vectorises; the conditional store does not (it doubled the block's time).
     */
    static void narrowFp16(float[] a, short[] h, int n) {
        for (int i = 0; i < n; i++) h[i] = Float.floatToFloat16(a[i]);
        float largest = 0f;
        for (int i = 0; i < n; i++) largest = Math.max(largest, Math.abs(a[i]));
        if (Float.isNaN(largest)) {
            for (int i = 0; i < n; i++) {
                short v = h[i];
                h[i] = (v & 0x7FFF) > 0x7C00 ? HalfFloats.FP16_CANONICAL_NAN : v;
            }
        }
    }
}
