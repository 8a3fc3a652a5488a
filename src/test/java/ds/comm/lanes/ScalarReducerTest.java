package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static ds.comm.lanes.Segments.doubles;
import static ds.comm.lanes.Segments.floats;
import static ds.comm.lanes.Segments.ints;
import static ds.comm.lanes.Segments.longs;
import static ds.comm.lanes.Segments.reduce;
import static ds.comm.lanes.Segments.shortAt;
import static ds.comm.lanes.Segments.shorts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The scalar reference checked against expectations worked out by hand, so that the vector
 * kernels are not compared with something that is itself wrong.
 */
class ScalarReducerTest {

    private static final Reducer SCALAR = Reducers.scalar();

    private static int[] shortsOf(MemorySegment s) {
        int[] out = new int[(int) (s.byteSize() / 2)];
        for (int i = 0; i < out.length; i++) {
            out[i] = shortAt(s, i);
        }
        return out;
    }

    @Test
    void bf16SumRoundsTiesToEven() {
        // 1.0 = 0x3F80, 2^-8 = 0x3B80: 1 + 2^-8 is 0x3F808000 in fp32, exactly between 0x3F80 and
        // 0x3F81 -> even 0x3F80. 1.0078125 (0x3F81) + 2^-8 = 0x3F818000 -> even 0x3F82.
        // 1 + 2^-8 + 2^-15 (0x3800) is just above the tie -> 0x3F81.
        MemorySegment a = shorts(0x3F80, 0x3F81, 0x3F80);
        MemorySegment b = shorts(0x3B80, 0x3B80, 0x3B80);
        MemorySegment c = shorts(0x8000, 0x8000, 0x3800);
        assertArrayEquals(new int[] {0x3F80, 0x3F82, 0x3F81}, shortsOf(reduce(SCALAR, ElementType.BF16, Combiner.SUM, a, b, c)));
    }

    @Test
    void bf16AccumulatesInFp32AndRoundsOnce() {
        // 1 + 2^-8 + 2^-8 = 1 + 2^-7 = 0x3F81 exactly. Rounding after each step would give
        // 1 + 2^-8 -> 0x3F80 (tie to even), then again 0x3F80.
        MemorySegment one = shorts(0x3F80);
        MemorySegment eps = shorts(0x3B80);
        assertEquals(0x3F81, shortAt(reduce(SCALAR, ElementType.BF16, Combiner.SUM, one, eps, eps), 0));
    }

    @Test
    void bf16OverflowsToInfinityAndNaNIsCanonical() {
        // max finite bf16 0x7F7F plus itself overflows; inf + -inf is NaN; a signalling NaN input
        // with payload still produces 0x7FC0; -inf stays -inf.
        MemorySegment a = shorts(0x7F7F, 0x7F80, 0xFF81, 0xFF80, 0x8000);
        MemorySegment b = shorts(0x7F7F, 0xFF80, 0x3F80, 0x3F80, 0x8000);
        assertArrayEquals(new int[] {0x7F80, 0x7FC0, 0x7FC0, 0xFF80, 0x8000},
                shortsOf(reduce(SCALAR, ElementType.BF16, Combiner.SUM, a, b)));
    }

    @Test
    void bf16KeepsSubnormals() {
        // smallest bf16 subnormal 0x0001 (2^-133) twice is 0x0002; 0x0001 * 1.0 is 0x0001.
        MemorySegment a = shorts(0x0001, 0x0001);
        MemorySegment b = shorts(0x0001, 0x3F80);
        assertArrayEquals(new int[] {0x0002, 0x0001}, shortsOf(reduce(SCALAR, ElementType.BF16, Combiner.SUM, a, shorts(0x0001, 0x0000))));
        assertArrayEquals(new int[] {0x0000, 0x0001}, shortsOf(reduce(SCALAR, ElementType.BF16, Combiner.PROD, a, b)));
    }

    @Test
    void fp16SumRoundsTiesToEvenAndOverflows() {
        // 1.0 = 0x3C00, 2^-11 = 0x1000: 1 + 2^-11 is a tie -> 0x3C00; 0x3C01 + 2^-11 -> 0x3C02.
        // 65504 (0x7BFF) + 16 (0x4C00) = 65520, the tie between 65504 and 65536 -> even = infinity.
        // 65504 + 8 (0x4800) = 65512 rounds down to 65504.
        MemorySegment a = shorts(0x3C00, 0x3C01, 0x7BFF, 0x7BFF);
        MemorySegment b = shorts(0x1000, 0x1000, 0x4C00, 0x4800);
        assertArrayEquals(new int[] {0x3C00, 0x3C02, 0x7C00, 0x7BFF}, shortsOf(reduce(SCALAR, ElementType.FP16, Combiner.SUM, a, b)));
    }

    @Test
    void fp16HandlesSubnormalsSignedZerosAndNaN() {
        // smallest subnormals add exactly; the largest subnormal plus the smallest is the smallest
        // normal 0x0400; -0 + -0 = -0, -0 + +0 = +0; inf - inf and any NaN give 0x7E00.
        MemorySegment a = shorts(0x0001, 0x03FF, 0x8000, 0x8000, 0x7C00, 0xFD01);
        MemorySegment b = shorts(0x0001, 0x0001, 0x8000, 0x0000, 0xFC00, 0x3C00);
        assertArrayEquals(new int[] {0x0002, 0x0400, 0x8000, 0x0000, 0x7E00, 0x7E00},
                shortsOf(reduce(SCALAR, ElementType.FP16, Combiner.SUM, a, b)));
        // 2^-24 * 0.5 is a tie between 0 and 2^-24 -> even 0; 3 * 2^-24 * 0.5 -> 2 * 2^-24.
        MemorySegment half = shorts(0x3800, 0x3800);
        assertArrayEquals(new int[] {0x0000, 0x0002},
                shortsOf(reduce(SCALAR, ElementType.FP16, Combiner.PROD, shorts(0x0001, 0x0003), half)));
    }

    @Test
    void fp16AgreesWithFloatFloatToFloat16ForNonNaNSums() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        int n = 20_000;
        short[] x = new short[n];
        short[] y = new short[n];
        for (int i = 0; i < n; i++) {
            x[i] = (short) rnd.nextInt(0x10000);
            y[i] = (short) rnd.nextInt(0x10000);
        }
        MemorySegment r = reduce(SCALAR, ElementType.FP16, Combiner.SUM, MemorySegment.ofArray(x), MemorySegment.ofArray(y));
        for (int i = 0; i < n; i++) {
            float sum = Float.float16ToFloat(x[i]) + Float.float16ToFloat(y[i]);
            int expected = Float.isNaN(sum) ? 0x7E00 : Float.floatToFloat16(sum) & 0xFFFF;
            assertEquals(expected, shortAt(r, i), "element " + i);
        }
    }

    @Test
    void floatMinAndMaxLetNaNWinAndOrderSignedZeros() {
        MemorySegment a = floats(Float.NaN, 1f, -0f, 0f, Float.NEGATIVE_INFINITY);
        MemorySegment b = floats(1f, Float.NaN, 0f, -0f, 3f);
        MemorySegment min = reduce(SCALAR, ElementType.FP32, Combiner.MIN, a, b);
        MemorySegment max = reduce(SCALAR, ElementType.FP32, Combiner.MAX, a, b);
        int[] minBits = {0x7FC00000, 0x7FC00000, Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(-0f),
                Float.floatToRawIntBits(Float.NEGATIVE_INFINITY)};
        int[] maxBits = {0x7FC00000, 0x7FC00000, 0, 0, Float.floatToRawIntBits(3f)};
        assertArrayEquals(minBits, min.toArray(ValueLayout.JAVA_INT));
        assertArrayEquals(maxBits, max.toArray(ValueLayout.JAVA_INT));
    }

    @Test
    void floatNaNResultsAreCanonical() {
        // A NaN with a payload, and inf * 0, both come out as Float.NaN / Double.NaN bits.
        MemorySegment f = reduce(SCALAR, ElementType.FP32, Combiner.SUM,
                floats(Float.intBitsToFloat(0xFFC0_1234), Float.POSITIVE_INFINITY), floats(1f, Float.NEGATIVE_INFINITY));
        assertArrayEquals(new int[] {0x7FC00000, 0x7FC00000}, f.toArray(ValueLayout.JAVA_INT));
        MemorySegment d = reduce(SCALAR, ElementType.FP64, Combiner.PROD,
                doubles(Double.longBitsToDouble(0x7FF0_0000_0000_0001L), Double.POSITIVE_INFINITY), doubles(1, 0));
        assertArrayEquals(new long[] {0x7FF8_0000_0000_0000L, 0x7FF8_0000_0000_0000L}, d.toArray(ValueLayout.JAVA_LONG));
    }

    @Test
    void integerSumAndProductWrap() {
        MemorySegment i = reduce(SCALAR, ElementType.INT32, Combiner.SUM, ints(Integer.MAX_VALUE, -1), ints(1, Integer.MIN_VALUE));
        assertArrayEquals(new int[] {Integer.MIN_VALUE, Integer.MAX_VALUE}, i.toArray(ValueLayout.JAVA_INT));
        MemorySegment p = reduce(SCALAR, ElementType.INT32, Combiner.PROD, ints(0x10000, 3), ints(0x10000, 0x5555_5556));
        assertArrayEquals(new int[] {0, 2}, p.toArray(ValueLayout.JAVA_INT));
        MemorySegment l = reduce(SCALAR, ElementType.INT64, Combiner.SUM, longs(Long.MAX_VALUE), longs(1));
        assertArrayEquals(new long[] {Long.MIN_VALUE}, l.toArray(ValueLayout.JAVA_LONG));
        MemorySegment lp = reduce(SCALAR, ElementType.INT64, Combiner.PROD, longs(1L << 32), longs(1L << 32));
        assertArrayEquals(new long[] {0}, lp.toArray(ValueLayout.JAVA_LONG));
    }

    @Test
    void integerMinMaxAreSigned() {
        assertArrayEquals(new int[] {-5, Integer.MIN_VALUE},
                reduce(SCALAR, ElementType.INT32, Combiner.MIN, ints(-5, 7), ints(3, Integer.MIN_VALUE), ints(4, 0)).toArray(ValueLayout.JAVA_INT));
        assertArrayEquals(new long[] {Long.MAX_VALUE},
                reduce(SCALAR, ElementType.INT64, Combiner.MAX, longs(-1), longs(Long.MAX_VALUE)).toArray(ValueLayout.JAVA_LONG));
    }

    @Test
    void sourcesCombineInOrder() {
        // fp32 addition is not associative: (1e8 + -1e8) + 1 = 1, but 1e8 + (-1e8 + 1) = 0.
        MemorySegment r = reduce(SCALAR, ElementType.FP32, Combiner.SUM, floats(1e8f), floats(-1e8f), floats(1f));
        assertEquals(1f, r.get(ValueLayout.JAVA_FLOAT, 0));
    }

    @Test
    void oneSourceIsCopiedUnchangedEvenForNaNPayloads() {
        MemorySegment bf = reduce(SCALAR, ElementType.BF16, Combiner.SUM, shorts(0x7F81, 0xFFFF));
        assertArrayEquals(new int[] {0x7F81, 0xFFFF}, shortsOf(bf));
        MemorySegment f = reduce(SCALAR, ElementType.FP32, Combiner.MAX, ints(0x7F80_0001));
        assertArrayEquals(new int[] {0x7F80_0001}, f.toArray(ValueLayout.JAVA_INT));
    }

    @Test
    void badArgumentsFailBeforeAnythingIsWritten() {
        MemorySegment dst = MemorySegment.ofArray(new float[4]);
        MemorySegment src = MemorySegment.ofArray(new float[] {1, 2, 3, 4});
        MemorySegment[] two = {src, src};
        assertThrows(IllegalArgumentException.class,
                () -> SCALAR.reduce(ElementType.FP32, Combiner.SUM, dst, 0, two, new long[2], 0, 4));
        assertThrows(IllegalArgumentException.class,
                () -> SCALAR.reduce(ElementType.FP32, Combiner.SUM, dst, 0, two, new long[2], 3, 4));
        assertThrows(IndexOutOfBoundsException.class,
                () -> SCALAR.reduce(ElementType.FP32, Combiner.SUM, dst, 0, two, new long[] {0, 4}, 2, 4));
        assertThrows(IndexOutOfBoundsException.class,
                () -> SCALAR.reduce(ElementType.FP32, Combiner.SUM, dst, 4, two, new long[2], 2, 4));
        assertArrayEquals(new float[4], dst.toArray(ValueLayout.JAVA_FLOAT));
    }
}
