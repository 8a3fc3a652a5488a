package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.HalfFloats;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Deterministic test payloads: every rank can regenerate every other rank's input. */
final class Payloads {

    private Payloads() {
    }

    /** Where a buffer lives; the odd kinds exercise unaligned copies and reductions. */
    enum Placement { HEAP_ODD_OFFSET, NATIVE_ALIGNED, NATIVE_ODD_OFFSET }

    static MemorySegment allocate(Arena arena, long bytes, Placement placement) {
        return switch (placement) {
            case HEAP_ODD_OFFSET -> MemorySegment.ofArray(new byte[Math.toIntExact(bytes + 3)]).asSlice(3, bytes);
            case NATIVE_ALIGNED -> arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
            case NATIVE_ODD_OFFSET -> arena.allocate(bytes + 1, 8).asSlice(1, bytes);
        };
    }

    static Placement placement(int i) {
        return Placement.values()[Math.floorMod(i, Placement.values().length)];
    }

    /** Fills {@code s} with values of {@code type} from {@code seed}: moderate magnitudes, mixed signs. */
    static void fill(MemorySegment s, ElementType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        long count = s.byteSize() / type.byteSize();
        for (long i = 0; i < count; i++) {
            long o = i * type.byteSize();
            switch (type) {
                case FP32 -> s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, o, (float) (rnd.nextDouble() * 200 - 100));
                case FP64 -> s.set(ValueLayout.JAVA_DOUBLE_UNALIGNED, o, rnd.nextDouble() * 2e6 - 1e6);
                case INT32 -> s.set(ValueLayout.JAVA_INT_UNALIGNED, o, rnd.nextInt());
                case INT64 -> s.set(ValueLayout.JAVA_LONG_UNALIGNED, o, rnd.nextLong());
                case BF16 -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, o,
                        HalfFloats.floatToBf16((float) (rnd.nextDouble() * 200 - 100)));
                case FP16 -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, o,
                        HalfFloats.floatToFp16((float) (rnd.nextDouble() * 200 - 100)));
            }
        }
    }

    /** Seed of rank {@code rank}'s input in test case {@code caseSeed}. */
    static long seed(long caseSeed, int rank) {
        return caseSeed * 1_000_003L + rank;
    }

    /** The n ranks' inputs of one test case, as heap segments. */
    static MemorySegment[] inputs(ElementType type, long bytes, int n, long caseSeed) {
        MemorySegment[] in = new MemorySegment[n];
        for (int r = 0; r < n; r++) {
            in[r] = MemorySegment.ofArray(new byte[Math.toIntExact(bytes)]);
            fill(in[r], type, seed(caseSeed, r));
        }
        return in;
    }

    /** Element-wise reduction of the n inputs, in rank order, by the test reducer. */
    static MemorySegment reduced(ElementType type, Combiner op, MemorySegment[] inputs, long srcOffset, long bytes) {
        MemorySegment out = MemorySegment.ofArray(new byte[Math.toIntExact(bytes)]);
        long[] offsets = new long[inputs.length];
        java.util.Arrays.fill(offsets, srcOffset);
        Reducers.scalar().reduce(type, op, out, 0, inputs, offsets, inputs.length, bytes / type.byteSize());
        return out;
    }

    /** Index of the first differing byte, or -1. */
    static long mismatch(MemorySegment a, MemorySegment b) {
        return a.mismatch(b);
    }
}
