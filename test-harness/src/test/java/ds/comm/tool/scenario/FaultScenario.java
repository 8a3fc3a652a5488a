package ds.comm.tool.scenario;

import ds.comm.CollectiveMismatchException;
import ds.comm.CommException;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Rank program for the reliability tests: runs collectives until something fails, or stages a
 * mismatch, and reports what each rank saw in machine-readable lines.
 *
 * <pre>
 * usage: FaultScenario loop [ELEMENTS]     allReduce(fp32, sum) of ELEMENTS (default 256) until a failure
 *        FaultScenario mismatch WHAT       rank 0 differs from the others in WHAT: collective, dtype,
 *                                          op, count, root or subgroup (ranks 0,1 split off; rank 0
 *                                          calls on the split, everyone else on the world)
 *        FaultScenario clean ITERATIONS    ITERATIONS verified all-reduces, then close
 *
 * lines:  PID pid                           first, before init
 *         PHASE init epochMillis            loop mode: just before init
 *         PHASE collectives backend         after init
 *         LOST peer exception epochMillis message    a collective failed (exit 3)
 *         ABORTED-FAST micros               the next call threw at once, as it must after a failure
 *         FAILED peer exception message     mismatch mode: the error this rank got (exit 0)
 *         DONE iterations                   success
 *         ERROR exception message           init refused (e.g. forced SHM without space; exit 2)
 * </pre>
 * Every result is verified: a wrong sum prints {@code WRONG} and exits 4.
 */
public final class FaultScenario {

    private FaultScenario() {
    }

    /**
     * @param args see the class description
     */
    public static void main(String[] args) {
        System.out.println("PID " + ProcessHandle.current().pid());
        String mode = args.length > 0 ? args[0] : "loop";
        int code;
        try {
            code = switch (mode) {
                case "loop" -> loop(args.length > 1 ? Integer.parseInt(args[1]) : 256, Long.MAX_VALUE);
                case "clean" -> loop(256, args.length > 1 ? Long.parseLong(args[1]) : 100);
                case "mismatch" -> mismatch(args[1]);
                default -> throw new IllegalArgumentException("unknown mode " + mode);
            };
        } catch (CommException e) {
            // Setup failures (rendezvous, segment open) land here: a lost rank is named the same way.
            System.out.println("LOST " + e.peerRank() + " " + e.getClass().getSimpleName() + " "
                    + System.currentTimeMillis() + " " + e.getMessage());
            code = 3;
        } catch (RuntimeException e) {
            System.out.println("ERROR " + e.getClass().getSimpleName() + " " + e.getMessage());
            code = 2;
        }
        System.out.flush();
        System.exit(code);
    }

    private static int loop(int elements, long iterations) {
        // The rendezvous deadline runs from here: a survivor that starts after the kill is
        // bounded from its own start, not from the kill.
        System.out.println("PHASE init " + System.currentTimeMillis());
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
            System.out.println("PHASE collectives " + comm.backend().backend());
            MemorySegment buf = arena.allocate(ValueLayout.JAVA_FLOAT, elements);
            int n = comm.size();
            float expected = n * (n + 1) / 2f;
            long i = 0;
            try {
                for (; i < iterations; i++) {
                    buf.fill((byte) 0);
                    for (int e = 0; e < elements; e++) buf.setAtIndex(ValueLayout.JAVA_FLOAT, e, comm.rank() + 1);
                    comm.allReduce(buf, DType.FP32, ReduceOp.SUM);
                    float first = buf.getAtIndex(ValueLayout.JAVA_FLOAT, 0);
                    float last = buf.getAtIndex(ValueLayout.JAVA_FLOAT, elements - 1);
                    if (first != expected || last != expected) {
                        System.out.println("WRONG iteration " + i + ": " + first + ", " + last + " expected " + expected);
                        return 4;
                    }
                }
            } catch (CommException e) {
                System.out.println("LOST " + e.peerRank() + " " + e.getClass().getSimpleName() + " "
                        + System.currentTimeMillis() + " " + e.getMessage());
                reportAbortedFast(comm, buf);
                return 3;
            }
            System.out.println("DONE " + i);
            return 0;
        }
    }

    /** After a failure the communicator is aborted: the next call must throw at once. */
    private static void reportAbortedFast(Communicator comm, MemorySegment buf) {
        long t0 = System.nanoTime();
        try {
            comm.allReduce(buf, DType.FP32, ReduceOp.SUM);
            System.out.println("NOT-ABORTED");
        } catch (CommException e) {
            System.out.println("ABORTED-FAST " + (System.nanoTime() - t0) / 1000);
        }
    }

    private static int mismatch(String what) {
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofConfined()) {
            System.out.println("PHASE collectives " + comm.backend().backend());
            boolean odd = comm.rank() == 0;
            Communicator pair = what.equals("subgroup") ? comm.split(comm.rank() < 2 ? 0 : 1, comm.rank()) : null;
            try {
                MemorySegment buf = arena.allocate(4096);
                switch (what) {
                    case "collective" -> {
                        if (odd) comm.barrier();
                        else comm.allReduce(buf, DType.FP32, ReduceOp.SUM);
                    }
                    case "dtype" -> comm.allReduce(buf, odd ? DType.INT32 : DType.FP32, ReduceOp.SUM);
                    case "op" -> comm.allReduce(buf, DType.FP32, odd ? ReduceOp.MAX : ReduceOp.SUM);
                    case "count" -> comm.allReduce(odd ? buf.asSlice(0, 4092) : buf, DType.FP32, ReduceOp.SUM);
                    case "root" -> comm.broadcast(buf, odd ? 1 : 0);
                    case "subgroup" -> (odd ? pair : comm).allReduce(buf, DType.FP32, ReduceOp.SUM);
                    default -> throw new IllegalArgumentException("unknown mismatch " + what);
                }
                System.out.println("NO-ERROR");
                return 5;
            } catch (CommException e) {
                System.out.println("FAILED " + e.peerRank() + " " + e.getClass().getSimpleName() + " " + e.getMessage());
                return e instanceof CollectiveMismatchException || what.equals("subgroup") ? 0 : 6;
            } finally {
                if (pair != null) pair.close();
            }
        }
    }
}
