package ds.comm.ring;

import ds.comm.spi.Collective;
import ds.comm.spi.ExchangeContract;
import org.junit.jupiter.api.AfterEach;

/**
 * The exchange collectives on the socket ring: compositions of its allGather, broadcast and
 * allReduce passes (1 KiB chunks, so that pieces span several frames).
 */
class RingExchangeTest extends ExchangeContract {

    private RingCluster cluster;

    @Override
    protected Collective[] openGroup(String name, int n, long timeoutMillis) throws Exception {
        if (cluster != null) cluster.close();
        cluster = new RingCluster(n);
        return cluster.openWorld(RingCluster.settings(256, 1024, timeoutMillis));
    }

    @AfterEach
    void closeCluster() {
        if (cluster != null) cluster.close();
    }
}
