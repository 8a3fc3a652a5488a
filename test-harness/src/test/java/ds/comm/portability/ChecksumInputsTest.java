package ds.comm.portability;

import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.tool.Pattern;
import ds.comm.tool.scenario.ChecksumScenario;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The inputs of {@code ChecksumScenario} are what the portability proof needs: sums whose bits
 * depend on the order and precision of every addition (so equal checksums mean equal arithmetic,
 * not merely exact sums), finite values with subnormals and signed zeros, and independent
 * streams per seed, rank and case. Byte-order independence is proven by the s390x leg of
 * test-harness/portability.sh, not here.
 */
class ChecksumInputsTest {

    private static MemorySegment input(DType t, ReduceOp op, int rank, int n) {
        MemorySegment seg = MemorySegment.ofArray(new byte[n * t.byteSize()]);
        ChecksumScenario.fill(seg, t, op, new SplittableRandom(ChecksumScenario.caseSeed(42, t, op, n, rank)));
        return seg;
    }

    @Test
    void randomFp32SumsOverThreeRanksDependOnTheOrderOfAddition() {
        int n = 4099;
        MemorySegment a = input(DType.FP32, ReduceOp.SUM, 0, n);
        MemorySegment b = input(DType.FP32, ReduceOp.SUM, 1, n);
        MemorySegment c = input(DType.FP32, ReduceOp.SUM, 2, n);
        int orderSensitive = 0;
        for (int i = 0; i < n; i++) {
            float x = a.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            float y = b.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            float z = c.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            if (Float.floatToRawIntBits((x + y) + z) != Float.floatToRawIntBits(x + (y + z))) orderSensitive++;
        }
        // Comparable magnitudes and random signs: a reduction in another order must show in the
        // checksum (about one sum in five; a too-wide exponent range would let one value absorb
        // the others and hide the order).
        assertTrue(orderSensitive > n / 10, "only " + orderSensitive + " of " + n + " sums depend on the order");
    }

    @Test
    void everyFloatingPointInputIsFiniteAndSomeAreSubnormalOrSignedZero() {
        int n = 20000;
        for (ReduceOp op : ReduceOp.values()) {
            MemorySegment f32 = input(DType.FP32, op, 1, n);
            MemorySegment f64 = input(DType.FP64, op, 1, n);
            MemorySegment f16 = input(DType.FP16, op, 1, n);
            MemorySegment b16 = input(DType.BF16, op, 1, n);
            int zeros = 0;
            for (int i = 0; i < n; i++) {
                float x = f32.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                assertTrue(Float.isFinite(x) && Double.isFinite(f64.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i))
                        && Float.isFinite(Float.float16ToFloat(f16.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i)))
                        && Float.isFinite(Float.intBitsToFloat(b16.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) << 16)), op + " element " + i);
                if (x == 0f) zeros++;
            }
            assertTrue(zeros > 0, op + ": no signed zeros among " + n + " fp32 inputs");
        }
        int subnormal = 0;
        MemorySegment f32 = input(DType.FP32, ReduceOp.SUM, 0, n);
        for (int i = 0; i < n; i++) {
            float x = Math.abs(f32.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
            if (x != 0f && x < Float.MIN_NORMAL) subnormal++;
        }
        assertTrue(subnormal > 0, "no subnormal fp32 inputs among " + n);
    }

    @Test
    void differentSeedsRanksAndCasesGetDifferentInputs() {
        assertNotEquals(ChecksumScenario.caseSeed(42, DType.FP32, ReduceOp.SUM, 33, 0),
                ChecksumScenario.caseSeed(42, DType.FP32, ReduceOp.SUM, 33, 1));
        assertNotEquals(ChecksumScenario.caseSeed(42, DType.FP32, ReduceOp.SUM, 33, 0),
                ChecksumScenario.caseSeed(43, DType.FP32, ReduceOp.SUM, 33, 0));
        assertNotEquals(Pattern.checksum(input(DType.INT64, ReduceOp.SUM, 0, 100), DType.INT64),
                Pattern.checksum(input(DType.INT64, ReduceOp.MAX, 0, 100), DType.INT64));
    }
}
