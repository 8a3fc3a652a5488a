package ds.comm.mpi;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Rank program (run under mpirun by {@link MpiBackendTest}) playing a host program that
 * initialised MPI itself, with only {@code MPI_THREAD_SERIALIZED}: the backend must adopt that
 * MPI (not initialise it again), serialise its calls, work, and on close leave MPI running for
 * the host to finalise. Prints {@code PASS}/{@code FAIL} lines and {@code DONE}.
 */
public final class MpiHostedProbe {

    private MpiHostedProbe() {
    }

    /**
     * @param args ignored
     */
    public static void main(String[] args) throws Throwable {
        MpiLibrary lib = MpiLibrary.load(System.getenv(MpiLibrary.LIBRARY_VARIABLE));
        int failed = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment level = a.allocate(ValueLayout.JAVA_INT);
            int rc = (int) lib.initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    lib.abi().threadSerialized(), level);
            if (rc != 0) throw new IllegalStateException("host MPI_Init_thread returned " + rc);
            String who = "rank ?";
            try (MpiCollective world = MpiCollective.world(lib, Settings.defaults(), Reducers.fromEnvironment(null))) {
                who = "rank " + world.rank() + "/" + world.size();
                failed += report(who, "backend adopts the host's thread level " + level.get(ValueLayout.JAVA_INT, 0),
                        lib.threadLevel() == level.get(ValueLayout.JAVA_INT, 0));
                MemorySegment buf = a.allocate(ValueLayout.JAVA_INT, 64);
                for (int i = 0; i < 64; i++) buf.setAtIndex(ValueLayout.JAVA_INT, i, world.rank() + i);
                world.allReduce(buf, ElementType.INT32, Combiner.SUM);
                boolean right = true;
                int n = world.size();
                for (int i = 0; i < 64; i++) {
                    right &= buf.getAtIndex(ValueLayout.JAVA_INT, i) == n * (n - 1) / 2 + n * i;
                }
                failed += report(who, "allReduce works under the serialising lock", right);
            }
            MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
            rc = (int) lib.finalized.invokeExact(flag);
            failed += report(who, "closing the backend leaves the host's MPI running",
                    rc == 0 && flag.get(ValueLayout.JAVA_INT, 0) == 0);
            rc = (int) lib.finalizeMpi.invokeExact();
            failed += report(who, "the host finalises MPI itself", rc == 0);
            System.out.println("DONE " + who + ": " + failed + " failed");
        }
        System.exit(failed == 0 ? 0 : 1);
    }

    private static int report(String who, String check, boolean ok) {
        System.out.println((ok ? "PASS " : "FAIL ") + who + " " + check);
        return ok ? 0 : 1;
    }
}
