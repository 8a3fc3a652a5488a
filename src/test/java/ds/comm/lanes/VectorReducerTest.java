package ds.comm.lanes;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every vector width this JVM supports against the scalar reference, bit for bit: all element
 * types and combiners, several source counts, lengths around every vector and unroll boundary,
 * odd element offsets in heap and native segments, in-place destinations and special values.
 */
@Timeout(120)
class VectorReducerTest {

    private static final int[] KS = {1, 2, 3, 8};
    private static final int SENTINEL = 0x5A;

    private static List<Integer> supportedWidths() {
        List<Integer> widths = new ArrayList<>();
        for (int bits : new int[] {64, 128, 256, 512}) {
            if (bits <= Reducers.maxBits()) {
                widths.add(bits);
            }
        }
        ds.comm.testkit.RequiredEnvironment.requireWhereRequired(!widths.isEmpty(),
                "this JVM offers no vector width; no vector kernel is tested");
        return widths;
    }

    /** Lengths just around one vector, one unrolled step, and two large odd ones. */
    private static TreeSet<Long> lengthsFor(int bits, ElementType type) {
        long lanes = bits / (8L * type.byteSize());
        TreeSet<Long> lengths = new TreeSet<>();
        for (long base : new long[] {0, 1, lanes / 2, lanes, 2 * lanes, 4 * lanes, 8 * lanes}) {
            for (long d = -1; d <= 1; d++) {
                if (base + d >= 0) {
                    lengths.add(base + d);
                }
            }
        }
        lengths.add(1027L);
        lengths.add(4099L);
        return lengths;
    }

    @Test
    void thisMachineOffersAtLeastOneVectorWidth() {
        assertTrue(supportedWidths().contains(64), "64-bit vectors should be available on every JVM that runs ds-comm");
    }

    @Test
    void everyWidthMatchesTheScalarReferenceBitForBit() {
        SplittableRandom rnd = new SplittableRandom(20261126);
        int checked = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int bits : supportedWidths()) {
                Reducer vector = Reducers.vector(bits);
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : Combiner.values()) {
                        int variant = 0;
                        for (int k : KS) {
                            for (long count : lengthsFor(bits, type)) {
                                boolean nativeMemory = (variant & 1) == 0;
                                long offsetElements = new long[] {0, 1, 3}[variant % 3];
                                variant++;
                                compare(vector, type, op, k, count, offsetElements, nativeMemory, -1, arena, rnd);
                                checked++;
                            }
                        }
                    }
                }
            }
        }
        assertTrue(checked > 1000, "only " + checked + " cases ran");
    }

    @Test
    void inPlaceReductionMatchesTheReference() {
        SplittableRandom rnd = new SplittableRandom(42);
        try (Arena arena = Arena.ofConfined()) {
            for (int bits : supportedWidths()) {
                Reducer vector = Reducers.vector(bits);
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : Combiner.values()) {
                        for (int k : new int[] {3, 8}) {
                            for (int dstIs : new int[] {0, 2}) {
                                compare(vector, type, op, k, 517 + bits / 8, 1, (dstIs & 2) == 0, dstIs, arena, rnd);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Plain native segments take the kernel copies compiled for them alone; anything else the
     * copies for any segment. A canary too: if a JDK gave arena segments another class than
     * {@code MemorySegment.NULL}'s, every all-reduce would lose the exact copies silently.
     */
    @Test
    void onlyPlainNativeSegmentsTakeTheKernelsCompiledForThem(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined();
             FileChannel file = FileChannel.open(dir.resolve("mapped"), StandardOpenOption.CREATE,
                     StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment allocated = arena.allocate(256, 64);
            MemorySegment byAddress = MemorySegment.ofAddress(allocated.address()).reinterpret(256);
            MemorySegment heap = MemorySegment.ofArray(new float[64]);
            MemorySegment mapped = file.map(FileChannel.MapMode.READ_WRITE, 0, 256, arena);
            MemorySegment[] plain = {allocated, allocated.asSlice(64), byAddress};
            assertTrue(VectorReducer.allPlainNative(allocated, plain, 3), "arena, slice and address segments");
            assertFalse(VectorReducer.allPlainNative(heap, plain, 3), "heap destination");
            assertFalse(VectorReducer.allPlainNative(allocated, new MemorySegment[] {allocated, heap}, 2), "heap source");
            assertFalse(VectorReducer.allPlainNative(allocated, new MemorySegment[] {allocated, allocated, mapped}, 3),
                    "mapped third source");
            assertTrue(VectorReducer.allPlainNative(allocated, new MemorySegment[] {allocated, allocated, mapped}, 2),
                    "only the first k sources count");
        }
    }

    /**
     * One call mixing segment kinds (heap, file-mapped and native, in every position) against the
     * reference: the calls that must take the kernels for any segment, and whose sources the
     * exact kernels' guards would refuse.
     */
    @Test
    void oneCallMixingHeapMappedAndNativeSegmentsMatchesTheReference(@TempDir Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(20261130);
        long count = 1027;
        long bytes = count * 8 + 64;
        try (Arena arena = Arena.ofConfined();
             FileChannel file = FileChannel.open(dir.resolve("mapped"), StandardOpenOption.CREATE,
                     StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment mapped = file.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            for (int bits : supportedWidths()) {
                Reducer vector = Reducers.vector(bits);
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : Combiner.values()) {
                        for (int odd = -1; odd < 4; odd++) {   // which of dst, src0, src1, src2 is not native
                            MemorySegment[] src = new MemorySegment[3];
                            long[] srcOffset = new long[3];
                            for (int j = 0; j < 3; j++) {
                                src[j] = j + 1 == odd ? (op.ordinal() % 2 == 0 ? MemorySegment.ofArray(new long[(int) bytes / 8])
                                        : mapped) : arena.allocate(bytes, 64);
                                srcOffset[j] = j * type.byteSize();
                                fill(src[j].asSlice(srcOffset[j], count * type.byteSize()), type, rnd);
                            }
                            MemorySegment expected = arena.allocate(bytes, 64);
                            MemorySegment actual = odd == 0 ? MemorySegment.ofArray(new long[(int) bytes / 8])
                                    : arena.allocate(bytes, 64);
                            Reducers.scalar().reduce(type, op, expected, 8, src, srcOffset, 3, count);
                            vector.reduce(type, op, actual, 8, src, srcOffset, 3, count);
                            long at = expected.asSlice(8, count * type.byteSize())
                                    .mismatch(actual.asSlice(8, count * type.byteSize()));
                            assertEquals(-1, at, vector + " " + type + " " + op + ", segment " + odd
                                    + " not native: first difference at byte " + at);
                        }
                    }
                }
            }
        }
    }

    @Test
    void testDataDrivesSixteenBitResultsIntoNaNInfinityAndSubnormals() {
        // Sanity check on the data the comparisons use: with these inputs the reference itself
        // produces canonical NaNs, infinities and subnormals, so those paths are exercised.
        SplittableRandom rnd = new SplittableRandom(3);
        for (ElementType type : new ElementType[] {ElementType.BF16, ElementType.FP16}) {
            int n = 4096;
            MemorySegment a = MemorySegment.ofArray(new short[n]);
            MemorySegment b = MemorySegment.ofArray(new short[n]);
            fill(a, type, rnd);
            fill(b, type, rnd);
            MemorySegment r = Segments.reduce(Reducers.scalar(), type, Combiner.SUM, a, b);
            int nan = type == ElementType.BF16 ? 0x7FC0 : 0x7E00;
            int inf = type == ElementType.BF16 ? 0x7F80 : 0x7C00;
            int expMask = type == ElementType.BF16 ? 0x7F80 : 0x7C00;
            boolean sawNaN = false, sawInf = false, sawSubnormal = false;
            for (int i = 0; i < n; i++) {
                int v = Segments.shortAt(r, i);
                if ((v & 0x7FFF) > inf) {
                    assertEquals(nan, v, "non-canonical NaN at " + i);
                    sawNaN = true;
                }
                sawInf |= (v & 0x7FFF) == inf;
                sawSubnormal |= (v & expMask) == 0 && (v & 0x7FFF) != 0;
            }
            assertTrue(sawNaN && sawInf && sawSubnormal, type + ": NaN " + sawNaN + ", inf " + sawInf + ", subnormal " + sawSubnormal);
        }
    }

    /**
     * Builds k sources of count elements at offsetElements into fresh buffers (native or heap),
     * reduces them with the reference and with {@code vector}, and compares the whole destination
     * buffers (so bytes outside the range must be untouched too). dstIs >= 0 reduces in place into
     * that source.
     */
    private static void compare(Reducer vector, ElementType type, Combiner op, int k, long count,
                                long offsetElements, boolean nativeMemory, int dstIs,
                                Arena arena, SplittableRandom rnd) {
        int size = type.byteSize();
        long offset = offsetElements * size;
        long bytes = offset + count * size + 16;
        MemorySegment[] src = new MemorySegment[k];
        long[] srcOffset = new long[k];
        for (int j = 0; j < k; j++) {
            src[j] = allocate(bytes, nativeMemory, arena);
            srcOffset[j] = offset + (j % 2) * size;   // sources need not share an offset
            src[j].fill((byte) SENTINEL);
            fill(src[j].asSlice(srcOffset[j], count * size), type, rnd);
        }
        MemorySegment expected;
        MemorySegment actual;
        long dstOffset;
        if (dstIs >= 0) {
            dstOffset = srcOffset[dstIs];
            MemorySegment[] copy = copyAll(src, bytes, nativeMemory, arena);
            expected = src[dstIs];
            actual = copy[dstIs];
            Reducers.scalar().reduce(type, op, expected, dstOffset, src, srcOffset, k, count);
            vector.reduce(type, op, actual, dstOffset, copy, srcOffset, k, count);
        } else {
            dstOffset = offset + size;
            expected = allocate(bytes + size, nativeMemory, arena).fill((byte) SENTINEL);
            actual = allocate(bytes + size, nativeMemory, arena).fill((byte) SENTINEL);
            Reducers.scalar().reduce(type, op, expected, dstOffset, src, srcOffset, k, count);
            vector.reduce(type, op, actual, dstOffset, src, srcOffset, k, count);
        }
        long mismatch = expected.mismatch(actual);
        if (mismatch >= 0) {
            long element = (mismatch - dstOffset) / size;
            fail(vector + " " + type + " " + op + " k=" + k + " count=" + count + " offset=" + offsetElements
                    + (nativeMemory ? " native" : " heap") + (dstIs >= 0 ? " in place into src[" + dstIs + "]" : "")
                    + ": first difference at byte " + mismatch + " (element " + element + ")"
                    + describe(type, src, srcOffset, k, element, expected, actual, dstOffset));
        }
    }

    private static String describe(ElementType type, MemorySegment[] src, long[] srcOffset, int k, long element,
                                   MemorySegment expected, MemorySegment actual, long dstOffset) {
        if (element < 0) {
            return "";
        }
        StringBuilder sb = new StringBuilder("; inputs");
        int size = type.byteSize();
        for (int j = 0; j < k; j++) {
            long at = srcOffset[j] + element * size;
            if (at + size <= src[j].byteSize()) {
                sb.append(' ').append(hex(src[j], at, size));
            }
        }
        long at = dstOffset + element * size;
        return sb.append(", expected ").append(hex(expected, at, size)).append(", got ").append(hex(actual, at, size)).toString();
    }

    private static String hex(MemorySegment s, long at, int size) {
        return switch (size) {
            case 2 -> String.format("0x%04X", s.get(ValueLayout.JAVA_SHORT_UNALIGNED, at));
            case 4 -> String.format("0x%08X", s.get(ValueLayout.JAVA_INT_UNALIGNED, at));
            default -> String.format("0x%016X", s.get(ValueLayout.JAVA_LONG_UNALIGNED, at));
        };
    }

    private static MemorySegment allocate(long bytes, boolean nativeMemory, Arena arena) {
        return nativeMemory ? arena.allocate(bytes, 1) : MemorySegment.ofArray(new long[(int) ((bytes + 7) / 8)]);
    }

    private static MemorySegment[] copyAll(MemorySegment[] src, long bytes, boolean nativeMemory, Arena arena) {
        MemorySegment[] copy = new MemorySegment[src.length];
        for (int j = 0; j < src.length; j++) {
            copy[j] = allocate(src[j].byteSize(), nativeMemory, arena).copyFrom(src[j]);
        }
        return copy;
    }

    /** Fills with a mix of special values, values that collide into rounding ties, and random bits. */
    static void fill(MemorySegment s, ElementType type, SplittableRandom rnd) {
        long n = s.byteSize() / type.byteSize();
        for (long i = 0; i < n; i++) {
            int pick = rnd.nextInt(8);
            switch (type) {
                case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (pick < 3
                        ? BF16_SPECIAL[rnd.nextInt(BF16_SPECIAL.length)]
                        : pick < 6 ? 0x3F80 | rnd.nextInt(0x8) | (rnd.nextInt(4) << 7) | (rnd.nextInt(2) << 15) : rnd.nextInt(0x10000)));
                case FP16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (pick < 3
                        ? FP16_SPECIAL[rnd.nextInt(FP16_SPECIAL.length)]
                        : pick < 6 ? 0x3C00 | rnd.nextInt(0x8) | (rnd.nextInt(4) << 10) | (rnd.nextInt(2) << 15) : rnd.nextInt(0x10000)));
                case FP32 -> s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, pick < 3
                        ? FP32_SPECIAL[rnd.nextInt(FP32_SPECIAL.length)]
                        : pick < 6 ? Float.floatToRawIntBits((float) rnd.nextGaussian()) : rnd.nextInt());
                case FP64 -> s.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, pick < 3
                        ? FP64_SPECIAL[rnd.nextInt(FP64_SPECIAL.length)]
                        : pick < 6 ? Double.doubleToRawLongBits(rnd.nextGaussian()) : rnd.nextLong());
                case INT32 -> s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, pick < 3
                        ? new int[] {0, -1, 1, Integer.MIN_VALUE, Integer.MAX_VALUE}[rnd.nextInt(5)] : rnd.nextInt());
                case INT64 -> s.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, pick < 3
                        ? new long[] {0, -1, 1, Long.MIN_VALUE, Long.MAX_VALUE}[rnd.nextInt(5)] : rnd.nextLong());
            }
        }
    }

    private static final int[] BF16_SPECIAL = {
            0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x0001, 0x807F, 0x007F, 0x0080,
            0x7F7F, 0xFF7F, 0x3F80, 0x3B80, 0xBB80, 0x3800};
    private static final int[] FP16_SPECIAL = {
            0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE01, 0x0001, 0x83FF, 0x03FF, 0x0400,
            0x7BFF, 0xFBFF, 0x3C00, 0x1000, 0x4C00, 0x3800, 0x0003};
    private static final int[] FP32_SPECIAL = {
            0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0xFFC0_1234, 1, 0x807F_FFFF,
            0x0080_0000, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x3F80_0000, 0x3380_0000};
    private static final long[] FP64_SPECIAL = {
            0, 0x8000_0000_0000_0000L, 0x7FF0_0000_0000_0000L, 0xFFF0_0000_0000_0000L, 0x7FF8_0000_0000_0000L,
            0x7FF0_0000_0000_0001L, 1, 0x800F_FFFF_FFFF_FFFFL, 0x7FEF_FFFF_FFFF_FFFFL, 0x3FF0_0000_0000_0000L};
}
