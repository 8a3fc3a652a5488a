package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducers;
import ds.comm.spi.CommFailure;
import ds.comm.topology.ProcessIdentity;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cross-group deadlock rule belongs to a job, not to the JVM: ranks simulated on threads of
 * one JVM, each with its own watch, find calls on different groups in different orders at once,
 * where a JVM-global watch would have seen two calling threads and fallen back to the timeout.
 */
class CrossGroupWatchTest {

    private ShmRanks ranks;

    @BeforeEach
    void setUp() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void tearDown() throws Exception {
        ranks.close();
    }

    @Test
    void callsOnDifferentGroupsInDifferentOrdersFailAsAMismatchLongBeforeTheTimeout() throws Exception {
        long timeoutMillis = 20_000;
        long started = System.nanoTime();
        List<CommFailure> failures = ShmRanks.onThreads(2, 30_000, rank -> {
            CrossGroupWatch ownJob = new CrossGroupWatch();
            ProcessIdentity[] unknown = new ProcessIdentity[2];
            try (ShmCollective g = ShmCollective.open(ranks.world("g", 2, rank), ranks.settings(timeoutMillis),
                    Reducers.scalar(), unknown, ownJob);
                 ShmCollective h = ShmCollective.open(ranks.world("h", 2, rank), ranks.settings(timeoutMillis),
                         Reducers.scalar(), unknown, ownJob)) {
                MemorySegment buf = MemorySegment.ofArray(new float[16]);
                ShmCollective first = rank == 0 ? g : h;
                return assertThrows(CommFailure.class, () -> first.allReduce(buf, ElementType.FP32, Combiner.SUM));
            }
        });
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        for (int r = 0; r < 2; r++) {
            CommFailure f = failures.get(r);
            assertEquals(CommFailure.Kind.MISMATCH, f.kind(), "rank " + r + ": " + f.getMessage());
            assertEquals(1 - r, f.peerRank(), "rank " + r + " names the other rank: " + f.getMessage());
        }
        assertTrue(tookMillis < timeoutMillis / 2, "found in " + tookMillis + " ms, timeout " + timeoutMillis + " ms");
    }
}
