package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shared-memory directory too small for the segments (a 2 MiB tmpfs, mounted for the test,
 * against 4 MiB per rank): forced SHM fails with a clear error giving bytes needed and
 * available; AUTO warns and uses the ring, and the collectives still work. No SIGBUS either way.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@Tag("multiprocess")
class SmallShmTest {

    private static Path mount;

    @BeforeAll
    static void mountASmallTmpfs() throws Exception {
        mount = Files.createTempDirectory("rely-small-shm-");
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2m,mode=1777", "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        boolean done = p.waitFor(20, TimeUnit.SECONDS);
        String out = new String(p.getInputStream().readAllBytes());
        if (!done || p.exitValue() != 0) {
            p.destroyForcibly();
            Files.deleteIfExists(mount);
            mount = null;
            System.out.println("SmallShmTest SKIPPED: cannot mount a tmpfs here (" + out.trim()
                    + "); run as root or with CAP_SYS_ADMIN to test a small /dev/shm");
            ds.comm.testkit.RequiredEnvironment.skip("mount not permitted: " + out.trim());
        }
    }

    @AfterAll
    static void unmount() throws Exception {
        if (mount == null) return;
        Process p = new ProcessBuilder("umount", mount.toString()).redirectErrorStream(true).start();
        p.waitFor(20, TimeUnit.SECONDS);
        Files.deleteIfExists(mount);
    }

    @Test
    void forcedShmFailsNamingBytesNeededAndAvailable() {
        LaunchResult r = Jobs.run(2, Duration.ofSeconds(60), Map.of("DSCOMM_SHM_DIR", mount.toString(),
                "DSCOMM_BACKEND", "shm", "DSCOMM_TIMEOUT", "10s"), System.out::println, Jobs.FAULT, "clean", "10");
        for (int rank = 0; rank < 2; rank++) {
            assertEquals(2, r.exitCodes()[rank], "rank " + rank + " must refuse at init: " + r.outputOf(rank));
            List<String> err = r.linesOf(rank, "ERROR ");
            assertEquals(1, err.size(), r.outputOf(rank).toString());
            String m = err.getFirst();
            assertTrue(m.contains("bytes free") && m.contains("needed") && m.contains(mount.toString()), m);
        }
    }

    @Test
    void autoWarnsAndFallsBackToTheRingWhoseCollectivesStillWork() throws Exception {
        LaunchResult r = Jobs.run(2, Duration.ofSeconds(60), Map.of("DSCOMM_SHM_DIR", mount.toString(),
                "DSCOMM_TIMEOUT", "10s"), System.out::println, Jobs.FAULT, "clean", "200");
        assertTrue(r.succeeded(), "collectives must work over the ring: " + r.firstFailure());
        for (int rank = 0; rank < 2; rank++) {
            assertEquals(List.of("RING"), r.linesOf(rank, "PHASE collectives "), r.outputOf(rank).toString());
            assertEquals(List.of("200"), r.linesOf(rank, "DONE "));
            assertTrue(r.outputOf(rank).stream().anyMatch(l -> l.contains("shared memory is unusable")
                    && l.contains("using the socket ring instead")), "no warning: " + r.outputOf(rank));
        }
        assertEquals(List.of(), Jobs.segmentFiles(mount));
    }
}
