package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The blocked bulk conversions against the scalar reference, element for element: lengths that
 * end inside a block and span several, odd byte offsets, heap and native segments, NaNs of every
 * payload and sign in one block only, and widening in place across blocks.
 */
class HalfBlocksTest {

    private static final ElementType[] HALVES = {ElementType.BF16, ElementType.FP16};
    /** Odd and even, inside one block, at its edges and over several blocks. */
    private static final int[] COUNTS = {1, 2, 3, 77, HalfBlocks.BLOCK - 1, HalfBlocks.BLOCK, HalfBlocks.BLOCK + 1,
            3 * HalfBlocks.BLOCK + 77, 3 * HalfBlocks.BLOCK + 78};
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;

    /** fp32 patterns that matter to rounding: ties, subnormals, the overflow edge, infinities, zeros. */
    private static int interestingBits(SplittableRandom random) {
        return switch (random.nextInt(8)) {
            case 0 -> (random.nextInt() & 0xFFFF_0000) | 0x8000;          // bf16 tie
            case 1 -> (random.nextInt() & 0xFFFF_E000) | 0x1000;          // fp16 tie (normal range or not)
            case 2 -> random.nextInt() & 0x807F_FFFF;                     // fp32 subnormal
            case 3 -> Float.floatToRawIntBits((random.nextBoolean() ? 1 : -1) * (65504f + random.nextInt(32)));
            case 4 -> random.nextBoolean() ? 0x7F7F_FFFF : 0xFF80_0000;   // largest finite, -infinity
            case 5 -> random.nextBoolean() ? 0 : 0x8000_0000;
            case 6 -> Float.floatToRawIntBits((float) random.nextGaussian() * 1e-5f);
            default -> random.nextInt() & 0xBFFF_FFFF;                    // anything but a NaN
        };
    }

    private static MemorySegment segment(Arena arena, boolean heap, long bytes) {
        return heap ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(bytes, 1);
    }

    @Test
    void narrowingEqualsTheScalarReferenceAcrossBlocksOffsetsAndNans() {
        SplittableRandom random = new SplittableRandom(17);
        try (Arena arena = Arena.ofConfined()) {
            for (ElementType type : HALVES) {
                for (boolean heap : new boolean[] {false, true}) {
                    for (long offset : new long[] {0, 1, 3}) {
                        for (int count : COUNTS) {
                            MemorySegment wide = segment(arena, heap, 4L * count + offset);
                            MemorySegment half = segment(arena, !heap, 2L * count + offset);
                            int[] bits = new int[count];
                            for (int i = 0; i < count; i++) bits[i] = interestingBits(random);
                            // NaNs of several payloads and both signs, in one block only (the second,
                            // where there is one), at even and odd positions, the last element too.
                            int[] nans = {0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001, 0xFF80_4000, 0x7FFF_FFFF, 0xFFFF_FFFF};
                            int base = count > HalfBlocks.BLOCK + 300 ? HalfBlocks.BLOCK + 5 : 0;
                            for (int j = 0; j < nans.length && base + 37 * j < count - 1; j++) bits[base + 37 * j] = nans[j];
                            if (count % 2 == 1) bits[count - 1] = nans[count % nans.length];
                            for (int i = 0; i < count; i++) wide.set(INT, offset + 4L * i, bits[i]);
                            HalfFloats.narrow(type, wide, offset, half, offset, count);
                            for (int i = 0; i < count; i++) {
                                short expected = HalfFloats.fromFloat(type, Float.intBitsToFloat(bits[i]));
                                assertEquals(expected, half.get(HALF, offset + 2L * i), type + " heap " + heap + " offset "
                                        + offset + " count " + count + " element " + i + " bits 0x" + Integer.toHexString(bits[i]));
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void wideningEqualsTheScalarReferenceAcrossBlocksAndOffsets() {
        SplittableRandom random = new SplittableRandom(29);
        try (Arena arena = Arena.ofConfined()) {
            for (ElementType type : HALVES) {
                for (boolean heap : new boolean[] {false, true}) {
                    for (long offset : new long[] {0, 2, 5}) {
                        for (int count : COUNTS) {
                            MemorySegment half = segment(arena, heap, 2L * count + offset);
                            MemorySegment wide = segment(arena, !heap, 4L * count + offset);
                            short[] h = new short[count];
                            for (int i = 0; i < count; i++) {
                                h[i] = (short) random.nextInt();
                                half.set(HALF, offset + 2L * i, h[i]);
                            }
                            HalfFloats.widen(type, half, offset, wide, offset, count);
                            for (int i = 0; i < count; i++) {
                                assertEquals(Float.floatToRawIntBits(HalfFloats.toFloat(type, h[i])), wide.get(INT, offset + 4L * i),
                                        type + " heap " + heap + " offset " + offset + " count " + count + " element " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void wideningInPlaceAcrossBlocksEqualsWideningIntoAnotherBuffer() {
        SplittableRandom random = new SplittableRandom(41);
        for (ElementType type : HALVES) {
            for (int count : COUNTS) {
                MemorySegment seg = Arena.ofAuto().allocate(4L * count);
                MemorySegment copy = Arena.ofAuto().allocate(2L * count);
                for (int i = 0; i < count; i++) seg.set(HALF, 2L * i, (short) random.nextInt());
                MemorySegment.copy(seg, 0, copy, 0, 2L * count);
                MemorySegment expected = Arena.ofAuto().allocate(4L * count);
                HalfFloats.widen(type, copy, 0, expected, 0, count);
                HalfFloats.widenInPlace(type, seg, count);
                assertEquals(-1, expected.mismatch(seg), type + " count " + count);
            }
        }
    }

    @Test
    void narrowingOverItsOwnSourceFromTheSameStartEqualsNarrowingIntoAnotherBuffer() {
        SplittableRandom random = new SplittableRandom(53);
        for (ElementType type : HALVES) {
            for (int count : COUNTS) {
                MemorySegment seg = Arena.ofAuto().allocate(4L * count);
                for (int i = 0; i < count; i++) seg.set(INT, 4L * i, interestingBits(random));
                MemorySegment expected = Arena.ofAuto().allocate(2L * count);
                HalfFloats.narrow(type, seg, 0, expected, 0, count);
                HalfFloats.narrow(type, seg, 0, seg, 0, count);
                assertEquals(-1, expected.mismatch(seg.asSlice(0, 2L * count)), type + " count " + count);
            }
        }
    }

    @Test
    void aNegativeNanOfLargeMagnitudeDoesNotChangeItsPairNeighboursRounding() {
        // A tie whose rounding a carry of one would turn odd, beside NaNs whose rounding addition
        // carries out of 32 bits, in both orders (which one is the pair's lower half depends on
        // the byte order).
        int tie = 0x3F80_8000;
        int[] nans = {0xFFFF_FFFF, 0xFFFF_8001, 0xFFFF_C000};
        for (int nan : nans) {
            int[] bits = {nan, tie, tie, nan, tie, tie, 0x4000_0000, nan};
            MemorySegment wide = Arena.ofAuto().allocate(4L * bits.length);
            MemorySegment half = Arena.ofAuto().allocate(2L * bits.length);
            for (int i = 0; i < bits.length; i++) wide.set(INT, 4L * i, bits[i]);
            HalfFloats.narrow(ElementType.BF16, wide, 0, half, 0, bits.length);
            for (int i = 0; i < bits.length; i++) {
                assertEquals(HalfFloats.floatToBf16(Float.intBitsToFloat(bits[i])), half.get(HALF, 2L * i),
                        "element " + i + " beside 0x" + Integer.toHexString(nan));
            }
        }
    }
}
