package ds.comm.hier;

import ds.comm.lanes.Reducers;
import ds.comm.shm.ShmCollective;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.Collective;
import ds.comm.spi.ExchangeContract;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import ds.comm.spi.SoloCollective;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The exchange collectives on the hierarchical composite, with nodes simulated in one JVM: the
 * ranks are split into two "nodes" of uneven size where possible (N=3: {0,1} {2}; N=4: {0,1,2}
 * {3}), each node's members share a shared-memory group, and the node leaders a shared-memory
 * group of their own standing in for the ring between nodes. A node of one has a one-member
 * level, served by a local copy like production's.
 */
class HierExchangeTest extends ExchangeContract {

    private Path dir;

    @BeforeEach
    void createDirectory() throws Exception {
        Path shm = Path.of("/dev/shm");
        dir = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "dscomm-hier-") : Files.createTempDirectory("dscomm-hier-");
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(), s.toList());
        }
        Files.delete(dir);
    }

    @Override
    protected Collective[] openGroup(String name, int n, long timeoutMillis) throws Exception {
        int firstNode = n == 2 ? 1 : n - 1; // node 0 = ranks [0, firstNode), node 1 = the rest
        int[] nodes = new int[n];
        for (int r = 0; r < n; r++) nodes[r] = r < firstNode ? 0 : 1;
        return open(name, nodes, timeoutMillis);
    }

    /** Opens a group whose rank r lives on node {@code nodes[r]}, with a 20 s timeout. */
    protected Collective[] open(String name, int[] nodes) throws Exception {
        return open(name, nodes, 20_000);
    }

    /**
     * Opens a group whose rank r lives on node {@code nodes[r]} (any ids: nodes are numbered in
     * order of first appearance): each node's members share a shared-memory group, a node of one
     * has a one-member level, and the leaders share a shared-memory group of their own.
     */
    protected Collective[] open(String name, int[] nodes, long timeoutMillis) throws Exception {
        int n = nodes.length;
        Settings settings = new Settings(timeoutMillis * 1_000_000L, () -> new BackoffIdleStrategy(50, 20, 1_000, 200_000),
                dir, 64L << 10, 256, 1024, 5_000_000_000L);
        String job = Long.toHexString(System.nanoTime());
        HierLayout[] layouts = new HierLayout[n];
        for (int r = 0; r < n; r++) layouts[r] = HierLayout.of(new GroupSpec(name, job, range(0, n), r), w -> nodes[w]);
        List<Outcome> opened = runAll(n, rank -> {
            HierLayout layout = layouts[rank];
            GroupSpec localSpec = layout.localGroup();
            Collective local = localSpec.size() == 1 ? new SoloCollective()
                    : ShmCollective.open(localSpec, settings, Reducers.scalar());
            Collective leaderGroup = !layout.leader() ? null
                    : layout.nodes() == 1 ? new SoloCollective()
                    : ShmCollective.open(layout.leadersGroup(), settings, Reducers.scalar());
            return new HierCollective(layout, local, leaderGroup);
        });
        Collective[] group = new Collective[n];
        List<Throwable> failures = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            if (opened.get(r).failure() != null) failures.add(opened.get(r).failure());
            group[r] = (Collective) opened.get(r).value();
        }
        if (!failures.isEmpty()) {
            closeAll(group);
            throw new AssertionError("open failed", failures.get(0));
        }
        return group;
    }

    private static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }
}
