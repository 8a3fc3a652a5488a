package ds.comm.shm;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The stale-segment scan of the shared-memory directory is bounded in entries and in time, so a
 * directory flooded with files named like ours (by another user, or anyone) cannot stretch an
 * open: issue 15 measured 4.6 s for a million such files before the bound.
 */
@Timeout(60)
class StaleScanBoundTest {

    private static final long FAR = Long.MAX_VALUE / 4;

    private Path dir;
    private long uid;

    @BeforeEach
    void createDirectory() throws IOException {
        Path shm = Path.of("/dev/shm");
        dir = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "dscomm-test-") : Files.createTempDirectory("dscomm-test-");
        uid = ((Number) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
    }

    @AfterEach
    void removeDirectory() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** {@code n} fresh, empty files named like this user's segments: never stale, always examined. */
    private void decoys(int n) throws IOException {
        String prefix = "dscomm-" + SegmentFile.sanitizedUser() + "-decoy" + System.nanoTime() + "-w-";
        for (int i = 0; i < n; i++) Files.createFile(dir.resolve(prefix + i));
    }

    @Test
    void scanExaminesNoMoreEntriesThanItsBudget() throws IOException {
        decoys(3_000);
        SegmentFile.StaleScan scan = SegmentFile.reclaimStale(dir, uid, System.nanoTime() + FAR, 500);
        assertEquals(500, scan.visited());
        assertEquals("after 500 entries", scan.stoppedBy());
        assertTrue(scan.reclaimed().isEmpty(), "young, unowned files are not stale");
    }

    @Test
    void theOpensDefaultBudgetCapsAFloodedDirectory() throws IOException {
        decoys(SegmentFile.STALE_SCAN_MAX_ENTRIES + 1_500);
        long start = System.nanoTime();
        SegmentFile.StaleScan scan = SegmentFile.reclaimStale(dir, uid, start + FAR, SegmentFile.STALE_SCAN_MAX_ENTRIES);
        long tookMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(SegmentFile.STALE_SCAN_MAX_ENTRIES, scan.visited());
        assertTrue(scan.stoppedBy().startsWith("after "), scan.stoppedBy());
        // 4096 stats and header reads take a few ms; a shared 2-core machine gets a wide margin.
        assertTrue(tookMillis < 2_000, "scan of " + scan.visited() + " entries took " + tookMillis + " ms");
    }

    @Test
    void scanStopsAtItsDeadline() throws IOException {
        decoys(2_000);
        SegmentFile.StaleScan none = SegmentFile.reclaimStale(dir, uid, System.nanoTime(), Integer.MAX_VALUE);
        assertEquals(0, none.visited());
        assertEquals("at its deadline, after 0 entries", none.stoppedBy());

        long start = System.nanoTime();
        long budget = 5_000_000L;
        SegmentFile.StaleScan some = SegmentFile.reclaimStale(dir, uid, start + budget, Integer.MAX_VALUE);
        long took = System.nanoTime() - start;
        // The deadline is checked before every entry, so the overrun is at most one entry's work.
        assertTrue(took < budget + 500_000_000L, "took " + took / 1_000 + " us for a 5 ms budget");
        assertTrue(some.visited() == 2_000 ? some.stoppedBy() == null : some.stoppedBy().startsWith("at its deadline"),
                some.toString());
    }

    @Test
    void aSmallDirectoryIsScannedWholeAndItsDebrisReclaimed() throws IOException {
        decoys(10);
        Path debris = dir.resolve("dscomm-" + SegmentFile.sanitizedUser() + "-deadjob-w-1");
        Files.write(debris, new byte[8]); // too short to name an owner
        Files.setLastModifiedTime(debris, FileTime.fromMillis(System.currentTimeMillis()
                - SegmentFile.UNOWNED_STALE_MILLIS - 10_000));
        Path foreignName = dir.resolve("other-file");
        Files.write(foreignName, new byte[8]);
        Files.setLastModifiedTime(foreignName, FileTime.fromMillis(0));

        SegmentFile.StaleScan scan = SegmentFile.reclaimStale(dir, uid, System.nanoTime() + FAR,
                SegmentFile.STALE_SCAN_MAX_ENTRIES);
        assertNull(scan.stoppedBy());
        assertEquals(12, scan.visited());
        assertEquals(java.util.List.of(debris), scan.reclaimed());
        assertFalse(Files.exists(debris));
        assertTrue(Files.exists(foreignName), "a file not named like ours is never touched");
    }
}
