package ds.comm.topology;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MasterPortTest {

    @Test
    void masterPortIsFreeAndOutsideTheKernelsEphemeralRange() throws IOException {
        int[] range = MasterPort.ephemeralRange();
        assertTrue(range[0] <= range[1], Arrays.toString(range));
        for (int i = 0; i < 20; i++) {
            int port = MasterPort.free(range);
            assertTrue(port < range[0] || port > range[1], port + " lies in the ephemeral range " + Arrays.toString(range));
            assertTrue(port >= MasterPort.LOWEST, String.valueOf(port));
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                assertEquals(port, s.getLocalPort());
            }
        }
    }

    @Test
    void aRangeThatLeavesRoomOnlyAboveItGivesAPortAboveIt() {
        int above = MasterPort.free(new int[] {1024, 60000});
        assertTrue(above > 60000, String.valueOf(above));
    }

    @Test
    void aRangeThatLeavesNoRoomFallsBackToAKernelChosenPort() {
        int port = MasterPort.free(new int[] {10_050, 65_500});
        assertTrue(port > 0 && port <= 65535, String.valueOf(port));
    }
}
