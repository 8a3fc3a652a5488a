package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

@Timeout(60)
class ShmAllReduceTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    /**
     * Element counts that hit every path of a type: empty, one, odd, both sides of the one-step
     * threshold, both sides of the chunk size, several chunks with a tail, more than an area.
     */
    static long[] counts(ElementType type) {
        int es = type.byteSize();
        long small = ShmRanks.SMALL_MESSAGE_BYTES / es;
        long chunk = ShmRanks.CHUNK_BYTES / es;
        long area = SegmentDescriptor.areaBytes(ShmRanks.SMALL_SHM_BYTES) / es;
        TreeSet<Long> c = new TreeSet<>(List.of(0L, 1L, 7L, small - 1, small, small + 1, chunk - 1, chunk, chunk + 1,
                3 * chunk + 5, area + 3));
        return c.stream().mapToLong(Long::longValue).toArray();
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 8})
    void allReduceOfEveryTypeSumAndMaxEqualsTheRankOrderedReferenceOnAllRanks(int n) throws Exception {
        ShmRanks.onThreads(n, 50_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(),
                    Reducers.scalar()); Arena arena = Arena.ofConfined()) {
                int caseNo = 0;
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : List.of(Combiner.SUM, Combiner.MAX)) {
                        for (long count : counts(type)) {
                            caseNo++;
                            long bytes = count * type.byteSize();
                            MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                            MemorySegment buf = Payloads.allocate(arena, bytes, Payloads.placement(caseNo + rank));
                            buf.copyFrom(inputs[rank]);
                            c.allReduce(buf, type, op);
                            MemorySegment expected = Payloads.reduced(type, op, inputs, 0, bytes);
                            long at = Payloads.mismatch(expected, buf);
                            if (at >= 0) {
                                fail("rank " + rank + " of " + n + ": allReduce(" + type + ", " + op + ", " + count
                                        + " elements) differs from the reference at byte " + at);
                            }
                        }
                    }
                }
            }
            return null;
        });
    }

    /**
     * With a chunk setting larger than the area, the area bounds the chunk, and each chunk must
     * still leave room for this rank's slice of it: sizes around the area, 1, 2 and 3 chunks.
     */
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 8})
    void chunksBoundedByTheAreaStillReduceCorrectly(int n) throws Exception {
        ds.comm.spi.Settings t = ranks.settings();
        ds.comm.spi.Settings bigChunks = new ds.comm.spi.Settings(t.timeoutNanos(), t.idle(), t.shmDir(),
                t.shmBytes(), t.smallMessageBytes(), 1L << 20, t.peerLostNanos());
        long area = SegmentDescriptor.areaBytes(t.shmBytes());
        ShmRanks.onThreads(n, 30_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), bigChunks,
                    Reducers.scalar())) {
                int caseNo = 500;
                for (ElementType type : List.of(ElementType.FP16, ElementType.FP64, ElementType.INT32)) {
                    for (long bytes : new long[] {area - 64, area, area + 8, 2 * area + 24, 3 * area - 8}) {
                        caseNo++;
                        long b = bytes / type.byteSize() * type.byteSize();
                        MemorySegment[] inputs = Payloads.inputs(type, b, n, caseNo);
                        MemorySegment buf = MemorySegment.ofArray(new byte[(int) b]);
                        buf.copyFrom(inputs[rank]);
                        c.allReduce(buf, type, Combiner.SUM);
                        assertEquals(-1, Payloads.reduced(type, Combiner.SUM, inputs, 0, b).mismatch(buf),
                                type + " " + b + " bytes");
                    }
                }
            }
            return null;
        });
    }

    @Test
    void minAndProdAreReducedLikeTheReference() throws Exception {
        int n = 3;
        ShmRanks.onThreads(n, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", n, rank), ranks.settings(),
                    Reducers.scalar())) {
                int caseNo = 100;
                for (ElementType type : ElementType.values()) {
                    for (Combiner op : List.of(Combiner.MIN, Combiner.PROD)) {
                        for (long count : new long[] {5, 3 * ShmRanks.CHUNK_BYTES / type.byteSize() + 1}) {
                            caseNo++;
                            long bytes = count * type.byteSize();
                            MemorySegment[] inputs = Payloads.inputs(type, bytes, n, caseNo);
                            MemorySegment buf = MemorySegment.ofArray(new byte[(int) bytes]);
                            buf.copyFrom(inputs[rank]);
                            c.allReduce(buf, type, op);
                            assertEquals(-1, Payloads.mismatch(Payloads.reduced(type, op, inputs, 0, bytes), buf),
                                    type + " " + op + " " + count);
                        }
                    }
                }
            }
            return null;
        });
    }

    @Test
    void largeAndSmallAlgorithmsGiveBitIdenticalFp16AndBf16Sums() throws Exception {
        // The same inputs reduced once below and once above the one-step threshold (by making
        // the threshold huge for one communicator) must give the same bits.
        int n = 4;
        List<List<MemorySegment>> results = ShmRanks.onThreads(n, 20_000, rank -> {
            List<MemorySegment> out = new ArrayList<>();
            var settings = ranks.settings();
            var oneStep = new ds.comm.spi.Settings(settings.timeoutNanos(), settings.idle(), settings.shmDir(),
                    settings.shmBytes(), Long.MAX_VALUE, settings.chunkBytes(), settings.peerLostNanos());
            try (ShmCollective chunked = ShmCollective.open(ranks.world("c", n, rank), settings,
                    Reducers.scalar());
                 ShmCollective single = ShmCollective.open(ranks.world("s", n, rank), oneStep,
                         Reducers.scalar())) {
                for (ElementType type : List.of(ElementType.FP16, ElementType.BF16, ElementType.FP32)) {
                    long bytes = 4000; // more than one chunk, still within one area
                    MemorySegment[] inputs = Payloads.inputs(type, bytes, n, 7 + type.ordinal());
                    MemorySegment a = MemorySegment.ofArray(new byte[(int) bytes]);
                    MemorySegment b = MemorySegment.ofArray(new byte[(int) bytes]);
                    a.copyFrom(inputs[rank]);
                    b.copyFrom(inputs[rank]);
                    chunked.allReduce(a, type, Combiner.SUM);
                    single.allReduce(b, type, Combiner.SUM);
                    assertTrue(chunked.stepsPublished() > single.stepsPublished(), "took the chunked path");
                    assertEquals(-1, a.mismatch(b), type + ": chunked and one-step results differ");
                    out.add(a);
                }
            }
            return out;
        });
        for (int r = 1; r < n; r++) {
            for (int i = 0; i < results.get(0).size(); i++) {
                assertEquals(-1, results.get(0).get(i).mismatch(results.get(r).get(i)), "rank " + r + " case " + i);
            }
        }
    }
}
