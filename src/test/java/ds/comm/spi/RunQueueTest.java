package ds.comm.spi;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Reading the machine's count of runnable threads from /proc/loadavg. */
class RunQueueTest {

    private static int parse(String text) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        return RunQueue.parseRunnable(ByteBuffer.wrap(b), b.length);
    }

    @Test
    void theRunnableCountIsTheNumberBeforeTheSlashOfTheFourthField() {
        assertEquals(3, parse("0.52 0.58 0.59 3/467 12345\n"));
        assertEquals(117, parse("12.00 9.50 8.25 117/2048 99\n"));
    }

    @Test
    void malformedOrTruncatedTextIsRefusedNotMisread() {
        assertEquals(-1, parse(""));
        assertEquals(-1, parse("0.52 0.58 0.59"));
        assertEquals(-1, parse("0.52 0.58 0.59 /467 1"));
        assertEquals(-1, parse("0.52 0.58 0.59 3x/467 1"));
        assertEquals(-1, parse("0.52 0.58 0.59 3"));
        assertEquals(-1, parse("0.52 0.58 0.59 12345678901/2 1"));
    }

    @Test
    void onLinuxTheProbeCountsAtLeastTheThreadReadingIt() {
        assumeTrue(System.getProperty("os.name", "").startsWith("Linux"), "/proc/loadavg is Linux's");
        RunQueue q = RunQueue.machine();
        assertNotNull(q, "/proc/loadavg should be readable on Linux");
        int n = q.runnable();
        assertTrue(n >= 1, "runnable " + n);
    }
}
