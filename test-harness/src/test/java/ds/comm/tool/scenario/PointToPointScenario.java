package ds.comm.tool.scenario;

import ds.comm.Backend;
import ds.comm.CommException;
import ds.comm.Communicator;
import ds.comm.DType;
import ds.comm.ReduceOp;
import ds.comm.tool.Pattern;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * Rank program for the point-to-point and non-blocking tests: public API only, every result
 * verified, machine-readable lines.
 *
 * <pre>
 * usage: PointToPointScenario exchange [BACKEND]   every ordered pair, bytes/fp32/bf16 of odd and zero sizes,
 *                                                  then non-blocking collectives (order, results, blocking after);
 *                                                  fails unless the world uses BACKEND (when given)
 *        PointToPointScenario mismatch             rank 0 sends 4096 bytes, rank 1 receives 4000
 *        PointToPointScenario p2plost              rank 1 halts; rank 0 receives from it
 *        PointToPointScenario asynclost            rank 1 halts; rank 0 waits on allReduceAsync
 *        PointToPointScenario asyncclose late|never  rank 0 issues 3 allReduceAsync and closes; rank 1 joins
 *                                                  them 300 ms late, or never (it only closes after a while)
 *
 * lines:  PASS checks | FAIL what | FAILED exceptionClass peer message | LOST exceptionClass peer message
 *         FUTURES outcome,outcome,... (ok or the exception class) | CLOSED millis
 * </pre>
 */
public final class PointToPointScenario {

    private static final long[] SIZES = {0, 1, 7, 4095, 4096, 4097, 100_003};

    private final List<String> failures = new ArrayList<>();
    private int checks;

    private PointToPointScenario() {
    }

    /**
     * @param args see the class description
     */
    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "exchange";
        int code;
        try {
            code = switch (mode) {
                case "exchange" -> new PointToPointScenario().exchange(args.length > 1 ? args[1] : null);
                case "mismatch" -> mismatch();
                case "p2plost" -> lost(false);
                case "asynclost" -> lost(true);
                case "asyncclose" -> asyncClose(args[1].equals("late"));
                default -> throw new IllegalArgumentException("unknown mode " + mode);
            };
        } catch (CommException e) {
            System.out.println("FAIL unexpected " + e.getClass().getSimpleName() + " " + e.getMessage());
            code = 3;
        }
        System.out.flush();
        System.exit(code);
    }

    private static byte pattern(int from, int to, long message, long i) {
        return (byte) (from * 31 + to * 17 + message * 7 + i * 13 + (i >>> 8));
    }

    private int exchange(String expect) {
        try (Communicator comm = Communicator.init(); Arena arena = Arena.ofShared()) {
            if (expect != null && comm.backend().backend() != Backend.parse(expect)) {
                failures.add("expected backend " + expect + " but got " + comm.backend());
            }
            int n = comm.size();
            int me = comm.rank();
            long message = 0;
            for (long bytes : SIZES) {
                for (int s = 0; s < n; s++) {
                    for (int r = 0; r < n; r++) {
                        if (s == r) continue;
                        message++;
                        boolean heap = message % 2 == 0;
                        if (me == s) {
                            MemorySegment out = heap ? MemorySegment.ofArray(new byte[(int) bytes])
                                    : arena.allocate(bytes + 1).asSlice(1, bytes);
                            for (long i = 0; i < bytes; i++) out.set(ValueLayout.JAVA_BYTE, i, pattern(s, r, message, i));
                            comm.send(out, r);
                        } else if (me == r) {
                            MemorySegment in = !heap ? MemorySegment.ofArray(new byte[(int) bytes])
                                    : arena.allocate(Math.max(1, bytes)).asSlice(0, bytes);
                            comm.recv(in, s);
                            checks++;
                            for (long i = 0; i < bytes; i++) {
                                if (in.get(ValueLayout.JAVA_BYTE, i) != pattern(s, r, message, i)) {
                                    failures.add(bytes + " bytes " + s + "->" + r + ": byte " + i + " differs");
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            typed(comm, DType.FP32, 1023);
            typed(comm, DType.BF16, 4097);
            asyncCollectives(comm, arena);
            comm.barrier();
        }
        return report();
    }

    /** A pipeline pass of a typed tensor: rank 0 fills, each rank hands it to the next, the last checks. */
    private void typed(Communicator comm, DType type, long count) {
        MemorySegment t = MemorySegment.ofArray(new byte[(int) (count * type.byteSize())]);
        int me = comm.rank();
        if (me == 0) Pattern.fill(t, type, ReduceOp.MAX, 0, 7);
        else comm.recv(t, me - 1);
        if (me + 1 < comm.size()) comm.send(t, me + 1);
        else {
            checks++;
            // MAX over one rank is its own value: Pattern's reference for "ranks = 1".
            long wrong = Pattern.firstWrong(t, type, ReduceOp.MAX, 1, 7);
            if (wrong >= 0) failures.add(type + " pipeline: element " + wrong + " differs");
        }
    }

    private void asyncCollectives(Communicator comm, Arena arena) {
        int n = comm.size();
        int k = 6;
        List<MemorySegment> bufs = new ArrayList<>();
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        ConcurrentLinkedQueue<Integer> order = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < k; i++) {
            DType t = i % 2 == 0 ? DType.FP32 : DType.BF16;
            MemorySegment b = arena.allocate((1000L + 333 * i) * t.byteSize());
            Pattern.fill(b, t, ReduceOp.SUM, comm.rank(), 100 + i);
            bufs.add(b);
            int index = i;
            futures.add(comm.allReduceAsync(b, t, ReduceOp.SUM).thenRun(() -> order.add(index)));
        }
        MemorySegment in = arena.allocate(40L * 4);
        in.fill((byte) (comm.rank() + 1));
        MemorySegment gathered = arena.allocate(40L * 4 * n);
        CompletableFuture<Void> gather = comm.allGatherAsync(in, gathered, DType.FP32);
        MemorySegment bcast = arena.allocate(999);
        if (comm.rank() == n - 1) bcast.fill((byte) 42);
        CompletableFuture<Void> broadcast = comm.broadcastAsync(bcast, n - 1);
        MemorySegment scatterIn = arena.allocate(16L * 4 * n);
        for (long i = 0; i < 16L * n; i++) scatterIn.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
        MemorySegment scatterOut = arena.allocate(16L * 4);
        CompletableFuture<Void> scatter = comm.reduceScatterAsync(scatterIn, scatterOut, DType.FP32, ReduceOp.SUM);
        checks++;
        boolean threadSeen = Thread.getAllStackTraces().keySet().stream()
                .anyMatch(th -> th.getName().equals("ds-comm-progress-" + comm.name()) && th.isDaemon());
        if (!threadSeen) failures.add("no daemon thread ds-comm-progress-" + comm.name());
        // Blocking after non-blocking: runs after all of them, so every future is done when it returns.
        MemorySegment after = arena.allocate(4096);
        Pattern.fill(after, DType.FP32, ReduceOp.SUM, comm.rank(), 200);
        comm.allReduce(after, DType.FP32, ReduceOp.SUM);
        checks++;
        for (CompletableFuture<Void> f : futures) if (!f.isDone()) failures.add("a blocking call returned before an earlier non-blocking one");
        if (!gather.isDone() || !broadcast.isDone() || !scatter.isDone()) failures.add("blocking call overtook a non-blocking one");
        CompletableFuture.allOf(futures.toArray(new CompletableFuture[0])).join();
        checks++;
        if (!new ArrayList<>(order).equals(List.of(0, 1, 2, 3, 4, 5))) failures.add("completion order " + order);
        for (int i = 0; i < k; i++) {
            DType t = i % 2 == 0 ? DType.FP32 : DType.BF16;
            checks++;
            long wrong = Pattern.firstWrong(bufs.get(i), t, ReduceOp.SUM, n, 100 + i);
            if (wrong >= 0) failures.add("allReduceAsync " + i + ": " + Pattern.describe(bufs.get(i), t, ReduceOp.SUM, n, 100 + i, wrong));
        }
        checks++;
        if (Pattern.firstWrong(after, DType.FP32, ReduceOp.SUM, n, 200) >= 0) failures.add("blocking allReduce after async is wrong");
        for (int r = 0; r < n; r++) {
            checks++;
            if (gathered.get(ValueLayout.JAVA_BYTE, 40L * 4 * r + 5) != (byte) (r + 1)) failures.add("allGatherAsync block " + r);
        }
        checks++;
        if (bcast.get(ValueLayout.JAVA_BYTE, 998) != 42) failures.add("broadcastAsync");
        checks++;
        if (scatterOut.getAtIndex(ValueLayout.JAVA_FLOAT, 15) != n) failures.add("reduceScatterAsync");
        checks++;
        if (comm.outstandingAsync() != 0) failures.add("outstanding " + comm.outstandingAsync());
    }

    private int report() {
        for (String f : failures) System.out.println("FAIL " + f);
        if (failures.isEmpty()) System.out.println("PASS " + checks);
        return failures.isEmpty() ? 0 : 1;
    }

    private static int mismatch() {
        try (Communicator comm = Communicator.init()) {
            try {
                if (comm.rank() == 0) comm.send(MemorySegment.ofArray(new byte[4096]), 1);
                else if (comm.rank() == 1) comm.recv(MemorySegment.ofArray(new byte[4000]), 0);
                else return 0;
                System.out.println("FAIL no exception");
                return 1;
            } catch (CommException e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + " " + e.peerRank() + " " + e.getMessage());
                return 0;
            }
        }
    }

    private static int lost(boolean async) {
        try (Communicator comm = Communicator.init()) {
            comm.barrier();
            if (comm.rank() == 1) {
                Runtime.getRuntime().halt(9); // dies without closing anything
            }
            if (comm.rank() != 0) return 0;
            try {
                if (async) {
                    CompletableFuture<Void> f = comm.allReduceAsync(MemorySegment.ofArray(new float[64]), DType.FP32, ReduceOp.SUM);
                    try {
                        f.join();
                        System.out.println("FAIL no exception");
                        return 1;
                    } catch (CompletionException e) {
                        if (!(e.getCause() instanceof CommException c)) throw e;
                        System.out.println("LOST " + c.getClass().getSimpleName() + " " + c.peerRank() + " " + c.getMessage());
                        // The communicator is aborted: the next call throws at once.
                        try {
                            comm.barrier();
                            System.out.println("FAIL barrier after a failed non-blocking call ran");
                        } catch (CommException expected) {
                            System.out.println("ABORTED " + expected.getClass().getSimpleName());
                        }
                        return 0;
                    }
                }
                comm.recv(MemorySegment.ofArray(new byte[64]), 1);
                System.out.println("FAIL no exception");
                return 1;
            } catch (CommException e) {
                System.out.println("LOST " + e.getClass().getSimpleName() + " " + e.peerRank() + " " + e.getMessage());
                return 0;
            }
        }
    }

    private static int asyncClose(boolean late) {
        Communicator comm = Communicator.init();
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        List<MemorySegment> bufs = new ArrayList<>();
        comm.barrier();
        try {
            if (comm.rank() == 0) {
                for (int i = 0; i < 3; i++) {
                    MemorySegment b = MemorySegment.ofArray(new float[100]);
                    b.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 1f);
                    bufs.add(b);
                    futures.add(comm.allReduceAsync(b, DType.FP32, ReduceOp.SUM));
                }
                long start = System.nanoTime();
                comm.close();
                System.out.println("CLOSED " + (System.nanoTime() - start) / 1_000_000);
                StringBuilder outcomes = new StringBuilder();
                for (int i = 0; i < futures.size(); i++) {
                    CompletableFuture<Void> f = futures.get(i);
                    if (!f.isDone()) outcomes.append("pending");
                    else if (f.isCompletedExceptionally()) outcomes.append(f.exceptionNow().getClass().getSimpleName());
                    else outcomes.append(bufs.get(i).getAtIndex(ValueLayout.JAVA_FLOAT, 0) == comm.size() ? "ok" : "wrong");
                    outcomes.append(i + 1 < futures.size() ? "," : "");
                }
                System.out.println("FUTURES " + outcomes);
            } else if (late) {
                Thread.sleep(300);
                for (int i = 0; i < 3; i++) {
                    MemorySegment b = MemorySegment.ofArray(new float[100]);
                    b.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 1f);
                    comm.allReduce(b, DType.FP32, ReduceOp.SUM);
                }
            } else {
                Thread.sleep(TimeUnit.SECONDS.toMillis(6)); // alive, never joins
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            comm.close();
        }
        return 0;
    }
}
