import ds.comm.Backend;
import ds.comm.CommConfig;
import ds.comm.Communicator;

import java.util.Arrays;
import java.util.Locale;

/**
 * osu_barrier-style: every rank times ITERS back-to-back barriers (after as many untimed ones)
 * and prints mean, p50, p99 and max in microseconds. BACKEND is auto, shm, ring, hier or mpi
 * (default ring). Compile against the jar, then launch it like any application:
 *
 *   javac -p target/ds-comm.jar --add-modules ds.comm -d /tmp/barrier bench/BarrierLatency.java
 *   bin/dscomm launch -n 4 --cp /tmp/barrier -- BarrierLatency 20000 ring
 */
public final class BarrierLatency {
    public static void main(String[] args) {
        int iters = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        Backend backend = Backend.valueOf((args.length > 1 ? args[1] : "ring").toUpperCase(Locale.ROOT));
        try (Communicator comm = Communicator.init(CommConfig.builder().backend(backend).build())) {
            for (int i = 0; i < iters; i++) comm.barrier();
            double[] us = new double[iters];
            for (int i = 0; i < iters; i++) {
                long t0 = System.nanoTime();
                comm.barrier();
                us[i] = (System.nanoTime() - t0) / 1e3;
            }
            double mean = Arrays.stream(us).average().orElse(0);
            Arrays.sort(us);
            System.out.printf(Locale.ROOT, "barrier rank %d of %d (%s): mean %.1f p50 %.1f p99 %.1f max %.1f us%n",
                    comm.rank(), comm.size(), backend, mean, us[iters / 2], us[iters * 99 / 100], us[iters - 1]);
        }
    }
}
