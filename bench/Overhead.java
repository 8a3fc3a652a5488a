import ds.comm.*;
import java.lang.foreign.*;
import java.lang.management.*;
import java.util.*;

/** Per-call CPU time of Communicator.allReduce on a world of one (LOCAL: the reduction is a no-op), so the API path is all that is measured. */
public class Overhead {
    public static void main(String[] a) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        int rounds = Integer.parseInt(a[0]);
        long calls = Long.parseLong(a[1]);
        try (Communicator c = Communicator.init(); Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(64, 64);
            double[] ns = new double[rounds];
            for (int w = 0; w < 3; w++) for (long i = 0; i < calls; i++) c.allReduce(v, DType.FP32, ReduceOp.SUM);
            for (int r = 0; r < rounds; r++) {
                long t0 = mx.getCurrentThreadCpuTime();
                for (long i = 0; i < calls; i++) c.allReduce(v, DType.FP32, ReduceOp.SUM);
                ns[r] = (mx.getCurrentThreadCpuTime() - t0) / (double) calls;
            }
            Arrays.sort(ns);
            System.out.printf(Locale.ROOT, "%s median %.2f ns/call min %.2f max %.2f%n", c.backend().backend(), ns[rounds / 2], ns[0], ns[rounds - 1]);
        }
    }
}
