package ds.comm.shm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HeartbeatPacerTest {

    @Test
    void beatsARegisteredSegmentSeveralTimesPerBoundAndNeverAfterUnregistering() throws Exception {
        HeartbeatPacer pacer = HeartbeatPacer.instance();
        int before = pacer.registered();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment own = arena.allocate(SegmentDescriptor.MIN_SEGMENT_BYTES, 128);
            pacer.register(own, TimeUnit.MILLISECONDS.toNanos(600)); // a beat every 100 ms
            assertEquals(before + 1, pacer.registered());
            assertTrue(SegmentDescriptor.heartbeatAcquire(own) >= 1, "registering beats at once");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (SegmentDescriptor.heartbeatAcquire(own) < 4 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(SegmentDescriptor.heartbeatAcquire(own) >= 4, "the counter moves on its own");
            pacer.unregister(own);
            assertEquals(before, pacer.registered());
            long stopped = SegmentDescriptor.heartbeatAcquire(own);
            Thread.sleep(300);
            assertEquals(stopped, SegmentDescriptor.heartbeatAcquire(own), "no beat after unregister returned");
        } // the arena closes: a late beat would have thrown in the pacer thread or corrupted memory
    }
}
