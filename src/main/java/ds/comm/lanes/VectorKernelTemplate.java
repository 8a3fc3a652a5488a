package ds.comm.lanes;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.constant.ConstantDescs;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.nio.ByteOrder;

/**
 * The vector reduction kernels, written once against the Vector API and specialised per vector
 * width, combiner <em>and</em> segment kind by being defined as a hidden class for each triple.
 *
 * <p>Why hidden classes: C2 only turns Vector API calls into SIMD instructions when the species
 * and the operator are compile-time constants; a species or operator held in a field or passed
 * as a parameter silently falls back to boxed, allocating Java code. And C2 inlines a bounded
 * number of nodes per compilation, so a kernel that carried all four combiners could leave a
 * vector helper un-inlined, which boxes too. So {@link Reducers} reads this class file once and
 * defines it as a hidden class per (width, combiner, exact), with the three as class data; each
 * copy has its own {@code static final} species and combiner, which C2 folds, and holds only the
 * code of one combiner. The exact copies serve calls whose segments are all plain native ones
 * (see {@link #NATIVE} for why that needs a copy of its own). This class is never initialised
 * under its own name (its static initialiser would fail: there is no class data).
 *
 * <p>{@link VectorReducer} calls the kernels through method handles it keeps in an array. A
 * method handle that is not a compile-time constant is never inlined into its caller, so every
 * kernel stays a compilation root: inlined into a caller's loop it would share that caller's
 * node budget and inlining depth (MaxInlineLevel), both of which the deep Vector API call
 * chains exhaust, and boxing would follow.
 *
 * <p>Combining is strictly lane-wise in source order (no FMA, no cross-lane operation), so the
 * result is the scalar reference's, bit for bit, at any width.
 *
 * <p>16-bit floats: bf16 is processed as 32-bit words, each holding two elements. Both halves are
 * widened, reduced and narrowed the same way and put back into the half they came from, so no
 * shuffles are needed and byte order does not matter. fp16 is not a vector kernel: see
 * {@code fp16}.
 */
final class VectorKernelTemplate {

    private static final int BITS = classData(0, Integer.class);
    private static final Combiner OP = classData(1, Combiner.class);
    /**
     * True in the copies that {@link VectorReducer} calls only with plain native segments (see
     * {@link #NATIVE}); false in the copies for any other segments (heap, mapped).
     */
    private static final boolean EXACT = classData(2, Boolean.class);
    /**
     * The class of plain native segments ({@link VectorReducer#PLAIN_NATIVE}), which every
     * segment of an all-reduce is unless a caller passes heap or file-mapped memory.
     *
     * <p>Why the EXACT copies test each segment against it: C2 compiles a kernel's stores from
     * the type profiles of the JDK methods they inline, and those profiles are shared with every
     * other caller in the process. The Vector API's own fallback for a lane reinterpretation
     * (run by the interpreter and C1 until the bf16 kernel is compiled) stores into
     * heap segments through the same methods, so after any bf16 traffic the profile says
     * "native or heap", C2 inlines both, and the store's base is no longer known to be null:
     * measured, the fp32 64 KiB all-reduce after fp32 and bf16 traffic took twice as long as
     * after fp32 alone, and bf16 suffered the same after fp32. A test {@code s.getClass() !=
     * NATIVE} written in the kernel itself (not in a helper: C2 sharpens the type of {@code s}
     * only where the comparison is the branch's own condition) gives {@code s} its exact class
     * below the test, which no profile can override.
     */
    private static final Class<?> NATIVE = VectorReducer.PLAIN_NATIVE;
    private static final VectorShape SHAPE = VectorShape.forBitSize(BITS);
    private static final VectorSpecies<Float> F32 = VectorSpecies.of(float.class, SHAPE);
    private static final VectorSpecies<Double> F64 = VectorSpecies.of(double.class, SHAPE);
    private static final VectorSpecies<Integer> I32 = VectorSpecies.of(int.class, SHAPE);
    private static final VectorSpecies<Long> I64 = VectorSpecies.of(long.class, SHAPE);
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private static final int HIGH_HALF = 0xFFFF_0000;
    private static final int FP32_INFINITY = 0x7F80_0000;

    private VectorKernelTemplate() {
    }

    /** Element {@code index} of the class data list {@link Reducers} defined this class with. */
    private static <T> T classData(int index, Class<T> type) {
        try {
            return MethodHandles.classDataAt(MethodHandles.lookup(), ConstantDescs.DEFAULT_NAME, type, index);
        } catch (IllegalAccessException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // One kernel per ElementType, named as VectorReducer.kernelName says, of type
    // VectorReducer.KERNEL_TYPE. Arguments are already checked and k >= 2. Each kernel returns how
    // many elements it reduced (whole steps only; the caller finishes the rest). Sources 0 and 1
    // come from locals, so their segment checks are hoisted out of the loop and k == 2, the
    // common case (ring steps, pairs of ranks), has no inner loop at all; sources 2.. go through
    // an inner loop. 32- and 64-bit kernels take UNROLL vectors per source
    // per step so that the per-source work of that inner loop is paid once per UNROLL vectors.
    // All sources of a step are loaded before the step is stored, which makes dst == src[j] safe.

    /** Vectors per source per step for 32- and 64-bit elements. */
    private static final int UNROLL = 4;

    private static long fp32(MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long count) {
        final long vb = F32.vectorByteSize();
        final long end = (count - count % (UNROLL * (long) F32.length())) * Float.BYTES;
        final FloatVector nan = FloatVector.broadcast(F32, Float.NaN);
        final MemorySegment s0 = src[0], s1 = src[1];
        if (EXACT && (dst.getClass() != NATIVE || s0.getClass() != NATIVE || s1.getClass() != NATIVE)) {
            return 0;   // VectorReducer checked: never taken (a guard that sharpens the types below)
        }
        final long o0 = srcOffset[0], o1 = srcOffset[1];
        for (long b = 0; b < end; b += UNROLL * vb) {
            FloatVector a0 = combine(OP, FloatVector.fromMemorySegment(F32, s0, o0 + b, ORDER),
                    FloatVector.fromMemorySegment(F32, s1, o1 + b, ORDER));
            FloatVector a1 = combine(OP, FloatVector.fromMemorySegment(F32, s0, o0 + b + vb, ORDER),
                    FloatVector.fromMemorySegment(F32, s1, o1 + b + vb, ORDER));
            FloatVector a2 = combine(OP, FloatVector.fromMemorySegment(F32, s0, o0 + b + 2 * vb, ORDER),
                    FloatVector.fromMemorySegment(F32, s1, o1 + b + 2 * vb, ORDER));
            FloatVector a3 = combine(OP, FloatVector.fromMemorySegment(F32, s0, o0 + b + 3 * vb, ORDER),
                    FloatVector.fromMemorySegment(F32, s1, o1 + b + 3 * vb, ORDER));
            for (int j = 2; j < k; j++) {
                final MemorySegment s = src[j];
                if (EXACT && s.getClass() != NATIVE) {
                    return b / Float.BYTES;   // never taken, as above; steps before b are stored
                }
                final long o = srcOffset[j] + b;
                a0 = combine(OP, a0, FloatVector.fromMemorySegment(F32, s, o, ORDER));
                a1 = combine(OP, a1, FloatVector.fromMemorySegment(F32, s, o + vb, ORDER));
                a2 = combine(OP, a2, FloatVector.fromMemorySegment(F32, s, o + 2 * vb, ORDER));
                a3 = combine(OP, a3, FloatVector.fromMemorySegment(F32, s, o + 3 * vb, ORDER));
            }
            final long d = dstOffset + b;
            a0.blend(nan, a0.compare(VectorOperators.NE, a0)).intoMemorySegment(dst, d, ORDER);
            a1.blend(nan, a1.compare(VectorOperators.NE, a1)).intoMemorySegment(dst, d + vb, ORDER);
            a2.blend(nan, a2.compare(VectorOperators.NE, a2)).intoMemorySegment(dst, d + 2 * vb, ORDER);
            a3.blend(nan, a3.compare(VectorOperators.NE, a3)).intoMemorySegment(dst, d + 3 * vb, ORDER);
        }
        return end / Float.BYTES;
    }

    private static long fp64(MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long count) {
        final long vb = F64.vectorByteSize();
        final long end = (count - count % (UNROLL * (long) F64.length())) * Double.BYTES;
        final DoubleVector nan = DoubleVector.broadcast(F64, Double.NaN);
        final MemorySegment s0 = src[0], s1 = src[1];
        if (EXACT && (dst.getClass() != NATIVE || s0.getClass() != NATIVE || s1.getClass() != NATIVE)) {
            return 0;   // VectorReducer checked: never taken (a guard that sharpens the types below)
        }
        final long o0 = srcOffset[0], o1 = srcOffset[1];
        for (long b = 0; b < end; b += UNROLL * vb) {
            DoubleVector a0 = combine(OP, DoubleVector.fromMemorySegment(F64, s0, o0 + b, ORDER),
                    DoubleVector.fromMemorySegment(F64, s1, o1 + b, ORDER));
            DoubleVector a1 = combine(OP, DoubleVector.fromMemorySegment(F64, s0, o0 + b + vb, ORDER),
                    DoubleVector.fromMemorySegment(F64, s1, o1 + b + vb, ORDER));
            DoubleVector a2 = combine(OP, DoubleVector.fromMemorySegment(F64, s0, o0 + b + 2 * vb, ORDER),
                    DoubleVector.fromMemorySegment(F64, s1, o1 + b + 2 * vb, ORDER));
            DoubleVector a3 = combine(OP, DoubleVector.fromMemorySegment(F64, s0, o0 + b + 3 * vb, ORDER),
                    DoubleVector.fromMemorySegment(F64, s1, o1 + b + 3 * vb, ORDER));
            for (int j = 2; j < k; j++) {
                final MemorySegment s = src[j];
                if (EXACT && s.getClass() != NATIVE) {
                    return b / Double.BYTES;   // never taken, as above; steps before b are stored
                }
                final long o = srcOffset[j] + b;
                a0 = combine(OP, a0, DoubleVector.fromMemorySegment(F64, s, o, ORDER));
                a1 = combine(OP, a1, DoubleVector.fromMemorySegment(F64, s, o + vb, ORDER));
                a2 = combine(OP, a2, DoubleVector.fromMemorySegment(F64, s, o + 2 * vb, ORDER));
                a3 = combine(OP, a3, DoubleVector.fromMemorySegment(F64, s, o + 3 * vb, ORDER));
            }
            final long d = dstOffset + b;
            a0.blend(nan, a0.compare(VectorOperators.NE, a0)).intoMemorySegment(dst, d, ORDER);
            a1.blend(nan, a1.compare(VectorOperators.NE, a1)).intoMemorySegment(dst, d + vb, ORDER);
            a2.blend(nan, a2.compare(VectorOperators.NE, a2)).intoMemorySegment(dst, d + 2 * vb, ORDER);
            a3.blend(nan, a3.compare(VectorOperators.NE, a3)).intoMemorySegment(dst, d + 3 * vb, ORDER);
        }
        return end / Double.BYTES;
    }

    private static long int32(MemorySegment dst, long dstOffset,
                              MemorySegment[] src, long[] srcOffset, int k, long count) {
        final long vb = I32.vectorByteSize();
        final long end = (count - count % (UNROLL * (long) I32.length())) * Integer.BYTES;
        final MemorySegment s0 = src[0], s1 = src[1];
        if (EXACT && (dst.getClass() != NATIVE || s0.getClass() != NATIVE || s1.getClass() != NATIVE)) {
            return 0;   // VectorReducer checked: never taken (a guard that sharpens the types below)
        }
        final long o0 = srcOffset[0], o1 = srcOffset[1];
        for (long b = 0; b < end; b += UNROLL * vb) {
            IntVector a0 = combine(OP, IntVector.fromMemorySegment(I32, s0, o0 + b, ORDER),
                    IntVector.fromMemorySegment(I32, s1, o1 + b, ORDER));
            IntVector a1 = combine(OP, IntVector.fromMemorySegment(I32, s0, o0 + b + vb, ORDER),
                    IntVector.fromMemorySegment(I32, s1, o1 + b + vb, ORDER));
            IntVector a2 = combine(OP, IntVector.fromMemorySegment(I32, s0, o0 + b + 2 * vb, ORDER),
                    IntVector.fromMemorySegment(I32, s1, o1 + b + 2 * vb, ORDER));
            IntVector a3 = combine(OP, IntVector.fromMemorySegment(I32, s0, o0 + b + 3 * vb, ORDER),
                    IntVector.fromMemorySegment(I32, s1, o1 + b + 3 * vb, ORDER));
            for (int j = 2; j < k; j++) {
                final MemorySegment s = src[j];
                if (EXACT && s.getClass() != NATIVE) {
                    return b / Integer.BYTES;   // never taken, as above; steps before b are stored
                }
                final long o = srcOffset[j] + b;
                a0 = combine(OP, a0, IntVector.fromMemorySegment(I32, s, o, ORDER));
                a1 = combine(OP, a1, IntVector.fromMemorySegment(I32, s, o + vb, ORDER));
                a2 = combine(OP, a2, IntVector.fromMemorySegment(I32, s, o + 2 * vb, ORDER));
                a3 = combine(OP, a3, IntVector.fromMemorySegment(I32, s, o + 3 * vb, ORDER));
            }
            final long d = dstOffset + b;
            a0.intoMemorySegment(dst, d, ORDER);
            a1.intoMemorySegment(dst, d + vb, ORDER);
            a2.intoMemorySegment(dst, d + 2 * vb, ORDER);
            a3.intoMemorySegment(dst, d + 3 * vb, ORDER);
        }
        return end / Integer.BYTES;
    }

    private static long int64(MemorySegment dst, long dstOffset,
                              MemorySegment[] src, long[] srcOffset, int k, long count) {
        final long vb = I64.vectorByteSize();
        final long end = (count - count % (UNROLL * (long) I64.length())) * Long.BYTES;
        final MemorySegment s0 = src[0], s1 = src[1];
        if (EXACT && (dst.getClass() != NATIVE || s0.getClass() != NATIVE || s1.getClass() != NATIVE)) {
            return 0;   // VectorReducer checked: never taken (a guard that sharpens the types below)
        }
        final long o0 = srcOffset[0], o1 = srcOffset[1];
        for (long b = 0; b < end; b += UNROLL * vb) {
            LongVector a0 = combine(OP, LongVector.fromMemorySegment(I64, s0, o0 + b, ORDER),
                    LongVector.fromMemorySegment(I64, s1, o1 + b, ORDER));
            LongVector a1 = combine(OP, LongVector.fromMemorySegment(I64, s0, o0 + b + vb, ORDER),
                    LongVector.fromMemorySegment(I64, s1, o1 + b + vb, ORDER));
            LongVector a2 = combine(OP, LongVector.fromMemorySegment(I64, s0, o0 + b + 2 * vb, ORDER),
                    LongVector.fromMemorySegment(I64, s1, o1 + b + 2 * vb, ORDER));
            LongVector a3 = combine(OP, LongVector.fromMemorySegment(I64, s0, o0 + b + 3 * vb, ORDER),
                    LongVector.fromMemorySegment(I64, s1, o1 + b + 3 * vb, ORDER));
            for (int j = 2; j < k; j++) {
                final MemorySegment s = src[j];
                if (EXACT && s.getClass() != NATIVE) {
                    return b / Long.BYTES;   // never taken, as above; steps before b are stored
                }
                final long o = srcOffset[j] + b;
                a0 = combine(OP, a0, LongVector.fromMemorySegment(I64, s, o, ORDER));
                a1 = combine(OP, a1, LongVector.fromMemorySegment(I64, s, o + vb, ORDER));
                a2 = combine(OP, a2, LongVector.fromMemorySegment(I64, s, o + 2 * vb, ORDER));
                a3 = combine(OP, a3, LongVector.fromMemorySegment(I64, s, o + 3 * vb, ORDER));
            }
            final long d = dstOffset + b;
            a0.intoMemorySegment(dst, d, ORDER);
            a1.intoMemorySegment(dst, d + vb, ORDER);
            a2.intoMemorySegment(dst, d + 2 * vb, ORDER);
            a3.intoMemorySegment(dst, d + 3 * vb, ORDER);
        }
        return end / Long.BYTES;
    }

    private static long bf16(MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long count) {
        final long vb = I32.vectorByteSize();
        final long end = (count - count % (2L * I32.length())) * Short.BYTES;
        final MemorySegment s0 = src[0], s1 = src[1];
        if (EXACT && (dst.getClass() != NATIVE || s0.getClass() != NATIVE || s1.getClass() != NATIVE)) {
            return 0;   // VectorReducer checked: never taken (a guard that sharpens the types below)
        }
        final long o0 = srcOffset[0], o1 = srcOffset[1];
        for (long b = 0; b < end; b += vb) {
            final IntVector w0 = IntVector.fromMemorySegment(I32, s0, o0 + b, ORDER);
            final IntVector w1 = IntVector.fromMemorySegment(I32, s1, o1 + b, ORDER);
            FloatVector lo = combine(OP, w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(),
                    w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats());
            FloatVector hi = combine(OP, w0.and(HIGH_HALF).reinterpretAsFloats(), w1.and(HIGH_HALF).reinterpretAsFloats());
            for (int j = 2; j < k; j++) {
                final MemorySegment s = src[j];
                if (EXACT && s.getClass() != NATIVE) {
                    return b / Short.BYTES;   // never taken, as above
                }
                final IntVector w = IntVector.fromMemorySegment(I32, s, srcOffset[j] + b, ORDER);
                lo = combine(OP, lo, w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats());
                hi = combine(OP, hi, w.and(HIGH_HALF).reinterpretAsFloats());
            }
            roundToBf16(lo).lanewise(VectorOperators.LSHR, 16).or(roundToBf16(hi))
                    .intoMemorySegment(dst, dstOffset + b, ORDER);
        }
        return end / Short.BYTES;
    }

    /**
     * fp16 is not reduced with the Vector API: JDK 25's has no fp16 lane conversion, and
     * converting with integer and float lane arithmetic cost ten times bf16's kernel. C2
     * vectorises {@code Float.float16ToFloat}/{@code floatToFloat16} over arrays, so fp16 goes
     * through {@link Fp16Blocks} (the same code for every width and segment kind).
     */
    private static long fp16(MemorySegment dst, long dstOffset,
                             MemorySegment[] src, long[] srcOffset, int k, long count) {
        return Fp16Blocks.reduce(OP, dst, dstOffset, src, srcOffset, k, count);
    }

    /** fp32 to bf16 (in the upper half, lower half zero), same rounding as {@link HalfFloats#floatToBf16}. */
    private static IntVector roundToBf16(FloatVector value) {
        IntVector bits = value.reinterpretAsInts();
        IntVector rounded = bits.add(0x7FFF).add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).and(HIGH_HALF);
        VectorMask<Integer> nan = bits.and(0x7FFF_FFFF).compare(VectorOperators.GT, FP32_INFINITY);
        return rounded.blend(HalfFloats.BF16_CANONICAL_NAN << 16, nan);
    }

    // Combiners, always called with OP: a static final of this class, so C2 folds each if-chain
    // to the one operation. (If-chains rather than an enum switch, whose synthetic switch-map
    // class would be shared by all the hidden copies.)

    private static FloatVector combine(Combiner op, FloatVector a, FloatVector b) {
        if (op == Combiner.SUM) {
            return a.add(b);
        } else if (op == Combiner.PROD) {
            return a.mul(b);
        } else if (op == Combiner.MIN) {
            return a.min(b);
        }
        return a.max(b);
    }

    private static DoubleVector combine(Combiner op, DoubleVector a, DoubleVector b) {
        if (op == Combiner.SUM) {
            return a.add(b);
        } else if (op == Combiner.PROD) {
            return a.mul(b);
        } else if (op == Combiner.MIN) {
            return a.min(b);
        }
        return a.max(b);
    }

    private static IntVector combine(Combiner op, IntVector a, IntVector b) {
        if (op == Combiner.SUM) {
            return a.add(b);
        } else if (op == Combiner.PROD) {
            return a.mul(b);
        } else if (op == Combiner.MIN) {
            return a.min(b);
        }
        return a.max(b);
    }

    private static LongVector combine(Combiner op, LongVector a, LongVector b) {
        if (op == Combiner.SUM) {
            return a.add(b);
        } else if (op == Combiner.PROD) {
            return a.mul(b);
        } else if (op == Combiner.MIN) {
            return a.min(b);
        }
        return a.max(b);
    }
}
