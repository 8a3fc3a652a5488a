package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducers;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * What the Java side adds to one MPI call, in nanoseconds, without a peer's noise: run as a
 * single rank, where MPI_Allreduce of one float in place is Open MPI's (or MPICH's) bare call
 * overhead, so the differences between these loops are ours.
 *
 * <pre>
 *   mpirun --allow-run-as-root -np 1 java --add-modules jdk.incubator.vector \
 *       --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes ds.comm.mpi.MpiCallOverhead
 * </pre>
 *
 * Loops, each the median of rounds of {@link #CALLS} calls after a warm-up:
 * {@code downcall} the bare FFM downcall of MPI_Allreduce (the library's handle, MPI_COMM_WORLD);
 * {@code comm_rank} the bare downcall of MPI_Comm_rank (for scale); {@code enter+exit} the
 * downcall inside {@link MpiLibrary#enter}/{@link MpiLibrary#exit}; {@code +clock} that inside the
 * watchdog's {@link MpiCallClock} start/stop as well; {@code allReduce} the
 * backend's whole allReduce of one fp32 on a native segment (checks, lock, watchdog clock, rc);
 * {@code allReduce_min} the same with the upcall user op (floating-point MIN). Compare with the
 * C loop (bench/mpi_percall.c at -np 1).
 */
public final class MpiCallOverhead {

    private static final int CALLS = 1_000_000;
    private static final int ROUNDS = 7;

    private MpiCallOverhead() {
    }

    /**
     * @param args ignored
     */
    public static void main(String[] args) throws Throwable {
        MpiLibrary lib = MpiLibrary.load(System.getenv(MpiLibrary.LIBRARY_VARIABLE));
        try (MpiCollective world = MpiCollective.world(lib, Settings.defaults(), Reducers.fromEnvironment(null));
             Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(4, 64);
            MemorySegment slot = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment inPlace = MemorySegment.ofAddress(lib.abi().inPlace());
            long fp32 = lib.abi().datatype(ElementType.FP32);
            long sum = lib.abi().op(Combiner.SUM);
            long commWorld = lib.abi().commWorld();
            System.out.println("# " + world.describe() + ", thread level " + lib.threadLevel() + ", " + world.size()
                    + " rank(s); ns per call, median of " + ROUNDS + " x " + CALLS);
            double[] t = new double[ROUNDS];
            for (int pass = 0; pass < 2; pass++) { // pass 0 warms everything up
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS; i++) {
                        int rc = (int) lib.allreduce.invokeExact(inPlace, one, 1, fp32, sum, commWorld);
                        if (rc != 0) throw new IllegalStateException("rc " + rc);
                    }
                    t[r] = (System.nanoTime() - t0) / (double) CALLS;
                }
                if (pass == 1) print("downcall", t);
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS; i++) {
                        int rc = (int) lib.commRank.invokeExact(commWorld, slot);
                        if (rc != 0) throw new IllegalStateException("rc " + rc);
                    }
                    t[r] = (System.nanoTime() - t0) / (double) CALLS;
                }
                if (pass == 1) print("comm_rank", t);
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS; i++) {
                        lib.enter("w");
                        int rc;
                        try {
                            rc = (int) lib.allreduce.invokeExact(inPlace, one, 1, fp32, sum, commWorld);
                        } finally {
                            lib.exit();
                        }
                        if (rc != 0) throw new IllegalStateException("rc " + rc);
                    }
                    t[r] = (System.nanoTime() - t0) / (double) CALLS;
                }
                if (pass == 1) print("enter+exit", t);
                MpiCallClock clock = new MpiCallClock("w", 0, Long.MAX_VALUE, new ds.comm.spi.WaitMeter());
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS; i++) {
                        lib.enter("w");
                        int rc;
                        try {
                            clock.start("allReduce", ElementType.FP32, Combiner.SUM, 1);
                            rc = (int) lib.allreduce.invokeExact(inPlace, one, 1, fp32, sum, commWorld);
                        } finally {
                            clock.stop();
                            lib.exit();
                        }
                        if (rc != 0) throw new IllegalStateException("rc " + rc);
                    }
                    t[r] = (System.nanoTime() - t0) / (double) CALLS;
                }
                if (pass == 1) print("+clock", t);
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS; i++) world.allReduce(one, ElementType.FP32, Combiner.SUM);
                    t[r] = (System.nanoTime() - t0) / (double) CALLS;
                }
                if (pass == 1) print("allReduce", t);
                for (int r = 0; r < ROUNDS; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < CALLS / 10; i++) world.allReduce(one, ElementType.FP32, Combiner.MIN);
                    t[r] = (System.nanoTime() - t0) / (double) (CALLS / 10);
                }
                if (pass == 1) print("allReduce_min", t);
            }
        }
        System.exit(0);
    }

    private static void print(String what, double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        System.out.printf("%-14s %8.1f ns (min %.1f, max %.1f)%n", what, s[s.length / 2], s[0], s[s.length - 1]);
    }
}
