package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fp16 path of the vector reducers, staged in blocks through heap arrays, gives the scalar
 * reference's bits across block boundaries, in place, at odd offsets, and whether or not a block
 * holds a NaN (only blocks that do are canonicalised).
 */
class Fp16BlocksTest {

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final int COUNT = 3 * Fp16Blocks.BLOCK + 5;

    @Test
    void aNanInOneBlockIsCanonicalAndTheOtherBlocksKeepTheReferenceBits() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (Combiner op : Combiner.values()) {
            for (int k = 2; k <= 3; k++) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment[] src = new MemorySegment[k];
                    for (int j = 0; j < k; j++) {
                        // Odd offset 1: the path must not assume aligned shorts.
                        src[j] = arena.allocate(2L * COUNT + 1, 1);
                        for (int i = 0; i < COUNT; i++) {
                            src[j].set(HALF, 1 + 2L * i, Float.floatToFloat16((float) rnd.nextGaussian() * 100));
                        }
                    }
                    // One NaN with a payload, late in the third block, in the last source only.
                    int nanAt = 2 * Fp16Blocks.BLOCK + 700;
                    src[k - 1].set(HALF, 1 + 2L * nanAt, (short) 0xFE01);
                    long[] offsets = new long[k];
                    Arrays.fill(offsets, 1);
                    MemorySegment expected = arena.allocate(2L * COUNT, 1);
                    MemorySegment actual = arena.allocate(2L * COUNT + 3, 1);
                    Reducers.scalar().reduce(ElementType.FP16, op, expected, 0, src, offsets, k, COUNT);
                    Fp16Blocks.reduce(op, actual, 3, src, offsets, k, COUNT);
                    for (int i = 0; i < COUNT; i++) {
                        assertEquals(expected.get(HALF, 2L * i), actual.get(HALF, 3 + 2L * i),
                                op + " k=" + k + " element " + i);
                    }
                    assertEquals(HalfFloats.FP16_CANONICAL_NAN, actual.get(HALF, 3 + 2L * nanAt));
                }
            }
        }
    }

    @Test
    void reducingInPlaceAcrossBlocksReadsEachBlockBeforeOverwritingIt() {
        SplittableRandom rnd = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(2L * COUNT, 2);
            MemorySegment b = arena.allocate(2L * COUNT, 2);
            VectorReducerTest.fill(a, ElementType.FP16, rnd);
            VectorReducerTest.fill(b, ElementType.FP16, rnd);
            MemorySegment expected = arena.allocate(2L * COUNT, 2);
            MemorySegment[] src = {a, b};
            long[] offsets = {0, 0};
            Reducers.scalar().reduce(ElementType.FP16, Combiner.SUM, expected, 0, src, offsets, 2, COUNT);
            Fp16Blocks.reduce(Combiner.SUM, a, 0, src, offsets, 2, COUNT);
            assertEquals(-1, expected.mismatch(a), "in-place result differs from the reference");
        }
    }
}
