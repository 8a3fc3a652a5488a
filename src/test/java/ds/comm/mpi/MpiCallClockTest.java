package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.WaitMeter;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The watchdog's timing of MPI calls ({@link MpiCallClock#overrunNanos}), with the poll times
 * given explicitly: the calling thread never reads the clock, so the bound on an abort rests on
 * these rules alone.
 */
class MpiCallClockTest {

    private static final long TIMEOUT = TimeUnit.SECONDS.toNanos(2);
    private static final long PERIOD = MpiWatchdog.period(TIMEOUT);

    @Test
    void anIdleClockNeverOverruns() {
        MpiCallClock clock = new MpiCallClock("w", 0, TIMEOUT, new WaitMeter());
        for (long now = 0; now < 10 * TIMEOUT; now += PERIOD) assertEquals(-1, clock.overrunNanos(now));
    }

    @Test
    void aStuckCallOverrunsAfterTheTimeoutAndWithinTwoPeriodsOfIt() {
        MpiCallClock clock = new MpiCallClock("w", 1, TIMEOUT, new WaitMeter());
        long start = 1_000;
        clock.start("barrier", null, null, -1);
        // Worst case: the call began just after a poll, so the next poll is a whole period later.
        long now = start + PERIOD - 1;
        long abortedAt = -1;
        for (; now < start + 4 * TIMEOUT; now += PERIOD) {
            if (clock.overrunNanos(now) >= 0) {
                abortedAt = now;
                break;
            }
        }
        assertTrue(abortedAt > start + TIMEOUT, "aborted at " + abortedAt + ", before the timeout");
        assertTrue(abortedAt <= start + TIMEOUT + 2 * PERIOD, "aborted at " + abortedAt + ", later than two periods after the timeout");
        assertTrue(2 * PERIOD <= TIMEOUT / 8, "two periods are at most an eighth of the timeout");
        assertEquals("barrier()", clock.describeCall());
    }

    @Test
    void backToBackShortCallsNeverAddUpToAnOverrun() {
        MpiCallClock clock = new MpiCallClock("w", 0, TIMEOUT, new WaitMeter());
        // Every poll finds a call in progress, but never the same one twice.
        for (long now = 0; now < 10 * TIMEOUT; now += PERIOD) {
            clock.start("allReduce", ElementType.FP32, Combiner.SUM, 1024);
            assertEquals(-1, clock.overrunNanos(now));
            clock.stop();
        }
    }

    @Test
    void aCallThatEndsBeforeTheTimeoutIsForgottenAndTheNextIsTimedAfresh() {
        MpiCallClock clock = new MpiCallClock("w", 0, TIMEOUT, new WaitMeter());
        clock.start("allReduce", ElementType.FP32, Combiner.SUM, 1);
        assertEquals(-1, clock.overrunNanos(0));
        assertEquals(-1, clock.overrunNanos(TIMEOUT));
        clock.stop();
        assertEquals(-1, clock.overrunNanos(TIMEOUT + PERIOD));
        clock.start("broadcast", null, null, 64);
        assertEquals(-1, clock.overrunNanos(TIMEOUT + 2 * PERIOD));
        assertEquals(-1, clock.overrunNanos(2 * TIMEOUT + 2 * PERIOD), "the timeout runs from the new call's first sighting");
        assertTrue(clock.overrunNanos(2 * TIMEOUT + 3 * PERIOD) > TIMEOUT);
        assertEquals("broadcast(64)", clock.describeCall());
    }

    @Test
    void theCallingThreadReadsTheClockOnlyWhileMeasured() {
        WaitMeter meter = new WaitMeter();
        MpiCallClock clock = new MpiCallClock("w", 0, TIMEOUT, meter);
        clock.start("barrier", null, null, -1);
        clock.stop();
        assertEquals(0, meter.nanos(), "unmeasured calls are not timed");
        meter.measure(true);
        clock.start("barrier", null, null, -1);
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(2)) {
            Thread.onSpinWait();
        }
        clock.stop();
        assertTrue(meter.nanos() >= TimeUnit.MILLISECONDS.toNanos(2), "measured: " + meter.nanos());
    }
}
