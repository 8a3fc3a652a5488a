package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * One rank of the multi-process smoke test: opens the world group in {@code dir}, runs
 * all-reduces of both algorithms and a few other collectives, checks every result against the
 * reference it computes for all ranks' deterministic inputs, and exits 0 on success, 1 on a
 * wrong result or failure.
 *
 * <p>Usage: {@code ShmRankMain <dir> <jobToken> <rank> <size> <rounds> [crash|crash-symmetric]}. With
 * {@code crash}, the last rank halts right after open (no close, like kill -9) and the others
 * expect their next barrier to report it lost, well before the 20 s timeout; with
 * {@code crash-symmetric} it does so holding a symmetric tensor every rank has mapped.
 */
public final class ShmRankMain {

    private ShmRankMain() {
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        String job = args[1];
        int rank = Integer.parseInt(args[2]);
        int size = Integer.parseInt(args[3]);
        int rounds = Integer.parseInt(args[4]);
        int[] members = new int[size];
        for (int i = 0; i < size; i++) members[i] = 100 + i;
        Settings settings = new Settings(20_000_000_000L, () -> new BackoffIdleStrategy(50, 20, 1_000, 200_000),
                dir, ShmRanks.SMALL_SHM_BYTES, ShmRanks.SMALL_MESSAGE_BYTES, ShmRanks.CHUNK_BYTES, 5_000_000_000L);
        try (ShmCollective c = ShmCollective.open(new GroupSpec("w", job, members, rank), settings,
                Reducers.scalar())) {
            if (args.length > 5 && args[5].equals("crash")) {
                expectCrash(c, rank, size);
                return;
            }
            if (args.length > 5 && args[5].equals("crash-symmetric")) {
                // Every rank holds a symmetric tensor, mapped by every peer, and has reduced it
                // once; then the last rank dies without closing anything.
                MemorySegment t = c.allocateSymmetric(1 << 20);
                t.fill((byte) 1);
                c.allReduce(t, ElementType.INT32, Combiner.SUM);
                if (t.get(java.lang.foreign.ValueLayout.JAVA_INT, 0) != size * 0x01010101) {
                    System.err.println("rank " + rank + ": zero-copy all-reduce wrong");
                    System.exit(1);
                }
                expectCrash(c, rank, size);
                return;
            }
            int caseNo = 0;
            for (int round = 0; round < rounds; round++) {
                for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16, ElementType.INT64}) {
                    for (long count : new long[] {1, 60, 700, 2500}) {
                        caseNo++;
                        long bytes = count * type.byteSize();
                        MemorySegment[] inputs = Payloads.inputs(type, bytes, size, caseNo);
                        MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                        buf.copyFrom(inputs[rank]);
                        c.allReduce(buf, type, Combiner.SUM);
                        long at = Payloads.reduced(type, Combiner.SUM, inputs, 0, bytes).mismatch(buf);
                        if (at >= 0) {
                            System.err.println("rank " + rank + ": allReduce " + type + " x" + count + " wrong at byte " + at);
                            System.exit(1);
                        }
                    }
                }
                MemorySegment[] inputs = Payloads.inputs(ElementType.INT32, 1200, size, 9_000 + round);
                MemorySegment out = MemorySegment.ofArray(new byte[1200 * size]);
                c.allGather(inputs[rank], out, ElementType.INT32);
                for (int p = 0; p < size; p++) {
                    if (out.asSlice(1200L * p, 1200).mismatch(inputs[p]) >= 0) {
                        System.err.println("rank " + rank + ": allGather block " + p + " wrong");
                        System.exit(1);
                    }
                }
                c.barrier();
            }
            System.out.println("rank " + rank + " ok after " + caseNo + " all-reduces");
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void expectCrash(ShmCollective c, int rank, int size) {
        if (rank == size - 1) {
            Runtime.getRuntime().halt(3);
        }
        long start = System.nanoTime();
        try {
            c.barrier();
            System.err.println("rank " + rank + ": barrier passed although rank " + (size - 1) + " is dead");
            System.exit(1);
        } catch (ds.comm.spi.CommFailure f) {
            long millis = (System.nanoTime() - start) / 1_000_000;
            if (f.kind() != ds.comm.spi.CommFailure.Kind.PEER_LOST || f.peerRank() != 100 + size - 1) {
                f.printStackTrace();
                System.exit(1);
            }
            System.out.println("rank " + rank + " detected lost peer after " + millis + " ms: " + f.getMessage());
        }
    }
}
