package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducers;
import ds.comm.spi.Collective;
import ds.comm.spi.ExchangeContract;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exchange collectives on shared memory, with segments of the smallest size (4 KiB areas,
 * 1 KiB chunks) so that every block of more than a few hundred bytes takes several steps.
 */
class ShmExchangeTest extends ExchangeContract {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    @Override
    protected Collective[] openGroup(String name, int n, long timeoutMillis) throws Exception {
        Collective[] group = new Collective[n];
        List<Outcome> opened = runAll(n, rank -> ShmCollective.open(ranks.world(name, n, rank), ranks.settings(timeoutMillis),
                Reducers.scalar()));
        for (int r = 0; r < n; r++) {
            if (opened.get(r).failure() != null) {
                closeAll(group);
                throw new AssertionError("open failed on rank " + r, opened.get(r).failure());
            }
            group[r] = (Collective) opened.get(r).value();
        }
        return group;
    }

    /** Chunked (more than one area) all-reduces too: reduce runs allReduce's schedule, so the bits agree. */
    @Test
    void reduceOfBf16AndFp32IsBitIdenticalToAllReduceBeyondTheOneStepThreshold() throws Exception {
        int n = 3;
        Collective[] group = openGroup("reducelarge", n, 20_000);
        try {
            runAllOk(n, rank -> {
                for (ElementType type : new ElementType[] {ElementType.FP32, ElementType.BF16}) {
                    MemorySegment[] inputs = RankOrderReference.orderSensitiveInputs(type, 7001, n, 5);
                    MemorySegment all = MemorySegment.ofArray(new byte[(int) inputs[rank].byteSize()]);
                    all.copyFrom(inputs[rank]);
                    group[rank].allReduce(all, type, Combiner.SUM);
                    for (int root = 0; root < n; root++) {
                        MemorySegment buf = MemorySegment.ofArray(new byte[(int) inputs[rank].byteSize()]);
                        buf.copyFrom(inputs[rank]);
                        group[rank].reduce(buf, type, Combiner.SUM, root);
                        assertEquals(-1, buf.mismatch(rank == root ? all : inputs[rank]), type + " root " + root);
                    }
                }
                return null;
            });
        } finally {
            closeAll(group);
        }
    }

    @Test
    void allToAllVCountMismatchNamesThePairAndTheElementType() throws Exception {
        int n = 2;
        Collective[] group = openGroup("a2avmsg", n, 10_000);
        try {
            List<Outcome> outcomes = runAll(n, rank -> {
                long[] send = rank == 1 ? new long[] {5, 0} : new long[] {0, 4};
                long[] recv = rank == 1 ? new long[] {4, 0} : new long[] {0, 4};
                group[rank].allToAllV(MemorySegment.ofArray(new short[5]), send, MemorySegment.ofArray(new short[5]), recv,
                        ElementType.BF16);
                return null;
            });
            for (int rank = 0; rank < n; rank++) {
                String m = outcomes.get(rank).failure().getMessage();
                assertTrue(m.contains("1 -> 0") && m.contains("sendCounts[0] = 5") && m.contains("recvCounts[1] = 4")
                        && m.contains("bf16"), m);
            }
        } finally {
            closeAll(group);
        }
    }
}
