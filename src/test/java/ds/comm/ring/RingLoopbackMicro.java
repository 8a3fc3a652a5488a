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
 * endpoint on 127.0.0.1, timing allReduce of fp32 SUM. Run with
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * ds.comm.ring.RingLoopbackMicro [ranks] [smallBytes] [sizes...]}.
 *
 * <p>Uses a minimal fp32 sum loop as the reducer so that the numbers show the transport, not
 * the scalar test reducer (the lanes vector kernels are faster still).
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

    /**
     * Baseline under the same conditions: two threads, each writing {@code bytes} to and reading
     * {@code bytes} from the other over loopback with the same non-blocking loop and no reduction
     * (what a 2-rank ring all-reduce of {@code bytes} moves per rank).
     */
    static void rawLoopback(long bytes) throws Exception {
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            java.nio.channels.SocketChannel a1 = java.nio.channels.SocketChannel.open(server.getLocalAddress());
            java.nio.channels.SocketChannel b1 = server.accept();
            java.nio.channels.SocketChannel a2 = java.nio.channels.SocketChannel.open(server.getLocalAddress());
            java.nio.channels.SocketChannel b2 = server.accept();
            for (java.nio.channels.SocketChannel c : new java.nio.channels.SocketChannel[]{a1, b1, a2, b2}) {
                c.configureBlocking(false);
                c.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            }
            int iterations = (int) Math.max(10, Math.min(2000, (256L << 20) / bytes));
            ExecutorService two = Executors.newFixedThreadPool(2);
            java.util.function.BiFunction<java.nio.channels.SocketChannel, java.nio.channels.SocketChannel, long[]> side =
                    (out, in) -> {
                        java.nio.ByteBuffer sb = java.nio.ByteBuffer.allocateDirect(1 << 20);
                        java.nio.ByteBuffer rb = java.nio.ByteBuffer.allocateDirect(1 << 20);
                        long[] times = new long[iterations];
                        try {
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
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                        return times;
                    };
            Future<long[]> fa = two.submit(() -> side.apply(a1, a2));
            Future<long[]> fb = two.submit(() -> side.apply(b2, b1));
            long[] times = fa.get();
            fb.get();
            two.shutdown();
            Arrays.sort(times);
            double medianUs = times[times.length / 2] / 1e3;
            System.out.printf("raw loopback, each side sends and receives %d bytes: median=%.1f us (%.2f GB/s each way)%n",
                    bytes, medianUs, bytes / (medianUs * 1e3));
            for (java.nio.channels.SocketChannel c : new java.nio.channels.SocketChannel[]{a1, b1, a2, b2}) {
                c.close();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        long small = args.length > 1 ? Long.parseLong(args[1]) : 64 << 10;
        long[] sizes = args.length > 2
                ? Arrays.stream(args, 2, args.length).mapToLong(Long::parseLong).toArray()
                : new long[]{1 << 20, 16 << 20};
        boolean spin = Boolean.getBoolean("spin");
        Settings settings = new Settings(60_000_000_000L, () -> spin
                ? new BackoffIdleStrategy(Long.MAX_VALUE, 0, 1, 1)
                : new BackoffIdleStrategy(2_000, 200, 1_000, 100_000),
                Path.of("/dev/shm"), 1L << 20, small, Long.getLong("chunk", 1L << 20), 5_000_000_000L);
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
        List<Future<RingCollective>> opening = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int rank = i;
            opening.add(pool.submit(() -> RingCollective.open(new GroupSpec("w", "beef", members, rank), settings,
                    reducer, endpoints[rank], addresses)));
        }
        RingCollective[] group = new RingCollective[n];
        for (int i = 0; i < n; i++) {
            group[i] = opening.get(i).get();
        }
        for (long bytes : sizes) {
            int iterations = (int) Math.max(10, Math.min(2000, (256L << 20) / bytes));
            CyclicBarrier start = new CyclicBarrier(n);
            List<Future<long[]>> runs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int rank = i;
                runs.add(pool.submit(() -> {
                    MemorySegment buf = Arena.ofConfined().allocate(bytes, 64);
                    for (int w = 0; w < Math.max(5, iterations / 5); w++) {
                        group[rank].allReduce(buf, ElementType.FP32, Combiner.SUM);
                    }
                    long[] times = new long[iterations];
                    start.await();
                    for (int it = 0; it < iterations; it++) {
                        buf.fill((byte) 0);
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
            double medianUs = times[times.length / 2] / 1e3;
            double p10 = times[times.length / 10] / 1e3;
            double p90 = times[times.length * 9 / 10] / 1e3;
            double algGBs = bytes / (medianUs * 1e3);
            double busGBs = algGBs * 2.0 * (n - 1) / n;
            System.out.printf("ranks=%d bytes=%d algo=%s iters=%d median=%.1f us (p10 %.1f, p90 %.1f)"
                            + " algBW=%.2f GB/s busBW=%.2f GB/s%n", n, bytes, bytes <= small ? "small" : "ring",
                    iterations, medianUs, p10, p90, algGBs, busGBs);
        }
        for (long bytes : sizes) {
            rawLoopback(bytes);
        }
        for (RingCollective c : group) {
            c.close();
        }
        for (RingEndpoint e : endpoints) {
            e.close();
        }
        pool.shutdown();
    }
}
