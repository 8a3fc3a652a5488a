package ds.comm;

import ds.comm.spi.GroupSpec;
import ds.comm.topology.RankRecord;
import ds.comm.topology.Topology;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A group whose members report different byte orders is refused at init, never summed. */
class ByteOrderGroupTest {

    private static Topology topology(ByteOrder... orders) {
        var addr = new InetSocketAddress(InetAddress.getLoopbackAddress(), 5000);
        List<RankRecord> records = new java.util.ArrayList<>();
        for (int r = 0; r < orders.length; r++) {
            records.add(new RankRecord(r, "node" + r, addr, 100 + r, orders[r], -1));
        }
        return new Topology(0, "00ff", records);
    }

    @Test
    void aGroupMixingLittleAndBigEndianRanksIsRefusedNamingRanksAndOrders() {
        // Rank 2 fakes an s390x: it reports BIG_ENDIAN at rendezvous.
        Topology t = topology(ByteOrder.LITTLE_ENDIAN, ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN);
        var e = assertThrows(IllegalStateException.class,
                () -> Job.requireOneByteOrder(t, new GroupSpec("w", "00ff", new int[]{0, 1, 2}, 0)));
        assertTrue(e.getMessage().contains("rank 1 LITTLE_ENDIAN, rank 2 BIG_ENDIAN"), e.getMessage());
        assertTrue(e.getMessage().contains("group w mixes byte orders"), e.getMessage());
    }

    @Test
    void aSubGroupOfOneByteOrderIsAcceptedEvenWhenTheWorldMixesThem() {
        Topology t = topology(ByteOrder.LITTLE_ENDIAN, ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN);
        assertDoesNotThrow(() -> Job.requireOneByteOrder(t, new GroupSpec("w.s1c0", "00ff", new int[]{0, 1}, 0)));
    }
}
