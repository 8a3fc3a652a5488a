package ds.comm.tool.scenario;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.tool.Pattern;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Rank program that fingerprints all-reduce results for seeded random inputs, so that runs on
 * different ISAs, vector widths and byte orders can be compared: the same seed, rank count and
 * backend must give the same checksums everywhere (docs/portability.md).
 *
 * <p>Unlike {@link Pattern}'s small integers, these inputs make floating-point results depend on
 * every rounding step: random signs and mantissas, exponents mostly within +-8 so that the
 * values of different ranks are comparable (about one 3-rank fp32 sum in five changes when the
 * additions are reassociated), and one value in 16 from a wide range (subnormals to huge), and
 * now and then a signed zero; so sums are inexact and any change in the order or precision of
 * the arithmetic changes the bits. Integers are full-range, so sums and
 * products wrap. All inputs are finite (NaN payloads are out of scope: the kernels canonicalise
 * NaN only for the 16-bit types), and small enough that no sum or product over up to 8 ranks
 * overflows. Values are generated as numbers by {@link SplittableRandom} (the same sequence on
 * every JVM) and stored in the native byte order, and {@link Pattern#checksum} hashes element
 * values, not bytes, so a big-endian machine reports the same checksum as a little-endian one.
 *
 * <p>Every all-reduce runs in one of three places, by its position in {@code --counts}: a
 * 64-byte-aligned native segment, a native segment one element past an aligned address, or a
 * heap {@code byte[]} at an odd byte offset (every access unaligned). Odd counts leave tails
 * shorter than a vector at every width.
 *
 * <p>With {@code --repeat K} every case runs K times on the same inputs, and all K results must
 * be identical: the first calls run the kernels interpreted or C1-compiled (the Vector API's
 * Java fallback), later ones, once hot, C2's intrinsics, i.e. the ISA's real vector
 * instructions; this catches an intrinsic that disagrees with the fallback on one machine.
 *
 * <p>With {@code --symmetric} every case also runs once on a slice of the communicator's
 * symmetric tensor ({@code Communicator.allocateSymmetric}; on SHM the zero-copy all-reduce),
 * at offset 0 or one element in (by position, as above), and its result must have the checksum
 * of the ordinary run; rank 0 then prints {@code symmetric <cases> cases bit-identical to the
 * copy path}.
 *
 * <p>Output, on rank 0 only: a {@code platform} line, then {@code checksum <dtype> <op> <count>
 * <hex>} per case (and {@code checksum <dtype> alltoall <count> <hex>} per allToAll case) and
 * {@code checksum all all <cases> <hex>} combining them in order. Every rank
 * checks that all ranks hold the same bits; any difference prints a {@code FAIL} line and exits 1.
 *
 * <pre>
 * usage: ChecksumScenario [--seed S] [--counts 1,31,...] [--dtypes fp32,...] [--ops sum,...]
 *                         [--repeat K] [--symmetric]
 * </pre>
 */
public final class ChecksumScenario {

    /** Element counts: below, at and above one vector of every width and dtype, and past the small-message limit. */
    static final List<Long> DEFAULT_COUNTS = List.of(1L, 3L, 15L, 17L, 31L, 33L, 63L, 65L, 1000L, 4099L, 70001L);

    private static final long FNV_OFFSET = 0xCBF29CE484222325L;
    private static final long FNV_PRIME = 0x100000001B3L;

    private final Communicator comm;
    private final Arena arena;
    private final List<String> failures = new ArrayList<>();
    /** The symmetric tensor every case is also reduced in, or null without --symmetric. */
    private final MemorySegment symmetric;

    private ChecksumScenario(Communicator comm, Arena arena, MemorySegment symmetric) {
        this.comm = comm;
        this.arena = arena;
        this.symmetric = symmetric;
    }

    /**
     * @param args see the class description
     */
    public static void main(String[] args) {
        long seed = 42;
        List<Long> counts = DEFAULT_COUNTS;
        List<DType> dtypes = List.of(DType.values());
        List<ReduceOp> ops = List.of(ReduceOp.values());
        int repeat = 1;
        boolean symmetric = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--counts" -> counts = parse(args[++i], Long::parseLong);
                case "--dtypes" -> dtypes = parse(args[++i], s -> DType.valueOf(s.toUpperCase(Locale.ROOT)));
                case "--ops" -> ops = parse(args[++i], s -> ReduceOp.valueOf(s.toUpperCase(Locale.ROOT)));
                case "--repeat" -> repeat = Integer.parseInt(args[++i]);
                case "--symmetric" -> symmetric = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (usage: ChecksumScenario [--seed S] [--counts N,...] [--dtypes T,...] [--ops OP,...] [--repeat K]"
                        + " [--symmetric])");
            }
        }
        int code;
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofShared()) {
            long maxBytes = 8 * (counts.stream().mapToLong(Long::longValue).max().orElse(1) + 1);
            ChecksumScenario s = new ChecksumScenario(comm, arena, symmetric ? comm.allocateSymmetric(maxBytes) : null);
            if (comm.rank() == 0) {
                System.out.println("platform " + System.getProperty("os.arch") + " " + ByteOrder.nativeOrder()
                        + " ranks " + comm.size() + " backend " + comm.backend().backend().label() + " seed " + seed);
            }
            long combined = FNV_OFFSET;
            int cases = 0;
            for (DType t : dtypes) {
                for (ReduceOp op : ops) {
                    for (int k = 0; k < counts.size(); k++) {
                        long sum = s.allReduce(t, op, counts.get(k), k % 3, seed, repeat);
                        combined = (combined ^ sum) * FNV_PRIME;
                        cases++;
                    }
                }
            }
            // All-to-all moves bytes only: its checksums prove the blocks land where they must on
            // every platform (the per-rank results, hashed in rank order).
            for (DType t : dtypes) {
                for (int k = 0; k < counts.size(); k++) {
                    long sum = s.allToAll(t, counts.get(k), seed);
                    combined = (combined ^ sum) * FNV_PRIME;
                    cases++;
                }
            }
            comm.barrier();
            if (comm.rank() == 0) System.out.println("checksum all all " + cases + " " + hex(combined));
            if (symmetric && comm.rank() == 0 && s.failures.isEmpty()) {
                System.out.println("symmetric " + cases + " cases bit-identical to the copy path");
            }
            for (String f : s.failures) System.out.println("FAIL rank " + comm.rank() + ": " + f);
            code = s.failures.isEmpty() ? 0 : 1;
        }
        System.exit(code);
    }

    /** {@code repeat} all-reduces of the same seeded random values; returns the checksum of the result. */
    private long allReduce(DType t, ReduceOp op, long count, int placement, long seed, int repeat) {
        long bytes = count * t.byteSize();
        MemorySegment buf = switch (placement) {
            case 0 -> arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
            case 1 -> arena.allocate(bytes + t.byteSize(), 64).asSlice(t.byteSize(), bytes);
            default -> MemorySegment.ofArray(new byte[Math.toIntExact(bytes) + 3]).asSlice(3, bytes);
        };
        MemorySegment input = arena.allocate(Math.max(bytes, 1)).asSlice(0, bytes);
        fill(input, t, op, new SplittableRandom(caseSeed(seed, t, op, count, comm.rank())));
        String what = t.name().toLowerCase(Locale.ROOT) + " " + op.name().toLowerCase(Locale.ROOT) + " " + count;
        String where = " (" + (placement == 0 ? "aligned" : placement == 1 ? "offset" : "heap+3") + ")";
        long first = 0;
        for (int k = 0; k < repeat; k++) {
            buf.copyFrom(input);
            comm.allReduce(buf, t, op);
            long sum = Pattern.checksum(buf, t);
            if (k == 0) {
                first = sum;
                sameOnAllRanks(sum, what + where);
            } else if (sum != first) {
                failures.add(what + where + ": repetition " + k + " gave " + hex(sum) + ", the first " + hex(first)
                        + " (the warmed-up, compiled kernel disagrees with the first calls)");
                break;
            }
        }
        if (symmetric != null) {
            MemorySegment sym = symmetric.asSlice(placement == 1 ? t.byteSize() : 0, bytes);
            sym.copyFrom(input);
            comm.allReduce(sym, t, op);
            long sum = Pattern.checksum(sym, t);
            if (sum != first) {
                failures.add(what + where + ": the symmetric tensor's result " + hex(sum) + " differs from the copy path's "
                        + hex(first));
            }
        }
        if (comm.rank() == 0) System.out.println("checksum " + what + " " + hex(first));
        return first;
    }

    /**
     * An allToAll of {@code count} seeded random elements per block; returns the hash, in rank
     * order, of every rank's received blocks' checksums (the same on every rank).
     */
    private long allToAll(DType t, long count, long seed) {
        int n = comm.size();
        long bytes = count * t.byteSize() * n;
        MemorySegment in = arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
        MemorySegment out = arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
        fill(in, t, ReduceOp.MAX, new SplittableRandom(caseSeed(seed ^ 0xA11A, t, ReduceOp.MAX, count, comm.rank())));
        comm.allToAll(in, out, t);
        MemorySegment mine = arena.allocate(8);
        mine.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, Pattern.checksum(out, t));
        MemorySegment all = arena.allocate(8L * n);
        comm.allGather(mine, all, DType.INT64);
        long h = FNV_OFFSET;
        for (int r = 0; r < n; r++) h = (h ^ all.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, r)) * FNV_PRIME;
        String what = t.name().toLowerCase(Locale.ROOT) + " alltoall " + count;
        if (comm.rank() == 0) System.out.println("checksum " + what + " " + hex(h));
        return h;
    }

    /**
     * A seed for one (dtype, op, count, rank): independent streams, identical on every machine.
     *
     * @param seed  the run's seed
     * @param t     element type
     * @param op    reduction
     * @param count element count
     * @param rank  the rank whose input this is
     * @return the seed of that rank's {@link SplittableRandom}
     */
    public static long caseSeed(long seed, DType t, ReduceOp op, long count, int rank) {
        long h = seed;
        for (long v : new long[]{t.ordinal(), op.ordinal(), count, rank}) {
            h = (h ^ v) * 0x9E3779B97F4A7C15L;
            h ^= h >>> 31;
        }
        return h;
    }

    /**
     * Writes {@code seg.byteSize() / t.byteSize()} random values for {@code op}, in native byte order.
     *
     * @param seg where to write
     * @param t   element type
     * @param op  the reduction the values are for (PROD gets a narrower exponent range)
     * @param r   the value source, e.g. {@code new SplittableRandom(caseSeed(...))}
     */
    public static void fill(MemorySegment seg, DType t, ReduceOp op, SplittableRandom r) {
        long n = seg.byteSize() / t.byteSize();
        boolean prod = op == ReduceOp.PROD;
        for (long i = 0; i < n; i++) {
            switch (t) {
                // Sums: mostly exponents in +-8, so that the values of different ranks are comparable
                // and rounding depends on the order of addition; one in 16 from a wide range
                // (subnormals to huge), so that absorption, gradual underflow and large
                // magnitudes are covered too. No sum over 8 ranks overflows.
                // Products over 8 ranks stay finite: exponents in +-15 (fp32, bf16), +-100 (fp64), [-1, 0] (fp16).
                case FP32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4,
                        (float) (prod ? randomDouble(r, -15, 15) : randomDouble(r, -135, 60)));
                case FP64 -> seg.set(ValueLayout.JAVA_DOUBLE_UNALIGNED, i * 8,
                        prod ? randomDouble(r, -100, 100) : randomDouble(r, -1060, 400));
                case BF16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2,
                        bf16((float) (prod ? randomDouble(r, -15, 15) : randomDouble(r, -130, 40))));
                case FP16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2,
                        Float.floatToFloat16((float) (prod ? randomDouble(r, -1, 0) : randomDouble(r, -26, 10))));
                case INT32 -> seg.set(ValueLayout.JAVA_INT_UNALIGNED, i * 4, r.nextInt());
                case INT64 -> seg.set(ValueLayout.JAVA_LONG_UNALIGNED, i * 8, r.nextLong());
            }
        }
    }

    /**
     * A random sign times a random mantissa in [1, 2) times 2^e; e is uniform in
     * [max(minExp, -8), min(maxExp, 8)] for 15 values in 16 and in [minExp, maxExp] for the rest.
     * One value in 64 is a signed zero, so that MIN and MAX must order -0 before +0 everywhere.
     */
    private static double randomDouble(SplittableRandom r, int minExp, int maxExp) {
        double sign = r.nextBoolean() ? -1.0 : 1.0;
        if (r.nextInt(64) == 0) return sign * 0.0;
        int e = r.nextInt(16) == 0 ? r.nextInt(minExp, maxExp + 1) : r.nextInt(Math.max(minExp, -8), Math.min(maxExp, 8) + 1);
        return sign * Math.scalb(1.0 + r.nextDouble(), e);
    }

    /** bf16 by truncation: the value need only be a deterministic, finite bf16, not the nearest. */
    private static short bf16(float f) {
        return (short) (Float.floatToRawIntBits(f) >>> 16);
    }

    private void sameOnAllRanks(long sum, String what) {
        MemorySegment mine = arena.allocate(ValueLayout.JAVA_LONG);
        MemorySegment all = arena.allocate(ValueLayout.JAVA_LONG, comm.size());
        mine.set(ValueLayout.JAVA_LONG, 0, sum);
        comm.allGather(mine, all, DType.INT64);
        for (int r = 0; r < comm.size(); r++) {
            if (all.getAtIndex(ValueLayout.JAVA_LONG, r) != sum) {
                failures.add(what + ": rank " + r + " holds " + hex(all.getAtIndex(ValueLayout.JAVA_LONG, r))
                        + ", this rank " + hex(sum));
                return;
            }
        }
    }

    private static String hex(long v) {
        return HexFormat.of().toHexDigits(v);
    }

    private static <T> List<T> parse(String csv, java.util.function.Function<String, T> f) {
        List<T> out = new ArrayList<>();
        for (String s : csv.split(",")) if (!s.isBlank()) out.add(f.apply(s.strip()));
        return out;
    }
}
