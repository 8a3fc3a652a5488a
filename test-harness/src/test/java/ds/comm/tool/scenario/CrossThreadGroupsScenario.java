package ds.comm.tool.scenario;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Rank program for the MPI thread-level tests: two groups, each used from its own thread, the
 * two threads in opposite order on ranks 0 and 1. Rank 0's first thread enters a barrier of the
 * world group at once and its second thread one of the other group 300 ms later; rank 1 does the
 * reverse. At {@code MPI_THREAD_MULTIPLE} both barriers complete. Below it ds-comm runs one MPI
 * call at a time per process, so each rank's first barrier waits for a peer whose matching
 * barrier waits for the lock: the job can only end through the watchdog, which must say why.
 * Prints {@code PASS} when both barriers completed, {@code FAIL} otherwise.
 *
 * <p>With {@code --async}, one thread only, at any level: a non-blocking all-reduce of the world
 * group followed at once by a blocking one of the other group, then by a non-blocking one of
 * each, 100 rounds, rank 0 pausing a millisecond after each issue so that its progress thread
 * is inside MPI first while rank 1's caller races it. Below multiple, ds-comm keeps the groups'
 * calls in issue order, so this must complete with the right sums.
 */
public final class CrossThreadGroupsScenario {

    private CrossThreadGroupsScenario() {
    }

    /**
     * @param args ignored
     */
    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--async")) {
            System.exit(nonBlockingBesideAnotherGroup());
        }
        int code;
        try (Communicator world = Communicator.init(); Communicator other = world.split(0, world.rank())) {
            boolean first = world.rank() % 2 == 0;
            Communicator early = first ? world : other;
            Communicator late = first ? other : world;
            Throwable[] thrown = new Throwable[2];
            Thread a = Thread.ofPlatform().name("group-" + early.name()).start(() -> barrier(early, thrown, 0));
            Thread.sleep(300);
            Thread b = Thread.ofPlatform().name("group-" + late.name()).start(() -> barrier(late, thrown, 1));
            // Beyond the group timeout and the watchdog's period: at a level below multiple the
            // watchdog has ended the process long before this.
            Duration deadline = Duration.ofSeconds(60);
            boolean done = a.join(deadline) & b.join(deadline);
            if (done && thrown[0] == null && thrown[1] == null) {
                System.out.println("PASS rank " + world.rank() + ": two groups on two threads, " + world.backend());
                code = 0;
            } else {
                System.out.println("FAIL rank " + world.rank() + ": " + (done ? "threw " + thrown[0] + " / " + thrown[1]
                        : "still waiting after " + deadline));
                code = 1;
            }
            if (code == 0) world.barrier();
        }
        System.exit(code);
    }

    private static int nonBlockingBesideAnotherGroup() throws Exception {
        try (Communicator world = Communicator.init(); Communicator other = world.split(0, world.rank());
             Arena arena = Arena.ofShared()) {
            int n = world.size();
            int me = world.rank();
            MemorySegment a = arena.allocate(ValueLayout.JAVA_INT, 1024);
            MemorySegment b = arena.allocate(ValueLayout.JAVA_INT, 1024);
            int wrong = 0;
            for (int round = 0; round < 100; round++) {
                fill(a, me, round);
                fill(b, me, round + 1);
                CompletableFuture<Void> f = world.allReduceAsync(a, DType.INT32, ReduceOp.SUM);
                if (me == 0) Thread.sleep(1);
                other.allReduce(b, DType.INT32, ReduceOp.SUM);
                f.get(60, TimeUnit.SECONDS);
                wrong += wrong(a, n, round) + wrong(b, n, round + 1);
                fill(a, me, round + 2);
                fill(b, me, round + 3);
                CompletableFuture<Void> fa = world.allReduceAsync(a, DType.INT32, ReduceOp.SUM);
                if (me == 0) Thread.sleep(1);
                CompletableFuture<Void> fb = other.allReduceAsync(b, DType.INT32, ReduceOp.SUM);
                fb.get(60, TimeUnit.SECONDS);
                fa.get(60, TimeUnit.SECONDS);
                wrong += wrong(a, n, round + 2) + wrong(b, n, round + 3);
            }
            System.out.println((wrong == 0 ? "PASS" : "FAIL") + " rank " + me + ": 400 all-reduces, non-blocking beside "
                    + "another group, " + wrong + " wrong elements, " + world.backend());
            return wrong == 0 ? 0 : 1;
        }
    }

    private static void fill(MemorySegment s, int rank, int round) {
        for (int i = 0; i < 1024; i++) s.setAtIndex(ValueLayout.JAVA_INT, i, rank * 1000 + round + i);
    }

    /** Elements that are not the sum over {@code n} ranks of {@link #fill}. */
    private static int wrong(MemorySegment s, int n, int round) {
        int bad = 0;
        for (int i = 0; i < 1024; i++) {
            if (s.getAtIndex(ValueLayout.JAVA_INT, i) != 1000 * n * (n - 1) / 2 + n * (round + i)) bad++;
        }
        return bad;
    }

    private static void barrier(Communicator c, Throwable[] thrown, int slot) {
        try {
            c.barrier();
        } catch (Throwable t) {
            thrown[slot] = t;
        }
    }
}
