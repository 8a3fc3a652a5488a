package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.testkit.ReferenceArithmetic;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * An all-reduce reference written for the tests alone, sharing no code with the kernels: plain
 * Java arithmetic, element by element, sources combined in rank order 0..N-1; 16-bit floats are
 * widened with the JDK's own conversions (FP16) or by shifting (BF16), accumulated in fp32 and
 * rounded once, to nearest even. Inputs span many magnitudes so that another summation order
 * (or a per-step rounding) changes the bits.
 */
final class RankOrderReference {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private RankOrderReference() {
    }

    /** n inputs of {@code count} elements whose sum depends on the order of addition. */
    static MemorySegment[] orderSensitiveInputs(ElementType type, long count, int n, long seed) {
        MemorySegment[] in = new MemorySegment[n];
        for (int r = 0; r < n; r++) {
            SplittableRandom rnd = new SplittableRandom(seed * 7919 + r);
            in[r] = MemorySegment.ofArray(new byte[Math.toIntExact(count * type.byteSize())]);
            for (long i = 0; i < count; i++) {
                // Magnitudes 2^-spread..2^spread: wider than fp32's 24 bits even for the 16-bit
                // types (accumulated in fp32), so the order of addition shows; FP16 stays finite.
                int spread = type == ElementType.FP16 ? 12 : 20;
                double v = (rnd.nextDouble() - 0.5) * Math.pow(2, rnd.nextInt(-spread, spread + 1));
                switch (type) {
                    case FP32 -> in[r].set(F32, i * 4, (float) v);
                    case FP64 -> in[r].set(F64, i * 8, v);
                    case BF16 -> in[r].set(I16, i * 2, ReferenceArithmetic.narrow(ElementType.BF16, (float) v));
                    case FP16 -> in[r].set(I16, i * 2, Float.floatToFloat16((float) v));
                    case INT32 -> in[r].set(I32, i * 4, rnd.nextInt());
                    case INT64 -> in[r].set(I64, i * 8, rnd.nextLong());
                }
            }
        }
        return in;
    }

    /** The reduction of {@code inputs} in rank order. */
    static MemorySegment reduce(ElementType type, Combiner op, MemorySegment[] inputs) {
        long bytes = inputs[0].byteSize();
        long count = bytes / type.byteSize();
        MemorySegment out = MemorySegment.ofArray(new byte[Math.toIntExact(bytes)]);
        for (long i = 0; i < count; i++) {
            switch (type) {
                case FP32 -> {
                    float acc = inputs[0].get(F32, i * 4);
                    for (int r = 1; r < inputs.length; r++) acc = ReferenceArithmetic.apply(op, acc, inputs[r].get(F32, i * 4));
                    out.set(F32, i * 4, acc);
                }
                case FP64 -> {
                    double acc = inputs[0].get(F64, i * 8);
                    for (int r = 1; r < inputs.length; r++) acc = ReferenceArithmetic.apply(op, acc, inputs[r].get(F64, i * 8));
                    out.set(F64, i * 8, acc);
                }
                case BF16, FP16 -> {
                    float acc = ReferenceArithmetic.widen(type, inputs[0].get(I16, i * 2));
                    for (int r = 1; r < inputs.length; r++) {
                        acc = ReferenceArithmetic.apply(op, acc, ReferenceArithmetic.widen(type, inputs[r].get(I16, i * 2)));
                    }
                    out.set(I16, i * 2, ReferenceArithmetic.narrow(type, acc));
                }
                case INT32 -> {
                    int acc = inputs[0].get(I32, i * 4);
                    for (int r = 1; r < inputs.length; r++) acc = (int) ReferenceArithmetic.apply(op, acc, inputs[r].get(I32, i * 4));
                    out.set(I32, i * 4, acc);
                }
                case INT64 -> {
                    long acc = inputs[0].get(I64, i * 8);
                    for (int r = 1; r < inputs.length; r++) acc = ReferenceArithmetic.apply(op, acc, inputs[r].get(I64, i * 8));
                    out.set(I64, i * 8, acc);
                }
            }
        }
        return out;
    }
}
