package ds.comm.mpi;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Reducer;
import ds.comm.lanes.HalfFloats;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Rank program for the MPI backend tests: run one copy per rank under {@code mpirun} or
 * {@code mpiexec}. Opens the backend from the environment ({@code DSCOMM_MPI_LIB}), runs checks
 * (with the staging chunk of the optional second argument) and prints one {@code PASS}/{@code FAIL} line per check, then a {@code DONE} line; exits 1 when
 * any check failed.
 *
 * <p>Modes: {@code all} (default) runs both of:
 * <ul>
 *   <li>{@code collectives}: every collective, every element type x op (SUM, PROD, MIN,
 *       MAX) on heap and native memory, a split into two groups, against a reference computed
 *       locally from every rank's (deterministic) input, and bit-identity of results across
 *       ranks (an allGather of each rank's checksum).</li>
 *   <li>{@code errors}: on a group split off the world, an invalid broadcast root that MPI itself
 *       detects must surface as a {@link CommFailure} with MPI's error text and abort that group,
 *       while the world group keeps working.</li>
 *   <li>{@code hang} (not part of {@code all}): rank 0 never enters a barrier the others wait
 *       in; with a 2 s group timeout the backend's watchdog must abort the whole MPI job with an
 *       explanation, long before rank 0's 60 s absence ends. Any normal exit is a failure.</li>
 * </ul>
 *
 * <p>Inputs for exact checks are chosen so that every reduction order gives the same bits
 * (small integers for SUM, powers of two for PROD); the one inexact case (random fp32 sums) is
 * checked with a tolerance against the reference and bit for bit across ranks.
 */
public final class MpiScenario {

    private static final int COUNT = 1003;
    private static final int BLOCK = 257;
    /** Group timeout in mode {@code hang}. */
    private static final long HANG_TIMEOUT_NANOS = 2_000_000_000L;
    /** How long rank 0 stays away from the barrier in mode {@code hang}: far beyond the timeout. */
    private static final long HANG_ABSENCE_MILLIS = 60_000;

    private final MpiCollective world;
    private final Reducer reference = Reducers.scalar();
    private final String who;
    private int passed;
    private int failed;

    private enum Memory { HEAP, NATIVE }

    private final int threadLevel;

    private MpiScenario(MpiCollective world, int threadLevel) {
        this.world = world;
        this.threadLevel = threadLevel;
        this.who = "rank " + world.worldRank() + "/" + world.worldSize();
    }

    /**
     * @param args {@code [all|collectives|errors|hang] [chunkBytes]}
     */
    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "all";
        int code;
        try {
            MpiLibrary lib = MpiLibrary.load(System.getenv(MpiLibrary.LIBRARY_VARIABLE));
            Settings settings = withChunkBytes(mode.equals("hang")
                    ? Settings.defaults().withTimeoutNanos(HANG_TIMEOUT_NANOS) : Settings.defaults(),
                    args.length > 1 ? Long.parseLong(args[1]) : Settings.defaults().chunkBytes());
            MpiScenario s;
            try (MpiCollective world = MpiCollective.world(lib, settings, Reducers.fromEnvironment(null))) {
                s = new MpiScenario(world, lib.threadLevel());
                switch (mode) {
                    case "all" -> {
                        s.collectives();
                        s.errors();
                    }
                    case "collectives" -> s.collectives();
                    case "errors" -> s.errors();
                    case "hang" -> s.hang();
                    default -> throw new IllegalArgumentException("unknown mode " + mode + " (all|collectives|errors|hang)");
                }
            }
            if (mode.equals("all")) s.reopenAfterFinalize(lib, settings);
            code = s.done();
        } catch (Throwable t) {
            System.out.println("FAIL scenario " + mode + ": " + t);
            t.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    /** Settings with another staging chunk: a tiny one makes every heap check loop over chunks. */
    static Settings withChunkBytes(Settings d, long chunkBytes) {
        return new Settings(d.timeoutNanos(), d.idle(), d.shmDir(), d.shmBytes(), d.smallMessageBytes(), chunkBytes,
                d.peerLostNanos());
    }

    private int done() {
        System.out.println("DONE " + who + ": " + passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    private void pass(String check) {
        passed++;
        System.out.println("PASS " + who + " " + check);
    }

    private void fail(String check, String why) {
        failed++;
        System.out.println("FAIL " + who + " " + check + ": " + why);
    }

    private interface Check {
        /** Returns null when the check passed, else why it failed. */
        String run(Arena arena);
    }

    private void check(String name, Check check) {
        try (Arena arena = Arena.ofConfined()) {
            String why = check.run(arena);
            if (why == null) pass(name); else fail(name, why);
        } catch (RuntimeException e) {
            fail(name, e.toString());
        }
    }

    // ---------------------------------------------------------------- collectives

    private void collectives() {
        check("identity " + world.describe() + ", thread level " + threadLevel, a -> identity());
        check("jvm still handles its own SIGSEGV (implicit null check) after MPI_Init", a -> implicitNullCheck());
        int[] all = new int[world.size()];
        for (int r = 0; r < all.length; r++) all[r] = r;
        for (ElementType type : ElementType.values()) {
            for (Combiner op : Combiner.values()) {
                for (Memory mem : Memory.values()) {
                    check(name("allReduce", type, op, mem), a -> allReduce(a, world, all, type, op, mem, COUNT));
                }
            }
        }
        for (Memory mem : Memory.values()) {
            check("allReduce fp32 random sum " + lower(mem), a -> randomFp32Sum(a, world, all, mem));
        }
        for (ElementType type : ElementType.values()) {
            for (Memory mem : Memory.values()) {
                check(name("allGather", type, null, mem), a -> allGather(a, world, all, type, mem));
            }
        }
        for (ElementType type : ElementType.values()) {
            for (Combiner op : Combiner.values()) {
                for (Memory mem : Memory.values()) {
                    check(name("reduceScatter", type, op, mem), a -> reduceScatter(a, world, all, type, op, mem));
                }
            }
        }
        for (int root = 0; root < world.size(); root++) {
            int r = root;
            for (Memory mem : Memory.values()) {
                check("broadcast root " + r + " " + lower(mem), a -> broadcast(a, world, r, mem));
            }
        }
        check("barrier", a -> {
            world.barrier();
            return null;
        });
        exchanges(all);
        splitIntoTwoGroups(all);
    }

    // ---------------------------------------------------------------- exchanges (issue 18)

    /** allToAll(V), gather, scatter and reduce on heap and native memory, odd and zero sizes, every root. */
    private void exchanges(int[] all) {
        for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16, ElementType.INT64}) {
            for (Memory mem : Memory.values()) {
                for (int count : new int[] {0, 3, 257, 1001}) {
                    check("allToAll " + lower(type) + " x " + count + " " + lower(mem), a -> allToAll(a, type, mem, count));
                }
                for (int caseNo = 1; caseNo <= 3; caseNo++) {
                    int c = caseNo;
                    check("allToAllV " + lower(type) + " case " + c + " " + lower(mem), a -> allToAllV(a, type, mem, c));
                }
            }
        }
        for (int root = 0; root < world.size(); root++) {
            int r = root;
            for (Memory mem : Memory.values()) {
                for (int bytes : new int[] {0, 1, 1001, 2500}) {
                    check("gather root " + r + " " + bytes + " B " + lower(mem), a -> gather(a, r, mem, bytes));
                    check("scatter root " + r + " " + bytes + " B " + lower(mem), a -> scatter(a, r, mem, bytes));
                }
                for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16, ElementType.INT64}) {
                    for (Combiner op : new Combiner[] {Combiner.SUM, Combiner.MAX}) {
                        check(name("reduce root " + r, type, op, mem), a -> reduce(a, all, r, type, op, mem));
                    }
                }
            }
        }
    }

    private static byte exchangeByte(int from, int to, long i) {
        return (byte) (from * 31 + to * 7 + i * 13 + (i >>> 8));
    }

    private String allToAll(Arena arena, ElementType type, Memory mem, int count) {
        int n = world.size();
        long block = (long) count * type.byteSize();
        MemorySegment in = allocate(arena, mem, type, count * n);
        MemorySegment out = allocate(arena, mem, type, count * n);
        for (int j = 0; j < n; j++) {
            for (long i = 0; i < block; i++) in.set(ValueLayout.JAVA_BYTE, j * block + i, exchangeByte(world.rank(), j, i));
        }
        world.allToAll(in, out, type);
        for (int i = 0; i < n; i++) {
            for (long b = 0; b < block; b++) {
                if (out.get(ValueLayout.JAVA_BYTE, i * block + b) != exchangeByte(i, world.rank(), b)) {
                    return "byte " + b + " of the block from rank " + i + " is wrong";
                }
            }
        }
        return null;
    }

    /** counts[i][j]: elements rank i sends rank j; zeros included, the same matrix on every rank. */
    private static long[][] countMatrix(int n, int caseNo) {
        long[][] m = new long[n][n];
        SplittableRandom rnd = new SplittableRandom(caseNo);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) m[i][j] = rnd.nextInt(3) == 0 ? 0 : rnd.nextInt(700);
        }
        return m;
    }

    private String allToAllV(Arena arena, ElementType type, Memory mem, int caseNo) {
        int n = world.size();
        int me = world.rank();
        int es = type.byteSize();
        long[][] m = countMatrix(n, caseNo);
        long[] send = m[me].clone();
        long[] recv = new long[n];
        for (int i = 0; i < n; i++) recv[i] = m[i][me];
        long sendTotal = java.util.Arrays.stream(send).sum();
        long recvTotal = java.util.Arrays.stream(recv).sum();
        MemorySegment in = allocate(arena, mem, type, (int) sendTotal);
        MemorySegment out = allocate(arena, mem, type, (int) recvTotal + 4);
        out.fill((byte) 0x5A);
        long at = 0;
        for (int j = 0; j < n; j++) {
            for (long b = 0; b < send[j] * es; b++) in.set(ValueLayout.JAVA_BYTE, at + b, exchangeByte(me, j, b));
            at += send[j] * es;
        }
        world.allToAllV(in, send, out, recv, type);
        at = 0;
        for (int i = 0; i < n; i++) {
            for (long b = 0; b < recv[i] * es; b++) {
                if (out.get(ValueLayout.JAVA_BYTE, at + b) != exchangeByte(i, me, b)) {
                    return "byte " + b + " of the block from rank " + i + " is wrong";
                }
            }
            at += recv[i] * es;
        }
        for (long b = at; b < out.byteSize(); b++) {
            if (out.get(ValueLayout.JAVA_BYTE, b) != 0x5A) return "byte " + b + " after the last block was written";
        }
        return null;
    }

    private String gather(Arena arena, int root, Memory mem, int bytes) {
        int n = world.size();
        MemorySegment in = allocate(arena, mem, null, bytes);
        for (int i = 0; i < bytes; i++) in.set(ValueLayout.JAVA_BYTE, i, exchangeByte(world.rank(), root, i));
        MemorySegment out = allocate(arena, mem, null, bytes * n);
        out.fill((byte) 0x5A);
        world.gather(in, out, root);
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < bytes; i++) {
                byte expected = world.rank() == root ? exchangeByte(r, root, i) : 0x5A;
                if (out.get(ValueLayout.JAVA_BYTE, (long) r * bytes + i) != expected) {
                    return "byte " + i + " of slot " + r + (world.rank() == root ? " is wrong" : " was written on a non-root");
                }
            }
        }
        return null;
    }

    private String scatter(Arena arena, int root, Memory mem, int bytes) {
        int n = world.size();
        MemorySegment in = allocate(arena, mem, null, bytes * n);
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < bytes; i++) in.set(ValueLayout.JAVA_BYTE, (long) r * bytes + i, exchangeByte(world.rank(), r, i));
        }
        MemorySegment out = allocate(arena, mem, null, bytes);
        world.scatter(in, out, root);
        for (int i = 0; i < bytes; i++) {
            if (out.get(ValueLayout.JAVA_BYTE, i) != exchangeByte(root, world.rank(), i)) return "byte " + i + " is wrong";
        }
        return null;
    }

    /** The root gets the reference reduction (exact inputs), the other ranks keep their input. */
    private String reduce(Arena arena, int[] members, int root, ElementType type, Combiner op, Memory mem) {
        int count = COUNT;
        MemorySegment buf = allocate(arena, mem, type, count);
        fill(buf, type, op, members[world.rank()], members.length, 0, count);
        MemorySegment input = arena.allocate((long) count * type.byteSize(), 8);
        input.copyFrom(buf);
        world.reduce(buf, type, op, root);
        if (world.rank() != root) return compare(type, buf, 0, input, 0, count);
        MemorySegment expected = arena.allocate((long) count * type.byteSize(), 8);
        referenceReduce(arena, expected, members, type, op, 0, count);
        return compare(type, buf, 0, expected, 0, count);
    }

    private String identity() {
        String[] rankVars = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
        String[] sizeVars = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "OMPI_UNIVERSE_SIZE"};
        String envRank = firstEnv(rankVars);
        String envSize = firstEnv(sizeVars);
        if (envRank == null || envSize == null) return "no launcher rank/size in the environment";
        if (Integer.parseInt(envRank) != world.worldRank() || Integer.parseInt(envSize) != world.worldSize()) {
            return "launcher says rank " + envRank + " of " + envSize + " but MPI_COMM_WORLD says " + world.worldRank()
                    + " of " + world.worldSize() + " (library and launcher from different MPIs?)";
        }
        if (world.rank() != world.worldRank() || world.size() != world.worldSize()) {
            return "world group rank " + world.rank() + "/" + world.size() + " differs from MPI_COMM_WORLD";
        }
        return null;
    }

    /**
     * Compiled code turns a null dereference into SIGSEGV and lets the JVM's handler raise the
     * NullPointerException. A library that installs its own SIGSEGV handler without chaining
     * (UCX does by default, see MpiLibrary) turns this into a crash of the rank.
     */
    private static String implicitNullCheck() {
        int[][] refs = new int[400_000][];
        int[] row = new int[3];
        java.util.Arrays.fill(refs, row);
        refs[refs.length - 1] = null;
        long sum = 0;
        for (int round = 0; round < 3; round++) {
            try {
                for (int[] r : refs) sum += r.length;
                return "no NullPointerException in round " + round;
            } catch (NullPointerException expected) {
                sum++;
            }
        }
        return sum > 0 ? null : "unreachable";
    }

    private static String firstEnv(String[] names) {
        for (String n : names) {
            String v = System.getenv(n);
            if (v != null && !v.isBlank()) return v.strip();
        }
        return null;
    }

    private void splitIntoTwoGroups(int[] worldMembers) {
        int me = world.rank();
        int color = me % 2;
        // key = -rank reverses the order: the highest world rank of a color gets group rank 0.
        int n = 0;
        for (int r = world.size() - 1; r >= 0; r--) if (r % 2 == color) n++;
        int[] members = new int[n];
        int i = 0;
        for (int r = world.size() - 1; r >= 0; r--) if (r % 2 == color) members[i++] = r;
        try (MpiCollective group = world.split(color, -me)) {
            check("split color " + color + " into " + group.name(), a -> {
                if (group.size() != members.length) return "size " + group.size() + ", expected " + members.length;
                if (members[group.rank()] != me) return "group rank " + group.rank() + " holds world rank " + me;
                if (!group.name().equals("w.s1c" + color)) return "group name " + group.name();
                return null;
            });
            for (ElementType type : ElementType.values()) {
                for (Combiner op : Combiner.values()) {
                    check("split " + group.name() + " " + name("allReduce", type, op, Memory.NATIVE),
                            a -> allReduce(a, group, members, type, op, Memory.NATIVE, COUNT));
                }
                check("split " + group.name() + " " + name("allGather", type, null, Memory.HEAP),
                        a -> allGather(a, group, members, type, Memory.HEAP));
                check("split " + group.name() + " " + name("reduceScatter", type, Combiner.SUM, Memory.NATIVE),
                        a -> reduceScatter(a, group, members, type, Combiner.SUM, Memory.NATIVE));
            }
            check("split " + group.name() + " broadcast from group rank 0",
                    a -> broadcast(a, group, 0, Memory.NATIVE));
            // The world must still work while the split group is open.
            check("world allReduce fp32 sum after split", a -> allReduce(a, world, worldMembers, ElementType.FP32,
                    Combiner.SUM, Memory.NATIVE, 17));
        }
        check("world allReduce bf16 sum after split closed", a -> allReduce(a, world, worldMembers, ElementType.BF16,
                Combiner.SUM, Memory.HEAP, 33));
    }

    // ---------------------------------------------------------------- individual checks

    private String allReduce(Arena arena, MpiCollective g, int[] members, ElementType type, Combiner op,
                             Memory mem, int count) {
        MemorySegment buf = allocate(arena, mem, type, count);
        fill(buf, type, op, members[g.rank()], members.length, 0, count);
        MemorySegment expected = arena.allocate((long) count * type.byteSize(), 8);
        referenceReduce(arena, expected, members, type, op, 0, count);
        g.allReduce(buf, type, op);
        String why = compare(type, buf, 0, expected, 0, count);
        return why != null ? why : identicalOnAllRanks(arena, g, buf);
    }

    private String randomFp32Sum(Arena arena, MpiCollective g, int[] members, Memory mem) {
        int count = 16_411;
        MemorySegment buf = allocate(arena, mem, ElementType.FP32, count);
        randomFloats(buf, members[g.rank()], count);
        MemorySegment[] inputs = new MemorySegment[members.length];
        for (int m = 0; m < members.length; m++) {
            inputs[m] = arena.allocate(4L * count, 8);
            randomFloats(inputs[m], members[m], count);
        }
        g.allReduce(buf, ElementType.FP32, Combiner.SUM);
        for (int i = 0; i < count; i++) {
            double exact = 0;
            double magnitude = 0;
            for (MemorySegment in : inputs) {
                float x = in.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                exact += x;
                magnitude += Math.abs(x);
            }
            float got = buf.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            // Any summation order of k fp32 terms errs by at most (k-1) eps sum|x|.
            double bound = members.length * Math.ulp(1.0f) * magnitude + Float.MIN_NORMAL;
            if (Math.abs(got - exact) > bound) {
                return "element " + i + ": " + got + " vs exact " + exact + " (bound " + bound + ")";
            }
        }
        return identicalOnAllRanks(arena, g, buf);
    }

    private String allGather(Arena arena, MpiCollective g, int[] members, ElementType type, Memory mem) {
        int count = 333;
        long bytes = (long) count * type.byteSize();
        MemorySegment in = allocate(arena, mem, type, count);
        MemorySegment out = allocate(arena, mem, type, count * members.length);
        fill(in, type, Combiner.SUM, members[g.rank()], members.length, 0, count);
        g.allGather(in, out, type);
        MemorySegment expected = arena.allocate(bytes, 8);
        for (int r = 0; r < members.length; r++) {
            fill(expected, type, Combiner.SUM, members[r], members.length, 0, count);
            String why = compare(type, out, r * bytes, expected, 0, count);
            if (why != null) return "block of group rank " + r + ": " + why;
        }
        return null;
    }

    private String reduceScatter(Arena arena, MpiCollective g, int[] members, ElementType type, Combiner op,
                                 Memory mem) {
        int es = type.byteSize();
        int total = BLOCK * members.length;
        MemorySegment in = allocate(arena, mem, type, total);
        MemorySegment out = allocate(arena, mem, type, BLOCK);
        fill(in, type, op, members[g.rank()], members.length, 0, total);
        MemorySegment expected = arena.allocate((long) total * es, 8);
        referenceReduce(arena, expected, members, type, op, 0, total);
        g.reduceScatter(in, out, type, op);
        return compare(type, out, 0, expected, (long) g.rank() * BLOCK * es, BLOCK);
    }

    private String broadcast(Arena arena, MpiCollective g, int root, Memory mem) {
        int bytes = 1001;
        MemorySegment buf = allocate(arena, mem, null, bytes);
        for (int i = 0; i < bytes; i++) {
            buf.set(ValueLayout.JAVA_BYTE, i, g.rank() == root ? (byte) (root * 37 + i) : (byte) 0xEE);
        }
        g.broadcast(buf, root);
        for (int i = 0; i < bytes; i++) {
            if (buf.get(ValueLayout.JAVA_BYTE, i) != (byte) (root * 37 + i)) {
                return "byte " + i + " is " + buf.get(ValueLayout.JAVA_BYTE, i) + ", root sent " + (byte) (root * 37 + i);
            }
        }
        return identicalOnAllRanks(arena, g, buf);
    }

    /** Every rank's result must have the same bits: compare checksums gathered from all ranks. */
    private static String identicalOnAllRanks(Arena arena, MpiCollective g, MemorySegment result) {
        long mine = fnv1a(result);
        MemorySegment in = arena.allocate(ValueLayout.JAVA_LONG);
        in.set(ValueLayout.JAVA_LONG, 0, mine);
        MemorySegment all = arena.allocate(ValueLayout.JAVA_LONG, g.size());
        g.allGather(in, all, ElementType.INT64);
        for (int r = 0; r < g.size(); r++) {
            long theirs = all.getAtIndex(ValueLayout.JAVA_LONG, r);
            if (theirs != mine) {
                return "result differs between ranks: checksum " + Long.toHexString(mine) + " here, "
                        + Long.toHexString(theirs) + " on group rank " + r;
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- errors

    private void errors() {
        MpiCollective group;
        try {
            group = world.split(0, world.rank());
        } catch (RuntimeException e) {
            fail("split for the error checks", e.toString());
            return;
        }
        try (group) {
            int invalidRoot = group.size();
            check("broadcast to root " + invalidRoot + " raises CommFailure with MPI's text", a -> {
                MemorySegment buf = a.allocate(64);
                try {
                    group.broadcast(buf, invalidRoot);
                    return "no exception";
                } catch (CommFailure f) {
                    System.out.println("     message: " + f.getMessage());
                    if (!f.getMessage().contains("MPI_Bcast")) return "message lacks the MPI function: " + f.getMessage();
                    if (!f.getMessage().toLowerCase(Locale.ROOT).contains("root")) {
                        return "message lacks MPI's explanation of the invalid root: " + f.getMessage();
                    }
                    if (!f.getMessage().contains("rank " + group.rank())) return "message lacks the rank: " + f.getMessage();
                    if (!group.name().equals(f.group())) return "group " + f.group() + ", expected " + group.name();
                    if (f.kind() != CommFailure.Kind.MISMATCH) return "kind " + f.kind();
                    return null;
                }
            });
            check("group " + group.name() + " is aborted after the MPI error", a -> {
                try {
                    group.barrier();
                    return "barrier after the failure succeeded";
                } catch (CommFailure f) {
                    return f.kind() == CommFailure.Kind.ABORTED ? null : "kind " + f.kind() + ": " + f.getMessage();
                }
            });
        }
        MpiCollective counted;
        try {
            counted = world.split(0, world.rank());
        } catch (RuntimeException e) {
            fail("split for the allToAllV count check", e.toString());
            return;
        }
        try (counted) {
            check("allToAllV counts that disagree fail every rank with a mismatch naming the pair", a -> {
                long[] send = new long[counted.size()];
                long[] recv = new long[counted.size()];
                java.util.Arrays.fill(send, 2);
                java.util.Arrays.fill(recv, 2);
                if (counted.rank() == 0) send[1] = 3;
                try {
                    counted.allToAllV(a.allocate(4L * 3 * counted.size() + 4), send, a.allocate(4L * 2 * counted.size()),
                            recv, ElementType.FP32);
                    return "no exception";
                } catch (CommFailure f) {
                    if (f.kind() != CommFailure.Kind.MISMATCH) return "kind " + f.kind() + ": " + f.getMessage();
                    return f.getMessage().contains("0 -> 1") ? null : "message lacks the pair: " + f.getMessage();
                }
            });
        }
        int[] all = new int[world.size()];
        for (int r = 0; r < all.length; r++) all[r] = r;
        check("world still works after an error on another group", a -> allReduce(a, world, all, ElementType.FP64,
                Combiner.SUM, Memory.HEAP, 5));
    }

    private void hang() {
        if (world.rank() == 0) {
            System.out.println("HANG rank 0 stays away from the barrier for " + HANG_ABSENCE_MILLIS + " ms");
            System.out.flush();
            try {
                Thread.sleep(HANG_ABSENCE_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            fail("hang", "rank 0 was not aborted by a peer's watchdog within " + HANG_ABSENCE_MILLIS + " ms");
        } else {
            System.out.println("HANG " + who + " enters the barrier");
            System.out.flush();
            world.barrier();
            fail("hang", "the barrier returned although rank 0 never entered it");
        }
    }

    /**
     * Closing the last group finalised MPI (ds-comm initialised it); MPI cannot be initialised
     * again, so a new world must be refused with an explanation, not crash inside MPI.
     */
    private void reopenAfterFinalize(MpiLibrary lib, Settings settings) {
        check("reopening after the last group closed is refused", a -> {
            try (MpiCollective again = MpiCollective.world(lib, settings, Reducers.fromEnvironment(null))) {
                return "reopened " + again;
            } catch (CommFailure f) {
                return f.kind() == CommFailure.Kind.SETUP && f.getMessage().contains("cannot be initialised twice")
                        ? null : f.toString();
            }
        });
    }

    // ---------------------------------------------------------------- data

    private static String name(String collective, ElementType type, Combiner op, Memory mem) {
        return collective + " " + lower(type) + (op == null ? "" : " " + lower(op)) + " " + lower(mem);
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** A buffer of {@code count} elements: a Java array of the element type, or native memory. */
    private static MemorySegment allocate(Arena arena, Memory mem, ElementType type, int count) {
        if (mem == Memory.NATIVE) return arena.allocate((long) count * (type == null ? 1 : type.byteSize()), 8);
        if (type == null) return MemorySegment.ofArray(new byte[count]);
        return switch (type) {
            case FP32 -> MemorySegment.ofArray(new float[count]);
            case FP64 -> MemorySegment.ofArray(new double[count]);
            case BF16, FP16 -> MemorySegment.ofArray(new short[count]);
            case INT32 -> MemorySegment.ofArray(new int[count]);
            case INT64 -> MemorySegment.ofArray(new long[count]);
        };
    }

    /**
     * Deterministic input of {@code worldRank}: elements {@code from .. from+count} of a sequence
     * whose reductions are exact in every order (see class comment). Floating MIN/MAX inputs
     * include -0.0 vs +0.0 and a NaN, which MPI's built-in ops would get wrong.
     */
    private static void fill(MemorySegment seg, ElementType type, Combiner op, int worldRank, int groupSize,
                             long from, long count) {
        for (long i = 0; i < count; i++) {
            long index = from + i;
            long h = mix(worldRank * 1_000_003L + index * 7_919L + op.ordinal() * 31L);
            switch (type) {
                case INT32 -> seg.set(ValueLayout.JAVA_INT_UNALIGNED, 4 * i, (int) h);
                case INT64 -> seg.set(ValueLayout.JAVA_LONG_UNALIGNED, 8 * i, h);
                default -> {
                    double v = switch (op) {
                        case SUM -> Math.floorMod(h, 17) - 8;
                        case PROD -> new double[] {1, -1, 2, 0.5}[(int) (h & 3)];
                        case MIN, MAX -> special(index, worldRank, groupSize, Math.floorMod(h, 201) - 100);
                    };
                    setFloating(seg, type, i, v);
                }
            }
        }
    }

    private static double special(long index, int worldRank, int groupSize, double otherwise) {
        if (index == 0) return worldRank == 0 ? -0.0 : 0.0;
        if (index == 1) return worldRank % groupSize == groupSize - 1 ? Double.NaN : 1.0;
        if (index == 2) return worldRank == 0 ? 0.0 : -0.0;
        return otherwise;
    }

    private static void setFloating(MemorySegment seg, ElementType type, long i, double v) {
        switch (type) {
            case FP32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, (float) v);
            case FP64 -> seg.set(ValueLayout.JAVA_DOUBLE_UNALIGNED, 8 * i, v);
            case BF16, FP16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, HalfFloats.fromFloat(type, (float) v));
            default -> throw new IllegalArgumentException(type.toString());
        }
    }

    private static void randomFloats(MemorySegment seg, int worldRank, int count) {
        SplittableRandom random = new SplittableRandom(0x5EED_0000L + worldRank);
        for (int i = 0; i < count; i++) {
            seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * i, (float) (random.nextDouble() * 2 - 1));
        }
    }

    /** dst = reduction, in group-rank order, of every member's input. */
    private void referenceReduce(Arena arena, MemorySegment dst, int[] members, ElementType type, Combiner op,
                                 long from, int count) {
        MemorySegment[] inputs = new MemorySegment[members.length];
        long[] offsets = new long[members.length];
        for (int m = 0; m < members.length; m++) {
            inputs[m] = arena.allocate((long) count * type.byteSize(), 8);
            fill(inputs[m], type, op, members[m], members.length, from, count);
        }
        reference.reduce(type, op, dst, 0, inputs, offsets, members.length, count);
    }

    private static String compare(ElementType type, MemorySegment got, long gotOff, MemorySegment expected,
                                  long expOff, int count) {
        int es = type.byteSize();
        long at = MemorySegment.mismatch(got, gotOff, gotOff + (long) count * es, expected, expOff,
                expOff + (long) count * es);
        if (at < 0) return null;
        long element = at / es;
        return "element " + element + ": got " + show(type, got, gotOff + element * es) + ", expected "
                + show(type, expected, expOff + element * es);
    }

    private static String show(ElementType type, MemorySegment seg, long off) {
        return switch (type) {
            case FP32 -> Float.toString(seg.get(ValueLayout.JAVA_FLOAT_UNALIGNED, off));
            case FP64 -> Double.toString(seg.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, off));
            case BF16, FP16 -> {
                short bits = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off);
                yield HalfFloats.toFloat(type, (short) bits) + " (0x" + Integer.toHexString(bits & 0xFFFF) + ")";
            }
            case INT32 -> Integer.toString(seg.get(ValueLayout.JAVA_INT_UNALIGNED, off));
            case INT64 -> Long.toString(seg.get(ValueLayout.JAVA_LONG_UNALIGNED, off));
        };
    }

    /** FNV-1a over 64-bit words (then the tail bytes): a checksum, not a cryptographic hash. */
    private static long fnv1a(MemorySegment seg) {
        long h = 0xcbf29ce484222325L;
        long words = seg.byteSize() / 8;
        for (long i = 0; i < words; i++) {
            h ^= seg.get(ValueLayout.JAVA_LONG_UNALIGNED, 8 * i);
            h *= 0x100000001b3L;
        }
        for (long i = words * 8; i < seg.byteSize(); i++) {
            h ^= seg.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            h *= 0x100000001b3L;
        }
        return h;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
