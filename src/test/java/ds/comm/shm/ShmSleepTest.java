package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducers;
import ds.comm.spi.AdaptiveIdleStrategy;
import ds.comm.spi.CommFailure;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.Settings;
import ds.comm.testkit.ThreadAllocation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ranks that wait long enough sleep on a futex on their peer's STEP word and are woken by its
 * publish: promptly (not at the end of the sleep's timeout), without allocating, and still
 * failing fast when the peer closes.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ShmSleepTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    /** Waits that block after 1 us of spinning and 4 yields: every late peer means a sleep. */
    private Settings sleepy() {
        Settings s = ranks.settings(20_000);
        int cpus = Runtime.getRuntime().availableProcessors();
        return s.withIdle(() -> new AdaptiveIdleStrategy(1_000, 1_000, 1_000_000, 1, cpus));
    }

    /**
     * Waits that sleep at the first unsuccessful poll for as long as they may (up to the next
     * liveness check, 100 ms): a sleeper then wakes promptly only if somebody wakes it.
     */
    private Settings sleepAtOnce() {
        return ranks.settings(20_000).withIdle(() -> new IdleStrategy() {
            @Override
            public void idle() {
                LockSupport.parkNanos(1_000);
            }

            @Override
            public void reset() {
            }

            @Override
            public long idleOrBlock() {
                return 10_000_000_000L;
            }
        });
    }

    @Test
    void futexesWorkOnThisPlatform() {
        // CI runs on Linux x86-64; a silent fallback to parking would hide every test below.
        assertTrue(Futex.AVAILABLE, "futex probe failed on " + System.getProperty("os.arch"));
        assertEquals(202, Futex.futexSyscallNumber("Linux", "amd64"));
        assertEquals(98, Futex.futexSyscallNumber("Linux", "aarch64"));
        assertEquals(238, Futex.futexSyscallNumber("Linux", "s390x"));
        assertEquals(0, Futex.futexSyscallNumber("Mac OS X", "aarch64"));
    }

    @Test
    void aRankAsleepOnItsPeersStepIsWokenByThePublishNotByItsTimeout() throws Exception {
        int reps = 9;
        AtomicLong publishedAt = new AtomicLong();
        List<long[]> lateness = ShmRanks.onThreads(2, 60_000, rank -> {
            long[] late = new long[reps];
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), sleepAtOnce(), Reducers.scalar())) {
                for (int i = 0; i < reps; i++) {
                    c.barrier();
                    if (rank == 1) {
                        // Rank 0 is asleep by then, for up to 100 ms unless woken.
                        Thread.sleep(30);
                        publishedAt.set(System.nanoTime());
                        c.barrier();
                    } else {
                        c.barrier();
                        late[i] = System.nanoTime() - publishedAt.get();
                    }
                }
            }
            return late;
        });
        long[] late = lateness.get(0);
        Arrays.sort(late);
        // Woken by the publish: well under a millisecond, even on a loaded machine most of the
        // time. Not woken, the sleep would end at the next liveness check: tens of ms.
        assertTrue(late[reps / 2] < 5_000_000, "median wake-up " + late[reps / 2] / 1000 + " us after the publish: "
                + Arrays.toString(late));
    }

    @Test
    void aPeerThatClosesWakesItsSleepingPeerWhichFailsAtOnce() throws Exception {
        int reps = 5;
        long[] late = new long[reps];
        for (int i = 0; i < reps; i++) {
            AtomicLong closedAt = new AtomicLong();
            AtomicLong failedAt = new AtomicLong();
            String name = "w" + i;
            ShmRanks.onThreads(2, 60_000, rank -> {
                try (ShmCollective c = ShmCollective.open(ranks.world(name, 2, rank), sleepAtOnce(), Reducers.scalar())) {
                    c.barrier();
                    if (rank == 1) {
                        Thread.sleep(30);
                        closedAt.set(System.nanoTime());
                        c.close();
                        return null;
                    }
                    try {
                        c.barrier();
                    } catch (CommFailure f) {
                        // Timed here, before the failure is recorded (the first exception of a
                        // JVM costs milliseconds of class loading, which is not what is tested).
                        failedAt.set(System.nanoTime());
                        assertEquals(CommFailure.Kind.PEER_LOST, f.kind());
                        return null;
                    }
                    throw new AssertionError("the barrier with a closed peer succeeded");
                }
            });
            late[i] = failedAt.get() - closedAt.get();
        }
        Arrays.sort(late);
        // Not woken, the sleeper would notice at its next liveness check: tens of ms.
        assertTrue(late[reps / 2] < 5_000_000, "median failure " + late[reps / 2] / 1000 + " us after the close: "
                + Arrays.toString(late));
    }

    @Test
    void sleepingAndWakingAllocateNothing() throws Exception {
        List<Long> allocated = ShmRanks.onThreads(2, 100_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), sleepy(), Reducers.vector(
                    Math.max(64, Reducers.preferredBits()))); Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(ValueLayout.JAVA_FLOAT, 64);
                Runnable calls = () -> {
                    for (int i = 0; i < 50; i++) {
                        // The ranks take turns being late, so both sleep and both wake the other.
                        if ((i & 1) == rank) LockSupport.parkNanos(30_000);
                        c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                    }
                };
                MemorySegment quiet = arena.allocate(ValueLayout.JAVA_INT);
                long last = -1;
                // Until both ranks' calls are compiled (the interpreter allocates in the downcall
                // path) or 400 rounds; the ranks agree after every round, outside the measurement.
                for (int round = 0; round < 400; round++) {
                    long before = ThreadAllocation.allocatedBytes();
                    calls.run();
                    last = ThreadAllocation.allocatedBytes() - before;
                    quiet.set(ValueLayout.JAVA_INT, 0, last == 0 ? 1 : 0);
                    c.allReduce(quiet, ElementType.INT32, Combiner.MIN);
                    if (quiet.get(ValueLayout.JAVA_INT, 0) == 1) break;
                }
                return last;
            }
        });
        assertEquals(List.of(0L, 0L), allocated, "bytes allocated by 50 sleeping all-reduces, per rank");
    }
}
