package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every publish records the processor it was made from, and on a crowded machine a waiter whose
 * late peer last published from the waiter's own processor yields to it before anything else; a
 * peer on another processor, or any peer while a processor is free, is waited for as before.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ShmHandOverTest {

    private static final int REPS = 5;

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    @Test
    void theProcessorOfThisThreadIsKnownOnLinux() {
        // CI runs on Linux with glibc; a silent fallback would hide the tests below.
        assertTrue(CurrentCpu.AVAILABLE, "sched_getcpu probe failed on " + System.getProperty("os.arch"));
        assertTrue(CurrentCpu.id() >= 0);
    }

    @Test
    void aWaiterWhosePeerLastPublishedFromItsProcessorHandsOverBeforeWaiting() throws Exception {
        long[] handOvers = lateBarriers(true, true);
        // Rank 0 rewrites the peer's word to its own processor just before each wait; the
        // scheduler may move it in between, rarely, hence not all of them.
        assertTrue(handOvers[0] >= REPS - 2, "waits that began with a hand-over: " + handOvers[0] + " of " + REPS);
    }

    @Test
    void aWaiterWhosePeerPublishedFromAnotherProcessorDoesNotHandOver() throws Exception {
        long[] handOvers = lateBarriers(false, true);
        assertEquals(0, handOvers[0], "no processor has that number, yet rank 0 handed over");
    }

    @Test
    void aWaiterOnAMachineWithAFreeProcessorDoesNotHandOverEvenToAPeerBesideIt() throws Exception {
        // Yielding back and forth would keep both ranks on one processor while another idles.
        long[] handOvers = lateBarriers(true, false);
        assertEquals(0, handOvers[0], "rank 0 handed over although its strategy saw no crowding");
    }

    /** A short back-off that says whether the machine is crowded as the test wants. */
    private static IdleStrategy backoff(boolean crowded) {
        BackoffIdleStrategy inner = new BackoffIdleStrategy(50, 20, 1_000, 200_000);
        return new IdleStrategy() {
            @Override
            public void idle() {
                inner.idle();
            }

            @Override
            public void reset() {
                inner.reset();
            }

            @Override
            public boolean crowded() {
                return crowded;
            }
        };
    }

    /**
     * Rank 1 comes 20 ms late to {@link #REPS} barriers; before each, rank 0 sets rank 1's CPU
     * word to its own processor ({@code samePlace}) or to one that does not exist; both ranks'
     * idle strategies say the machine is {@code crowded} or not. Returns both
     * ranks' counts of hand-over waits after checking that every publish recorded a processor.
     */
    private long[] lateBarriers(boolean samePlace, boolean crowded) throws Exception {
        Settings settings = ranks.settings().withIdle(() -> backoff(crowded));
        List<Long> counts = ShmRanks.onThreads(2, 60_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), settings, Reducers.scalar())) {
                MemorySegment peer = c.segmentOfWorldRank(1 - rank);
                for (int i = 0; i < REPS; i++) {
                    // The peer has published (the open, or the previous barrier) and publishes
                    // nothing more before this barrier: its word is stable here.
                    long published = SegmentDescriptor.cpuOpaque(peer);
                    assertTrue(published >= 1, "rank " + (1 - rank) + " published from processor " + (published - 1));
                    if (rank == 1) {
                        Thread.sleep(20);
                    } else {
                        SegmentDescriptor.setCpu(peer, samePlace ? CurrentCpu.id() + 1L : Integer.MAX_VALUE);
                    }
                    c.barrier();
                }
                return c.handOverWaits();
            }
        });
        return new long[] {counts.get(0), counts.get(1)};
    }
}
