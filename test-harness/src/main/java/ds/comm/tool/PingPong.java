package ds.comm.tool;

import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.lanes.JitActivity;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;

/**
 * {@code bin/dscomm bench --collective sendrecv}: osu_latency's ping-pong between group ranks 0
 * and 1 (other ranks only join the barriers). Rank 0 times each round trip (send, then receive
 * the echo) and reports half of it as the one-way latency; rows use the all-reduce sweep's CSV
 * columns (op {@code sendrecv}, dtype the size unit, busbw the one-way bandwidth).
 */
final class PingPong {

    /** Untimed round trips before the sweep, so C2 has compiled the path. */
    static final int WARMUP_ROUND_TRIPS = 20_000;
    /**
     * Least untimed round trips of a point's own size before the JIT's empty queue counts (or
     * {@link Bench#SETTLE_MIN_NANOS}): enough for C2's invocation thresholds (5 000 with tiered
     * compilation), since a size above 16 KiB takes methods the 4 KiB warm-up never ran; with
     * the all-reduce's 500, C2 compiled them while the 64 KiB point was timed (mean 43-46 us
     * against 31-36 us, p99 124-154 against 57-70).
     */
    static final int SETTLE_MIN_ROUND_TRIPS = 10_000;

    private PingPong() {
    }

    static int run(Bench.Options o, Communicator comm, Arena arena, PrintStream out) {
        if (comm.size() < 2) throw new Main.UsageException("--collective sendrecv needs at least 2 ranks");
        boolean lead = comm.rank() == 0;
        long max = o.sizes().stream().mapToLong(Long::longValue).max().orElse(0);
        MemorySegment buf = arena.allocate(Math.max(max, 8), 64);
        MemorySegment copyTarget = arena.allocate(Math.max(max, 8), 64); // for the memcpy_us column
        int maxIters = o.sizes().stream().mapToInt(s -> iters(o, s)).max().orElse(1);
        double[] times = new double[maxIters];
        DType type = o.dtypes().getFirst();
        if (lead) {
            if (o.csv()) out.println(Bench.CSV_HEADER);
            else if (!o.json()) {
                out.printf("# ds-comm bench: send/recv ping-pong (osu_latency style), group ranks 0 <-> 1 of %d, %s%n",
                        comm.size(), comm.backend());
                out.printf("%10s %8s %10s %10s %10s %10s %10s %11s%n", "bytes", "iters", "mean_us", "p50_us", "p99_us",
                        "p99.9_us", "max_us", "MB/s(p50)");
            }
        }
        if (!o.cold()) {
            MemorySegment small = buf.asSlice(0, Math.min(max, 4096));
            int calls = o.warmup() >= 0 ? o.warmup() * 100 : WARMUP_ROUND_TRIPS;
            for (int i = 0; i < calls; i++) roundTrip(comm, small);
        }
        JsonWriter json = new JsonWriter();
        if (lead && o.json()) {
            json.beginObject().field("tool", "ds-comm bench").field("collective", "sendrecv")
                    .field("backend", comm.backend().backend().label()).field("ranks", comm.size()).name("rows").beginArray();
        }
        int failures = 0;
        // As the all-reduce points do (Bench#settle): the warm-up above ran 4 KiB messages, and a
        // larger size takes other paths (a payload sent apart from its header) that C2 would
        // otherwise compile while the point is timed.
        JitActivity jit = o.cold() || o.warmup() >= 0 ? null : JitActivity.forThisJvm();
        MemorySegment stop = arena.allocate(ValueLayout.JAVA_DOUBLE);
        for (long requested : o.sizes()) {
            long bytes = requested - requested % type.byteSize();
            MemorySegment b = buf.asSlice(0, bytes);
            int iters = iters(o, bytes);
            int warm = o.cold() ? 0 : o.warmup() >= 0 ? o.warmup() : Math.max(10, iters / 5);
            if (o.check()) failures += check(comm, b, type) ? 0 : 1;
            if (jit != null) settle(comm, b, stop, jit, warm);
            comm.barrier();
            for (int it = -warm; it < iters; it++) times[Math.max(it, 0)] = timedRoundTrip(comm, b);
            comm.barrier();
            if (lead) {
                double memcpy = Bench.medianCopyMicros(buf, copyTarget, bytes, iters);
                report(o, comm, out, json, type, bytes, Arrays.copyOf(times, iters), memcpy);
            }
        }
        MemorySegment f = arena.allocate(ValueLayout.JAVA_INT);
        f.set(ValueLayout.JAVA_INT, 0, failures);
        comm.allReduce(f, DType.INT32, ReduceOp.SUM);
        int total = f.get(ValueLayout.JAVA_INT, 0);
        if (lead && o.json()) out.println(json.endArray().endObject());
        else if (lead && o.check()) {
            (total == 0 ? out : System.err).println(total == 0 ? "# check: every message arrived intact"
                    : "# check: " + total + " failure(s)");
        }
        return total == 0 ? 0 : 1;
    }

    /**
     * Untimed round trips of the point's own size, {@code warm} at a time, until every rank saw
     * its JIT idle after at least {@link #SETTLE_MIN_ROUND_TRIPS} of them or
     * {@link Bench#SETTLE_MIN_NANOS}, or for {@link Bench#SETTLE_NANOS} at most.
     */
    private static void settle(Communicator comm, MemorySegment b, MemorySegment stop, JitActivity jit, int warm) {
        long start = System.nanoTime();
        for (int calls = warm; ; calls += warm) {
            for (int i = 0; i < warm; i++) timedRoundTrip(comm, b);
            if (Bench.settled(comm, stop, jit, start, calls, SETTLE_MIN_ROUND_TRIPS)) return;
        }
    }

    private static int iters(Bench.Options o, long bytes) {
        if (o.iters() > 0) return o.iters();
        if (bytes <= (64 << 10)) return 10_000;
        if (bytes <= (1 << 20)) return 1000;
        return 100;
    }

    /**
     * One round trip, timed: half of it in microseconds. A method of its own, called by the
     * settling rounds as well, so that C2 has compiled exactly what is timed before the first timed
     * call (see {@code Bench.Workload#decodeStep}).
     */
    private static double timedRoundTrip(Communicator comm, MemorySegment b) {
        long t0 = System.nanoTime();
        roundTrip(comm, b);
        return (System.nanoTime() - t0) / 2e3;
    }

    private static void roundTrip(Communicator comm, MemorySegment b) {
        if (comm.rank() == 0) {
            comm.send(b, 1);
            comm.recv(b, 1);
        } else if (comm.rank() == 1) {
            comm.recv(b, 0);
            comm.send(b, 0);
        }
    }

    /** Rank 0 sends the exact pattern, rank 1 checks it and echoes it back, rank 0 checks the echo. */
    private static boolean check(Communicator comm, MemorySegment b, DType type) {
        MemorySegment expected = MemorySegment.ofArray(new byte[(int) b.byteSize()]);
        Pattern.fill(expected, type, ReduceOp.MAX, 0, 3);
        if (comm.rank() == 0) b.copyFrom(expected);
        else b.fill((byte) 0);
        roundTrip(comm, b);
        boolean ok = comm.rank() > 1 || b.mismatch(expected) < 0;
        if (!ok) System.err.println("bench: rank " + comm.rank() + ": CHECK FAILED sendrecv " + b.byteSize() + " bytes");
        return ok;
    }

    private static void report(Bench.Options o, Communicator comm, PrintStream out, JsonWriter json, DType type,
                               long bytes, double[] t, double memcpy) {
        double sum = 0;
        for (double v : t) sum += v;
        Arrays.sort(t);
        double mean = t.length == 0 ? 0 : sum / t.length;
        double p50 = Bench.percentile(t, 50);
        double p99 = Bench.percentile(t, 99);
        double p999 = Bench.percentile(t, 99.9);
        double tmax = t.length == 0 ? 0 : t[t.length - 1];
        double bw = p50 > 0 ? bytes / (p50 * 1e3) : 0;
        String backend = comm.backend().backend().label();
        String t1 = type.name().toLowerCase(Locale.ROOT);
        if (o.csv()) {
            out.printf(Locale.ROOT, "%s,%s,%s,%d,%d,%d,%d,%.2f,%.2f,%.3f,%.2f,%.2f,%.2f,%.2f,%s%n", backend, t1, "sendrecv",
                    comm.size(), comm.nodes(), bytes, t.length, p50, p99, bw, memcpy, mean, p999, tmax,
                    Bench.Timed.SENDRECV.label);
        } else if (o.json()) {
            json.beginObject().field("backend", backend).field("dtype", t1).field("op", "sendrecv").field("ranks", comm.size())
                    .field("nodes", comm.nodes()).field("bytes", bytes).field("iters", t.length).name("p50_us").value(p50, 2)
                    .name("p99_us").value(p99, 2).name("busbw_gbps").value(bw, 3).name("memcpy_us").value(memcpy, 2)
                    .name("mean_us").value(mean, 2)
                    .name("p999_us").value(p999, 2).name("max_us").value(tmax, 2).endObject();
        } else {
            out.printf(Locale.ROOT, "%10s %8d %10.2f %10.2f %10.2f %10.2f %10.2f %11.1f%n", Args.humanSize(bytes), t.length,
                    mean, p50, p99, p999, tmax, bw * 1000);
        }
        out.flush();
    }
}
