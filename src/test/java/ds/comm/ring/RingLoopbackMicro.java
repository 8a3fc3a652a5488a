package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Quick loopback measurement, not a test: N ranks as threads of this JVM, each with its own
 * endpoint on 127.0.0.1, timing allReduce of fp32 SUM. Two groups share the endpoints: one that
 * always uses the ring algorithm and one that always uses the small (gather) algorithm; they
 * run alternately, 3 rounds each, and the best median of the rounds is printed (the machine
 * this was written on is shared, so single runs are noisy). Then a raw loopback baseline moves
 * the same bytes with the same kind of non-blocking loop and no protocol.
 *
 * <p>{@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * ds.comm.ring.RingLoopbackMicro [ranks] [bytes...]} (system property {@code chunk} sets the
 * chunk size, default 1 MiB). Uses a minimal fp32 sum loop as the reducer so that the numbers
 * show the transport, not the scalar test reducer.
 */
public final class RingLoopbackMicro {

    /** FP32 SUM only, plain loop over the sources; enough to time the transport. */
    static final class Fp32SumReducer implements Reducer {
        @Override
        public void reduce(ElementType type, Combiner op, MemorySegment dst, long dstOffset, MemorySegment[] src,
                           long[] srcOffset, int k, long count) {
            if (type != ElementType.FP32 || op != Combiner.SUM) {
                throw new UnsupportedOperationException(type + " " + op);
            }
            for (long i = 0; i < count; i++) {
                float acc = src[0].get(ValueLayout.JAVA_FLOAT_UNALIGNED, srcOffset[0] + 4 * i);
                for (int s = 1; s < k; s++) {
                    acc += src[s].get(ValueLayout.JAVA_FLOAT_UNALIGNED, srcOffset[s] + 4 * i);
                }
                dst.set(ValueLayout.JAVA_FLOAT_UNALIGNED, dstOffset + 4 * i, acc);
            }
        }

        @Override
        public int vectorBits() {
            return 0;
        }
    }

    private static Settings settings(long small, long chunk) {
        return new Settings(60_000_000_000L, () -> new BackoffIdleStrategy(2_000, 200, 1_000, 100_000),
                Path.of("/dev/shm"), 1L << 20, small, chunk, 5_000_000_000L);
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        long[] sizes = args.length > 1
                ? Arrays.stream(args, 1, args.length).mapToLong(Long::parseLong).toArray()
                : new long[]{1 << 20, 16 << 20};
        long chunk = Long.getLong("chunk", 1L << 20);
        RingEndpoint[] endpoints = new RingEndpoint[n];
        List<InetSocketAddress> addresses = new ArrayList<>();
        int[] members = new int[n];
        for (int i = 0; i < n; i++) {
            endpoints[i] = RingEndpoint.bind();
            addresses.add(new InetSocketAddress("127.0.0.1", endpoints[i].port()));
            members[i] = i;
        }
        ExecutorService pool = Executors.newFixedThreadPool(n);
        Reducer reducer = new Fp32SumReducer();
        RingCollective[] ring = open(pool, "r", members, settings(0, chunk), reducer, endpoints, addresses);
        RingCollective[] small = open(pool, "s", members, settings(256L << 20, chunk), reducer, endpoints, addresses);
        System.out.printf("%d ranks on loopback, chunk %d bytes, fp32 sum; best median of 3 rounds%n", n, chunk);
        for (long bytes : sizes) {
            double bestRing = Double.MAX_VALUE;
            double bestSmall = Double.MAX_VALUE;
            for (int round = 0; round < 3; round++) {
                bestRing = Math.min(bestRing, medianMicros(pool, ring, bytes));
                if (bytes <= (4L << 20)) {
                    bestSmall = Math.min(bestSmall, medianMicros(pool, small, bytes));
                }
            }
            System.out.printf("  %9d bytes: ring %9.1f us (algBW %.2f GB/s, busBW %.2f GB/s)   small %s%n", bytes,
                    bestRing, bytes / (bestRing * 1e3), bytes / (bestRing * 1e3) * 2.0 * (n - 1) / n,
                    bestSmall == Double.MAX_VALUE ? "-" : String.format("%9.1f us", bestSmall));
        }
        if (n == 2) {
            for (long bytes : sizes) {
                rawLoopback(bytes);
            }
        }
        for (RingCollective c : ring) {
            c.close();
        }
        for (RingCollective c : small) {
            c.close();
        }
        for (RingEndpoint e : endpoints) {
            e.close();
        }
        pool.shutdown();
    }

    private static RingCollective[] open(ExecutorService pool, String name, int[] members, Settings settings,
                                         Reducer reducer, RingEndpoint[] endpoints, List<InetSocketAddress> addresses)
            throws Exception {
        List<Future<RingCollective>> opening = new ArrayList<>();
        for (int i = 0; i < members.length; i++) {
            int rank = i;
            opening.add(pool.submit(() -> RingCollective.open(new GroupSpec(name, "beef", members, rank), settings,
                    reducer, endpoints[rank], addresses)));
        }
        RingCollective[] group = new RingCollective[members.length];
        for (int i = 0; i < members.length; i++) {
            group[i] = opening.get(i).get();
        }
        return group;
    }

    /** Median over iterations of rank 0's allReduce time, after a warm-up. */
    private static double medianMicros(ExecutorService pool, RingCollective[] group, long bytes) throws Exception {
        int n = group.length;
        int iterations = (int) Math.max(10, Math.min(1000, (128L << 20) / bytes));
        CyclicBarrier start = new CyclicBarrier(n);
        List<Future<long[]>> runs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int rank = i;
            runs.add(pool.submit(() -> {
                MemorySegment buf = Arena.ofConfined().allocate(bytes, 64);
                for (int w = 0; w < Math.max(5, iterations / 2); w++) {
                    group[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                }
                long[] times = new long[iterations];
                start.await();
                for (int it = 0; it < iterations; it++) {
                    long t0 = System.nanoTime();
                    group[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                    times[it] = System.nanoTime() - t0;
                }
                return times;
            }));
        }
        long[] times = runs.get(0).get();
        for (int i = 1; i < n; i++) {
            runs.get(i).get();
        }
        Arrays.sort(times);
        return times[times.length / 2] / 1e3;
    }

    /**
     * Baseline under the same conditions: two threads, each writing {@code bytes} to and reading
     * {@code bytes} from the other over loopback with one non-blocking loop and no protocol (what
     * a 2-rank ring all-reduce of {@code bytes} moves per rank).
     */
    static void rawLoopback(long bytes) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            SocketChannel a1 = SocketChannel.open(server.getLocalAddress());
            SocketChannel b1 = server.accept();
            SocketChannel a2 = SocketChannel.open(server.getLocalAddress());
            SocketChannel b2 = server.accept();
            SocketChannel[] all = {a1, b1, a2, b2};
            for (SocketChannel c : all) {
                c.configureBlocking(false);
                c.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            int iterations = (int) Math.max(10, Math.min(1000, (128L << 20) / bytes));
            ExecutorService two = Executors.newFixedThreadPool(2);
            Future<long[]> fa = two.submit(() -> pump(a1, a2, bytes, iterations));
            Future<long[]> fb = two.submit(() -> pump(b2, b1, bytes, iterations));
            long[] times = fa.get();
            fb.get();
            two.shutdown();
            Arrays.sort(times);
            double medianUs = times[times.length / 2] / 1e3;
            System.out.printf("  raw loopback, each side sends and receives %9d bytes: %9.1f us (%.2f GB/s each way)%n",
                    bytes, medianUs, bytes / (medianUs * 1e3));
            for (SocketChannel c : all) {
                c.close();
            }
        }
    }

    private static long[] pump(SocketChannel out, SocketChannel in, long bytes, int iterations) throws Exception {
        ByteBuffer sb = ByteBuffer.allocateDirect(1 << 20);
        ByteBuffer rb = ByteBuffer.allocateDirect(1 << 20);
        long[] times = new long[iterations];
        for (int it = 0; it < iterations; it++) {
            long t0 = System.nanoTime();
            long sent = 0;
            long got = 0;
            while (sent < bytes || got < bytes) {
                if (sent < bytes) {
                    sb.clear().limit((int) Math.min(sb.capacity(), bytes - sent));
                    sent += out.write(sb);
                }
                if (got < bytes) {
                    rb.clear().limit((int) Math.min(rb.capacity(), bytes - got));
                    got += in.read(rb);
                }
            }
            times[it] = System.nanoTime() - t0;
        }
        return times;
    }
}
