package ds.comm.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeIdentityTest {

    private static final Path SHM = Path.of("/dev/shm");

    @Test
    void overrideWins() {
        assertEquals("sim-node-1", NodeIdentity.detect(Map.of("DSCOMM_NODE_ID", "sim-node-1"), SHM));
    }

    @Test
    void malformedOverrideIsRejectedWithItsValue() {
        var e = assertThrows(LaunchEnvException.class, () -> NodeIdentity.detect(Map.of("DSCOMM_NODE_ID", "a\tb"), SHM));
        assertTrue(e.getMessage().contains("DSCOMM_NODE_ID"), e.getMessage());
    }

    @Test
    void identityIsStableAndMadeOfHostBootAndShmDevice() throws Exception {
        String a = NodeIdentity.detect(Map.of(), SHM);
        assertEquals(a, NodeIdentity.detect(Map.of(), SHM), "two calls on one node must agree");
        String[] parts = a.split("/");
        assertEquals(3, parts.length, a);
        String boot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip().replace("-", "");
        assertEquals(boot, parts[1]);
        assertEquals(Long.toHexString((Long) Files.getAttribute(SHM, "unix:dev")), parts[2]);
    }

    @Test
    void aDirectoryOnAnotherFileSystemIsAnotherNode(@TempDir Path dir) throws Exception {
        // Models two containers on one kernel whose /dev/shm are different tmpfs mounts.
        Object devShm = Files.getAttribute(SHM, "unix:dev");
        Object devTmp = Files.getAttribute(dir, "unix:dev");
        org.junit.jupiter.api.Assumptions.assumeTrue(!devShm.equals(devTmp), "temp dir is on /dev/shm's file system");
        assertNotEquals(NodeIdentity.detect(Map.of(), SHM), NodeIdentity.detect(Map.of(), dir));
    }
}
