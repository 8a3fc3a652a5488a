package ds.comm.spi;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The adaptive waiting driven by a hand-moved clock: what it spins, when it blocks, what it learns. */
class AdaptiveIdleStrategyTest {

    /** A clock the test moves; each poll advances it by {@code step}. */
    private static final class Clock {
        long now = 1_000_000_000L;
        long step = 50;

        long tick() {
            long t = now;
            now += step;
            return t;
        }
    }

    private static AdaptiveIdleStrategy strategy(Clock c, int ranksOnNode, int cpus) {
        return new AdaptiveIdleStrategy(100_000, 1_000, 1_000_000, ranksOnNode, cpus, c::tick, null);
    }

    /** The machine's run queue as the test sets it, counting how often it was looked at. */
    private static final class Queue {
        boolean crowded;
        int looks;

        boolean crowded() {
            looks++;
            return crowded;
        }
    }

    @Test
    void aSpinEndsWhenThreadsAreQueuedForAProcessorAndDoesNotTeachALongerSpin() {
        Clock c = new Clock();
        Queue q = new Queue();
        AdaptiveIdleStrategy s = new AdaptiveIdleStrategy(1_000_000, 1_000, 1_000_000, 2, 2, c::tick, q::crowded);
        // Nobody queued: the whole learned spin (250 us at first, 5 000 polls), looking every 20 us.
        s.reset();
        int spun = pollsUntilBlock(s);
        assertTrue(spun >= 4_900 && spun <= 5_100, "polled " + spun + " times before blocking");
        assertTrue(q.looks >= 11 && q.looks <= 13, "looked " + q.looks + " times in 250 us");
        // Threads queued: the spin ends at the third look in a row (60 us = 1 200 polls), then
        // yields and blocks.
        q.crowded = true;
        q.looks = 0;
        s.reset();
        long before = s.spinNanos();
        spun = pollsUntilBlock(s);
        assertTrue(spun >= 1_190 && spun <= 1_210 + AdaptiveIdleStrategy.YIELDS, "polled " + spun + " times before blocking");
        assertEquals(AdaptiveIdleStrategy.QUEUED_LOOKS, q.looks);
        assertEquals(1, s.queuedEnds());
        // A wait that ended past the spin because of queued threads does not grow the budget.
        c.now += 500_000;
        s.waitEnded();
        assertEquals(before, s.spinNanos(), s.toString());
    }

    @Test
    void aThreadQueuedForAMomentDoesNotEndTheSpin() {
        Clock c = new Clock();
        int[] looks = {0};
        // Queued at two looks in a row, never at three: a kernel worker, a thread waking briefly.
        AdaptiveIdleStrategy s = new AdaptiveIdleStrategy(1_000_000, 1_000, 1_000_000, 2, 2, c::tick,
                () -> ++looks[0] % 3 != 0);
        s.reset();
        int spun = pollsUntilBlock(s);
        assertTrue(spun >= 4_900, "polled " + spun + " times before blocking: the spin ended early");
        assertEquals(0, s.queuedEnds());
    }

    @Test
    void shortWaitsNeverLookAtTheRunQueue() {
        Clock c = new Clock();
        Queue q = new Queue();
        q.crowded = true;
        AdaptiveIdleStrategy s = new AdaptiveIdleStrategy(1_000_000, 1_000, 1_000_000, 2, 2, c::tick, q::crowded);
        for (int wait = 0; wait < 100; wait++) {
            s.reset();
            for (int poll = 0; poll < 300; poll++) assertEquals(0, s.idleOrBlock());   // 15 us each
        }
        assertEquals(0, q.looks);
    }

    /** Polls until the strategy says block; returns the number of polls it spun or yielded. */
    private static int pollsUntilBlock(AdaptiveIdleStrategy s) {
        int polls = 0;
        while (s.idleOrBlock() == 0) polls++;
        return polls;
    }

    @Test
    void aRankWithACoreSpinsBeforeItBlocksAndAnOversubscribedOneYieldsToItsPeersFirst() {
        Clock c = new Clock();
        AdaptiveIdleStrategy dedicated = strategy(c, 2, 2);
        AdaptiveIdleStrategy crowded = strategy(c, 4, 2);
        dedicated.reset();
        crowded.reset();
        assertFalse(dedicated.oversubscribed());
        assertTrue(crowded.oversubscribed());
        // 50 ns a poll: 25 us of spinning is 500 polls, then 4 yields.
        int spun = pollsUntilBlock(dedicated);
        assertTrue(spun >= 400 && spun <= 600, "polled " + spun + " times before blocking");
        // Oversubscribed: a few polls of spinning, then yields (to the peers queued behind it)
        // for 200 us before it sleeps: about 4 000 polls.
        int yielded = pollsUntilBlock(crowded);
        long expected = (AdaptiveIdleStrategy.OVERSUBSCRIBED_SPIN_NANOS + AdaptiveIdleStrategy.OVERSUBSCRIBED_YIELD_NANOS) / 50;
        assertTrue(Math.abs(yielded - expected) <= 50, "polled " + yielded + " times before blocking, expected ~" + expected);
    }

    @Test
    void aRankContendedByAStrangerSleepsInsteadOfYieldingItsCoreAway() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 2, 2);
        for (int wait = 0; wait < 12; wait++) {   // preempted while spinning, wait after wait
            s.reset();
            s.idleOrBlock();
            c.now += 3_000_000;
            pollsUntilBlock(s);
        }
        s.reset();
        int polls = pollsUntilBlock(s);
        assertTrue(polls <= AdaptiveIdleStrategy.MIN_SPIN_NANOS / 50 + AdaptiveIdleStrategy.YIELDS + 1,
                "polled " + polls + " times before blocking");
    }

    @Test
    void theOversubscribedSpinNeverGrowsBeyondAFewPolls() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 3, 2);
        for (int wait = 0; wait < 1000; wait++) {
            s.reset();
            for (int poll = 0; poll < 5; poll++) s.idleOrBlock();   // every wait caught while spinning
        }
        assertEquals(AdaptiveIdleStrategy.OVERSUBSCRIBED_SPIN_NANOS, s.spinNanos(), s.toString());
        // Waits that end a few microseconds after the spin (a yield let the peer publish) look
        // "missed by little", which would double a learning spin; here it stays a few polls.
        for (int wait = 0; wait < 1000; wait++) {
            s.reset();
            for (int poll = 0; poll < 100; poll++) s.idleOrBlock();   // 5 us at 50 ns a poll
            s.waitEnded();
        }
        assertEquals(AdaptiveIdleStrategy.OVERSUBSCRIBED_SPIN_NANOS, s.spinNanos(), s.toString());
    }

    @Test
    void aWaitMissedByLittleDoublesTheSpinAndWaitsCaughtSpinningLetItCreepUp() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 1, 8);
        long before = s.spinNanos();
        s.reset();
        pollsUntilBlock(s);            // the spin ran out...
        c.now += 1_000;                // ...and the peer came just after
        s.idleOrBlock();
        s.reset();
        assertEquals(Math.min(100_000, 2 * before), s.spinNanos());
        long doubled = s.spinNanos();
        for (int wait = 0; wait < 50; wait++) {
            s.reset();
            s.idleOrBlock();
            s.idleOrBlock();
        }
        s.reset();
        assertTrue(s.spinNanos() > doubled && s.spinNanos() <= 100_000, s.toString());
    }

    @Test
    void aLongWaitLeavesTheSpinAsItWas() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 1, 8);
        long before = s.spinNanos();
        s.reset();
        pollsUntilBlock(s);
        c.now += 50_000_000;           // the peer computed for 50 ms: no spin would have helped
        s.idleOrBlock();
        s.reset();
        assertEquals(before, s.spinNanos());
        assertEquals(1, s.blockedWaits());
    }

    @Test
    void beingPreemptedWhileSpinningHalvesTheSpin() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 2, 2);
        long before = s.spinNanos();
        s.reset();
        s.idleOrBlock();
        c.now += 3_000_000;            // descheduled for 3 ms in the middle of the spin
        int more = pollsUntilBlock(s);
        // 3 ms waited is past any halved spin: only the yields remain.
        assertTrue(more <= AdaptiveIdleStrategy.YIELDS + 1, "still spun " + more + " polls after a preemption");
        assertEquals(1, s.preemptions());
        assertEquals(before / 2, s.spinNanos());
        // A real contender preempts again and again: a few waits bring the spin to its minimum.
        for (int wait = 0; wait < 8; wait++) {
            s.reset();
            s.idleOrBlock();
            c.now += 3_000_000;
            pollsUntilBlock(s);
        }
        // While the contention is remembered, waits caught spinning do not grow the spin back.
        for (int wait = 0; wait < 100; wait++) {
            s.reset();
            s.idleOrBlock();
        }
        assertEquals(AdaptiveIdleStrategy.MIN_SPIN_NANOS, s.spinNanos());
        // Long after it, they do.
        c.now += AdaptiveIdleStrategy.CONTENTION_MEMORY_NANOS + 1;
        for (int wait = 0; wait < 100; wait++) {
            s.reset();
            s.idleOrBlock();
        }
        s.reset();
        assertTrue(s.spinNanos() > AdaptiveIdleStrategy.MIN_SPIN_NANOS, s.toString());
    }

    /** Polls through the whole spin of a wait just begun, then once more: that poll yields. */
    private static void spinOutAndYieldOnce(Clock c, AdaptiveIdleStrategy s) {
        s.reset();
        long start = c.now;
        long spin = s.spinNanos();
        while (c.now - start <= spin) s.idleOrBlock();
        s.idleOrBlock();
    }

    /** A wait past its spin whose one yield lasts {@code yieldNanos}, the peer there when it returns. */
    private static void waitEndedByAYieldOf(Clock c, AdaptiveIdleStrategy s, long yieldNanos) {
        spinOutAndYieldOnce(c, s);
        c.now += yieldNanos;
        s.waitEnded();
    }

    @Test
    void aWaitEndedByAYieldThatRanThePeerHalvesTheSpinInsteadOfGrowingIt() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 2, 2);
        long before = s.spinNanos();
        // Both ranks on one core: the yield ran the peer for 30 us, and it had arrived when the
        // yield returned. Missed by 30 us, within the ceiling: without the hand-over this wait
        // would teach a spin of 1.5 times its length.
        waitEndedByAYieldOf(c, s, 30_000);
        assertEquals(1, s.handOvers(), s.toString());
        assertEquals(before / 2, s.spinNanos(), s.toString());
        // Wait after wait on the shared core, the spin comes down to a few polls, below the
        // minimum a rank with a core learns: every nanosecond of it is taken from the peer...
        for (int wait = 0; wait < 10; wait++) waitEndedByAYieldOf(c, s, 30_000);
        assertEquals(AdaptiveIdleStrategy.HANDED_OVER_MIN_SPIN_NANOS, s.spinNanos(), s.toString());
        assertTrue(AdaptiveIdleStrategy.HANDED_OVER_MIN_SPIN_NANOS < AdaptiveIdleStrategy.MIN_SPIN_NANOS);
        // ...and it is not remembered: once the ranks have a core each again, a wait missed by
        // a little (the spin, then a yield of nobody, 2 us) teaches a spin that covers it at once.
        waitEndedByAYieldOf(c, s, 2_000);
        long waited = AdaptiveIdleStrategy.HANDED_OVER_MIN_SPIN_NANOS + 2_000;
        assertTrue(s.spinNanos() >= waited + waited / 2, s.toString());
        assertEquals(11, s.handOvers());
    }

    @Test
    void aLongYieldAfterWhichThePeerIsStillMissingIsNoHandOver() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 2, 2);
        long before = s.spinNanos();
        // A compiler thread ran in the yield, and the peer was still not there afterwards.
        spinOutAndYieldOnce(c, s);
        c.now += 30_000;
        s.idleOrBlock();
        s.waitEnded();
        assertEquals(0, s.handOvers(), s.toString());
        assertTrue(s.spinNanos() > before, "a wait missed by little grows the spin: " + s);
        // A quick yield (nobody else on the core) is none either.
        waitEndedByAYieldOf(c, s, AdaptiveIdleStrategy.HANDED_OVER_NANOS / 2);
        assertEquals(0, s.handOvers(), s.toString());
    }

    @Test
    void theBlockItAsksForGrowsWithTheWaitButStaysBounded() {
        Clock c = new Clock();
        AdaptiveIdleStrategy s = strategy(c, 2, 2);
        s.reset();
        pollsUntilBlock(s);
        c.now += 5_000_000;
        long block = s.idleOrBlock();
        assertTrue(block >= 5_000_000 && block <= AdaptiveIdleStrategy.MAX_BLOCK_NANOS, "block " + block);
        c.now += 10_000_000_000L;
        assertEquals(AdaptiveIdleStrategy.MAX_BLOCK_NANOS, s.idleOrBlock());
    }

    @Test
    void nonsenseSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveIdleStrategy(10, 1_000, 1_000_000, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveIdleStrategy(100_000, 1_000, 10, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveIdleStrategy(100_000, 1_000, 1_000_000, 0, 1));
    }
}
