package ds.comm;

import ds.comm.topology.ShmView;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendPolicyTest {

    private static Resolved config(CommConfig.Builder b, String... env) {
        Map<String, String> map = new HashMap<>();
        for (int i = 0; i < env.length; i += 2) map.put(env[i], env[i + 1]);
        return Resolved.of(b.environment(map).build());
    }

    private static Resolved env(String... env) {
        return config(CommConfig.builder(), env);
    }

    private static BackendPolicy.Facts facts(String... nodes) {
        int[] ranks = new int[nodes.length];
        for (int i = 0; i < ranks.length; i++) ranks[i] = i;
        return new BackendPolicy.Facts(ranks, nodes, null, false);
    }

    @Test
    void autoPicksShmWhenEveryMemberSharesTheNode() {
        BackendChoice c = BackendPolicy.choose(env(), facts("a", "a", "a", "a"));
        assertEquals(Backend.SHM, c.backend());
        assertEquals("shm: ranks 0-3 share one node", c.toString());
    }

    @Test
    void autoPicksHierWhenMembersSpanNodesAndANodeHoldsSeveral() {
        BackendChoice c = BackendPolicy.choose(env(), facts("a", "a", "b", "b"));
        assertEquals(Backend.HIER, c.backend());
        assertTrue(c.reason().startsWith("ranks 0-3 span 2 nodes"), c.reason());
    }

    @Test
    void autoPicksRingWhenEveryMemberIsAloneOnItsNode() {
        BackendChoice c = BackendPolicy.choose(env(), facts("a", "b", "c"));
        assertEquals(Backend.RING, c.backend());
        assertTrue(c.reason().contains("one rank per node"), c.reason());
    }

    @Test
    void shmSwitchOffMakesAutoUseTheRingAndSaysWhy() {
        BackendChoice c = BackendPolicy.choose(env("DSCOMM_SHM", "0"), facts("a", "a", "b", "b"));
        assertEquals(Backend.RING, c.backend());
        assertEquals("ring: ranks 0-3 span 2 nodes; SHM disabled by DSCOMM_SHM=0", c.toString());
        assertEquals(Backend.RING, BackendPolicy.choose(env("DSCOMM_SHM", "0"), facts("a", "a")).backend());
    }

    @Test
    void unusableShmMakesAutoUseTheRingAndSaysWhy() {
        var f = new BackendPolicy.Facts(new int[]{0, 1}, new String[]{"a", "a"}, "/dev/shm has 10 bytes free", false);
        BackendChoice c = BackendPolicy.choose(env(), f);
        assertEquals(Backend.RING, c.backend());
        assertTrue(c.reason().contains("SHM unusable: /dev/shm has 10 bytes free"), c.reason());
    }

    @Test
    void configWinsOverEnvironmentWhichWinsOverDefault() {
        assertEquals(Backend.RING, BackendPolicy.choose(env("DSCOMM_BACKEND", "ring"), facts("a", "a")).backend());
        Resolved both = config(CommConfig.builder().backend(Backend.SHM), "DSCOMM_BACKEND", "ring");
        BackendChoice c = BackendPolicy.choose(both, facts("a", "a"));
        assertEquals(Backend.SHM, c.backend());
        assertTrue(c.reason().contains("forced by CommConfig"), c.reason());
        Resolved shmOn = config(CommConfig.builder().shmEnabled(true), "DSCOMM_SHM", "0");
        assertEquals(Backend.SHM, BackendPolicy.choose(shmOn, facts("a", "a")).backend());
    }

    @Test
    void forcingShmOnAGroupThatSpansNodesIsAnErrorNotAWrongResult() {
        var e = assertThrows(IllegalStateException.class,
                () -> BackendPolicy.choose(env("DSCOMM_BACKEND", "shm"), facts("a", "b")));
        assertTrue(e.getMessage().contains("ranks 0-1 span 2 nodes"), e.getMessage());
        assertTrue(e.getMessage().contains("DSCOMM_BACKEND=shm"), e.getMessage());
    }

    @Test
    void forcingShmWhileItIsDisabledIsAnError() {
        var e = assertThrows(IllegalStateException.class,
                () -> BackendPolicy.choose(env("DSCOMM_BACKEND", "shm", "DSCOMM_SHM", "0"), facts("a", "a")));
        assertTrue(e.getMessage().contains("SHM disabled by DSCOMM_SHM=0"), e.getMessage());
        assertThrows(IllegalStateException.class,
                () -> BackendPolicy.choose(env("DSCOMM_BACKEND", "hier", "DSCOMM_SHM", "0"), facts("a", "b")));
    }

    @Test
    void aSubGroupInsideOneNodeGetsShmEvenWhenTheWorldSpansNodes() {
        var tpPair = new BackendPolicy.Facts(new int[]{2, 3}, new String[]{"b", "b"}, null, false);
        assertEquals("shm: ranks 2-3 share one node", BackendPolicy.choose(env(), tpPair).toString());
    }

    @Test
    void inAJobOverMpiMpiCarriesWhatCrossesNodesAndShmWhatIsLocal() {
        int[] four = {0, 1, 2, 3};
        var spans = new BackendPolicy.Facts(four, new String[]{"a", "a", "b", "b"}, null, true);
        BackendChoice c = BackendPolicy.choose(env(), spans);
        assertEquals(Backend.HIER, c.backend());
        assertTrue(c.reason().endsWith("SHM inside each node, MPI between nodes"), c.reason());
        var alone = new BackendPolicy.Facts(new int[]{0, 1}, new String[]{"a", "b"}, null, true);
        assertEquals(Backend.MPI, BackendPolicy.choose(env(), alone).backend());
        var local = new BackendPolicy.Facts(new int[]{0, 1}, new String[]{"a", "a"}, null, true);
        assertEquals(Backend.SHM, BackendPolicy.choose(env(), local).backend());
        assertEquals(Backend.MPI, BackendPolicy.choose(env("DSCOMM_SHM", "0"), local).backend());
        var e = assertThrows(IllegalStateException.class, () -> BackendPolicy.choose(env("DSCOMM_BACKEND", "ring"), local));
        assertTrue(e.getMessage().contains("met through MPI"), e.getMessage());
    }

    @Test
    void aGroupOfOneIsLocal() {
        assertEquals(Backend.LOCAL, BackendPolicy.choose(env("DSCOMM_BACKEND", "ring"), facts("a")).backend());
    }

    @Test
    void malformedEnvironmentNamesTheVariableAndValue() {
        var e = assertThrows(IllegalArgumentException.class, () -> env("DSCOMM_BACKEND", "tcp"));
        assertTrue(e.getMessage().contains("DSCOMM_BACKEND='tcp'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> env("DSCOMM_SHM", "maybe"));
        assertTrue(e.getMessage().contains("DSCOMM_SHM='maybe'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> env("DSCOMM_TIMEOUT", "-3"));
        assertTrue(e.getMessage().contains("DSCOMM_TIMEOUT='-3'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> env("DSCOMM_VECTOR_BITS", "96"));
        assertTrue(e.getMessage().contains("DSCOMM_VECTOR_BITS='96'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> env("DSCOMM_SHM_BYTES", "12Q"));
        assertTrue(e.getMessage().contains("DSCOMM_SHM_BYTES='12Q'"), e.getMessage());
    }

    @Test
    void sizesAndDurationsParseWithUnits() {
        Resolved r = env("DSCOMM_TIMEOUT", "2.5", "DSCOMM_PEER_LOST_TIMEOUT", "500ms", "DSCOMM_SHM_BYTES", "8M",
                "DSCOMM_SMALL_BYTES", "0", "DSCOMM_CHUNK_BYTES", "64KiB", "DSCOMM_SHM_DIR", "/tmp");
        assertEquals(2_500_000_000L, r.settings().timeoutNanos());
        assertEquals(500_000_000L, r.settings().peerLostNanos());
        assertEquals(8L << 20, r.settings().shmBytes());
        assertEquals(0, r.settings().smallMessageBytes());
        assertEquals(64L << 10, r.settings().chunkBytes());
        assertEquals(java.nio.file.Path.of("/tmp"), r.settings().shmDir());
        r = env("DSCOMM_TIMEOUT", "365d", "DSCOMM_PEER_LOST_TIMEOUT", "365d");
        assertEquals(java.time.Duration.ofDays(365).toNanos(), r.settings().timeoutNanos());
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0}={1}")
    @org.junit.jupiter.params.provider.CsvSource({
            "DSCOMM_TIMEOUT, 1e12, is not a duration, 1ms to 365d",
            "DSCOMM_TIMEOUT, 1000000000000, is out of range, 1ms to 365d",
            "DSCOMM_TIMEOUT, 0.0006, is finer than a millisecond, 1ms to 365d",
            "DSCOMM_TIMEOUT, 30 s, is not a duration, 1ms to 365d",
            "DSCOMM_PEER_LOST_TIMEOUT, 1e12, is not a duration, 1ms to 365d",
            "DSCOMM_PEER_LOST_TIMEOUT, 1000000000000, is out of range, 1ms to 365d",
            "DSCOMM_PEER_LOST_TIMEOUT, 9223372036854775807ms, is out of range, 1ms to 365d",
            "DSCOMM_SHM_BYTES, 9999999999999999999999T, is out of range, 64K to 64G",
            "DSCOMM_SHM_BYTES, 63K, is out of range, 64K to 64G",
            "DSCOMM_SMALL_BYTES, 65G, is out of range, 0 to 64G",
            "DSCOMM_CHUNK_BYTES, 2G, is out of range, 4K to 1G",
            "DSCOMM_CHUNK_BYTES, 1.5M, is not a size, 4K to 1G",
    })
    void outOfRangeOrMalformedValuesNameTheVariableAndTheAllowedRange(String var, String value, String what, String range) {
        var e = assertThrows(IllegalArgumentException.class, () -> env(var, value));
        assertTrue(e.getMessage().startsWith(var + "='" + value + "' " + what), e.getMessage());
        assertTrue(e.getMessage().contains("allowed: " + range), e.getMessage());
    }

    @Test
    void configSettersRejectWhatWouldOverflowLater() {
        var b = CommConfig.builder();
        var e = assertThrows(IllegalArgumentException.class, () -> b.timeout(java.time.Duration.ofSeconds(Long.MAX_VALUE)));
        assertTrue(e.getMessage().contains("allowed: 1ms to 365d"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.peerLostTimeout(java.time.Duration.ofDays(366)));
        assertThrows(IllegalArgumentException.class, () -> b.shmBytes(Long.MAX_VALUE));
        assertThrows(IllegalArgumentException.class, () -> b.chunkBytes(Integer.MAX_VALUE));
        assertThrows(IllegalArgumentException.class, () -> b.smallMessageBytes(-1));
        assertEquals(java.time.Duration.ofDays(365).toNanos(),
                config(CommConfig.builder().timeout(java.time.Duration.ofDays(365))).settings().timeoutNanos());
    }

    @Test
    void blankVariablesAreUnsetForBothTheLauncherAndTheSettings() {
        assertEquals(30_000_000_000L, env("DSCOMM_TIMEOUT", " ").settings().timeoutNanos());
        assertEquals(java.time.Duration.ofSeconds(30), ds.comm.topology.LaunchEnv.detect(Map.of("DSCOMM_TIMEOUT", " ")).timeout());
    }

    /** Each rank decides alone with the shared views; all decisions must be equal. */
    private static List<BackendChoice> decisionsOfEveryRank(String[] nodes, ShmView[] views) {
        int[] ranks = new int[nodes.length];
        for (int i = 0; i < ranks.length; i++) ranks[i] = i;
        List<BackendChoice> out = new ArrayList<>();
        for (int me = 0; me < nodes.length; me++) {
            // Nothing of "me" goes in but the configuration, which is the same everywhere.
            String problem = BackendPolicy.shmProblem(ranks, nodes, views.clone());
            out.add(BackendPolicy.choose(env(), new BackendPolicy.Facts(ranks, nodes, problem, false)));
        }
        return out;
    }

    @Test
    void ranksWithDifferentShmViewsOfOneNodeAllTakeTheRingAndNameTheRankThatSawTooLittle() {
        long seg = 4L << 20;
        ShmView[] views = {new ShmView(1L << 30, seg), new ShmView(seg, seg), new ShmView(1L << 30, seg)};
        List<BackendChoice> all = decisionsOfEveryRank(new String[]{"a", "a", "a"}, views);
        for (BackendChoice c : all) assertEquals(all.get(0), c);
        assertEquals("ring: ranks 0-2 share one node; SHM unusable: world rank 1's shared-memory directory has 4194304"
                + " bytes free, 12582912 needed for 3 ranks on its node", all.get(0).toString());
    }

    @Test
    void aShortViewOnOneNodeOfAHierarchicalGroupMovesEveryRankToTheRing() {
        long seg = 1L << 20;
        ShmView[] views = {new ShmView(1L << 30, seg), new ShmView(1L << 30, seg), new ShmView(1L << 30, seg),
                new ShmView(ShmView.NOT_WRITABLE, seg)};
        List<BackendChoice> all = decisionsOfEveryRank(new String[]{"a", "a", "b", "b"}, views);
        for (BackendChoice c : all) assertEquals(all.get(0), c);
        assertEquals(Backend.RING, all.get(0).backend());
        assertTrue(all.get(0).reason().endsWith("SHM unusable: world rank 3's shared-memory directory is not writable"),
                all.get(0).reason());
    }

    @Test
    void shmViewsOnlyMatterOnNodesThatHoldSeveralMembers() {
        ShmView[] views = {new ShmView(ShmView.MISSING, 1), new ShmView(1L << 30, 1L << 20), new ShmView(1L << 30, 1L << 20)};
        // Rank 0 is alone on its node: its missing directory does not stop SHM between 1 and 2.
        assertEquals(null, BackendPolicy.shmProblem(new int[]{0, 1, 2}, new String[]{"a", "b", "b"}, views));
        assertEquals(Backend.HIER, decisionsOfEveryRank(new String[]{"a", "b", "b"}, views).get(0).backend());
        views[2] = new ShmView(ShmView.DISABLED, 1L << 20);
        assertEquals("world rank 2 has shared memory turned off",
                BackendPolicy.shmProblem(new int[]{0, 1, 2}, new String[]{"a", "b", "b"}, views));
        // Segments of every member on the node must fit what each of them saw, whatever their own sizes.
        ShmView[] mixed = {new ShmView(5L << 20, 1L << 20), new ShmView(5L << 20, 4L << 20)};
        assertEquals(null, BackendPolicy.shmProblem(new int[]{4, 7}, new String[]{"a", "a"}, mixed));
        mixed[0] = new ShmView((5L << 20) - 1, 1L << 20);
        assertEquals("world rank 4's shared-memory directory has 5242879 bytes free, 5242880 needed for 2 ranks on its node",
                BackendPolicy.shmProblem(new int[]{4, 7}, new String[]{"a", "a"}, mixed));
    }

    @Test
    void rankListsAreDescribedCompactly() {
        assertEquals("rank 5", BackendPolicy.describeRanks(new int[]{5}));
        assertEquals("ranks 0-3", BackendPolicy.describeRanks(new int[]{3, 1, 2, 0}));
        assertEquals("ranks 0,2,4-6", BackendPolicy.describeRanks(new int[]{0, 2, 4, 5, 6}));
    }
}
