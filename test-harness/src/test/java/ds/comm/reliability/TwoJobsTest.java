package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two jobs on one node with the same MASTER_PORT (rank 0s on 127.0.0.1 and 127.0.0.2) and the
 * same shared-memory directory run at the same time: their job tokens differ, so neither ever
 * sees the other's segments, and both verify every result.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@Tag("multiprocess")
class TwoJobsTest {

    @Test
    void twoJobsSharingMasterPortAndShmDirectoryNeverSeeEachOthersSegments() throws Exception {
        Path dir = Jobs.privateShmDir("twojobs");
        try {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
                port = s.getLocalPort();
            }
            int p = port;
            var a = Jobs.onOwnThread(() -> job(dir, "127.0.0.1", p));
            var b = Jobs.onOwnThread(() -> job(dir, "127.0.0.2", p));
            for (LaunchResult r : List.of(a.join(), b.join())) {
                assertTrue(r.succeeded(), "a job failed: " + r.firstFailure());
                for (int rank = 0; rank < 3; rank++) {
                    assertEquals(List.of("SHM"), r.linesOf(rank, "PHASE collectives "));
                    assertEquals(List.of("300"), r.linesOf(rank, "DONE "));
                }
            }
            assertEquals(List.of(), Jobs.segmentFiles(dir));
        } finally {
            Jobs.deleteTree(dir);
        }
    }

    private static LaunchResult job(Path dir, String masterAddr, int port) {
        return Jobs.run(3, Duration.ofSeconds(90), Map.of("DSCOMM_SHM_DIR", dir.toString(), "MASTER_ADDR", masterAddr,
                "MASTER_PORT", Integer.toString(port), "DSCOMM_SHM_BYTES", "256K", "DSCOMM_TIMEOUT", "20s"),
                System.out::println, Jobs.FAULT, "clean", "300");
    }
}
