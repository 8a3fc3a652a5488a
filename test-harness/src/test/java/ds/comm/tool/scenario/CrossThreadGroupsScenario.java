package ds.comm.tool.scenario;

import ds.comm.Communicator;

import java.time.Duration;

/**
 * Rank program for the MPI thread-level tests: two groups, each used from its own thread, the
 * two threads in opposite order on ranks 0 and 1. Rank 0's first thread enters a barrier of the
 * world group at once and its second thread one of the other group 300 ms later; rank 1 does the
 * reverse. At {@code MPI_THREAD_MULTIPLE} both barriers complete. Below it ds-comm runs one MPI
 * call at a time per process, so each rank's first barrier waits for a peer whose matching
 * barrier waits for the lock: the job can only end through the watchdog, which must say why.
 * Prints {@code PASS} when both barriers completed, {@code FAIL} otherwise.
 */
public final class CrossThreadGroupsScenario {

    private CrossThreadGroupsScenario() {
    }

    /**
     * @param args ignored
     */
    public static void main(String[] args) throws InterruptedException {
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

    private static void barrier(Communicator c, Throwable[] thrown, int slot) {
        try {
            c.barrier();
        } catch (Throwable t) {
            thrown[slot] = t;
        }
    }
}
