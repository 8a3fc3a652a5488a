package ds.comm.shm;

import ds.comm.lanes.Reducers;
import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import ds.comm.testkit.ThreadAllocation;
import ds.comm.topology.ProcessIdentity;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class ShmSegmentLifecycleTest {

    private ShmRanks ranks;

    @BeforeEach
    void createDirectory() throws Exception {
        ranks = new ShmRanks();
    }

    @AfterEach
    void noFilesLeftBehind() throws Exception {
        ranks.close();
    }

    @Test
    void segmentFileIsOwnerOnlyWhileOpeningAndUnlinkedOnceAllRanksMappedIt() throws Exception {
        GroupSpec rank0 = ranks.world("w", 2, 0);
        CompletableFuture<ShmCollective> first = CompletableFuture.supplyAsync(
                () -> ShmCollective.open(rank0, ranks.settings(), Reducers.scalar()));
        Path file = SegmentFile.path(ranks.dir, rank0, 0);
        long deadline = System.nanoTime() + 10_000_000_000L;
        // Rank 0 waits for rank 1 until the timeout, with its file complete (all pages written).
        while (!(Files.exists(file) && Files.size(file) == ShmRanks.SMALL_SHM_BYTES) && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(Files.exists(file), "rank 0 created " + file);
        // dscomm-<user>-<128-bit key>: neither the job token nor the group shows.
        assertTrue(file.getFileName().toString().matches("dscomm-[A-Za-z0-9_]+-[0-9a-f]{32}"), file.toString());
        assertFalse(file.getFileName().toString().contains(ranks.job), file.toString());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(ShmRanks.SMALL_SHM_BYTES, Files.size(file));
        try (ShmCollective second = ShmCollective.open(ranks.world("w", 2, 1), ranks.settings(),
                Reducers.scalar()); ShmCollective c0 = first.get(10, TimeUnit.SECONDS)) {
            assertEquals(List.of(), ranks.files(), "files are unlinked after the open barrier");
            MemorySegment a = MemorySegment.ofArray(new int[] {1, 2, 3});
            MemorySegment b = MemorySegment.ofArray(new int[] {10, 20, 30});
            CompletableFuture<Void> other = CompletableFuture.runAsync(() -> c0.allReduce(a, ElementType.INT32, Combiner.SUM));
            second.allReduce(b, ElementType.INT32, Combiner.SUM);
            other.get(10, TimeUnit.SECONDS);
            assertEquals(-1, a.mismatch(MemorySegment.ofArray(new int[] {11, 22, 33})));
            assertEquals(-1, b.mismatch(a), "the mappings stay valid after the unlink");
        }
    }

    @Test
    void openTimesOutNamingTheWorldRankWhoseSegmentNeverAppeared() {
        GroupSpec lonely = ranks.group("w", new int[] {5, 9, 11}, 0);
        long start = System.nanoTime();
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(lonely, ranks.settings(300), Reducers.scalar()));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(CommFailure.Kind.TIMEOUT, f.kind());
        assertEquals(9, f.peerRank());
        assertTrue(f.getMessage().contains("world 9") && f.getMessage().contains("world 11"), f.getMessage());
        assertTrue(millis >= 300 && millis < 3_000, "failed after " + millis + " ms");
    }

    @Test
    void aPeerWhoseProcessExitedBeforeCreatingItsSegmentIsNamedLongBeforeTheTimeout() throws Exception {
        ProcessIdentity dead = exitedProcess();
        Process sleeper = new ProcessBuilder("sleep", "30").start();
        try {
            ProcessIdentity alive = new ProcessIdentity(sleeper.pid(), ProcessIdentity.startMillisOf(sleeper.toHandle()),
                    ProcessIdentity.ownPidNamespace());
            GroupSpec g = ranks.group("w", new int[] {3, 7, 8}, 0);
            long start = System.nanoTime();
            CommFailure f = assertThrows(CommFailure.class, () -> ShmCollective.open(g, ranks.settings(20_000),
                    Reducers.scalar(), new ProcessIdentity[] {ProcessIdentity.current(), alive, dead}));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertEquals(CommFailure.Kind.PEER_LOST, f.kind(), f.getMessage());
            assertEquals(8, f.peerRank(), "the dead process's rank, not the slow live one's");
            assertTrue(f.getMessage().contains("world 8") && f.getMessage().contains("pid " + dead.pid()), f.getMessage());
            assertTrue(millis < 2_000, "named after " + millis + " ms; the timeout was 20 s");

            // The live but silent one, alone, is waited for until the timeout: its process runs.
            CommFailure t = assertThrows(CommFailure.class, () -> ShmCollective.open(ranks.group("w", new int[] {3, 7}, 0),
                    ranks.settings(400), Reducers.scalar(), new ProcessIdentity[] {ProcessIdentity.current(), alive}));
            assertEquals(CommFailure.Kind.TIMEOUT, t.kind(), t.getMessage());
            // A pid in another (or unknown) namespace means nothing here: never judged gone.
            CommFailure u = assertThrows(CommFailure.class, () -> ShmCollective.open(ranks.group("w", new int[] {3, 8}, 0),
                    ranks.settings(400), Reducers.scalar(), new ProcessIdentity[] {ProcessIdentity.current(),
                            new ProcessIdentity(dead.pid(), dead.startMillis(), dead.pidNamespace() + 1)}));
            assertEquals(CommFailure.Kind.TIMEOUT, u.kind(), u.getMessage());
        } finally {
            sleeper.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRankArrivingAfterASurvivorFailedItsOpenNamesTheLostRankNotTheSurvivor() throws Exception {
        // World 8 dies before creating its segment; world 3 finds out, fails its open and (in a
        // real job) exits. World 7 comes later and sees both 3 and 8 gone: only 3's verdict,
        // left in its segment while it lingers, says which one was lost.
        ProcessIdentity dead = exitedProcess();
        int[] members = {3, 7, 8};
        GroupSpec first = ranks.group("w", members, 0);
        CompletableFuture<CommFailure> firstFailure = CompletableFuture.supplyAsync(() -> assertThrows(CommFailure.class,
                () -> ShmCollective.open(first, ranks.settings(20_000), Reducers.scalar(),
                        new ProcessIdentity[] {ProcessIdentity.current(), ProcessIdentity.current(), dead})));
        Path firstFile = SegmentFile.path(ranks.dir, first, 0);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!failedOnDisk(firstFile) && System.nanoTime() < deadline) Thread.sleep(1);
        assertTrue(failedOnDisk(firstFile), "world 3 marked its segment FAILED");

        // World 7's view: world 3's process is gone too (the dead pid stands for it).
        long start = System.nanoTime();
        CommFailure late = assertThrows(CommFailure.class, () -> ShmCollective.open(ranks.group("w", members, 1),
                ranks.settings(20_000), Reducers.scalar(), new ProcessIdentity[] {dead, ProcessIdentity.current(), dead}));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(CommFailure.Kind.PEER_LOST, late.kind(), late.getMessage());
        assertEquals(8, late.peerRank(), late.getMessage());
        assertTrue(late.getMessage().contains("reported by group rank 0, world 3"), late.getMessage());
        assertTrue(millis < 2_000, "named after " + millis + " ms");

        CommFailure early = firstFailure.get(10, TimeUnit.SECONDS);
        assertEquals(CommFailure.Kind.PEER_LOST, early.kind(), early.getMessage());
        assertEquals(8, early.peerRank(), early.getMessage());
        assertFalse(Files.exists(firstFile), "the failed rank unlinked its file after lingering");
    }

    /** The identity of a process of this pid namespace that has exited. */
    private static ProcessIdentity exitedProcess() throws Exception {
        Process quick = new ProcessBuilder("true").start();
        ProcessIdentity dead = new ProcessIdentity(quick.pid(), ProcessIdentity.startMillisOf(quick.toHandle()),
                ProcessIdentity.ownPidNamespace());
        assertTrue(quick.waitFor(10, TimeUnit.SECONDS));
        return dead;
    }

    /** Whether the segment file exists and its STATE word says FAILED. */
    private static boolean failedOnDisk(Path file) throws IOException {
        if (!Files.exists(file) || Files.size(file) < ShmRanks.SMALL_SHM_BYTES) return false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena a = Arena.ofConfined()) {
            MemorySegment s = ch.map(FileChannel.MapMode.READ_ONLY, 0, ShmRanks.SMALL_SHM_BYTES, a);
            return SegmentDescriptor.stateAcquire(s) == SegmentDescriptor.STATE_FAILED;
        } catch (IOException e) {
            return false;   // unlinked between the two looks
        }
    }

    @Test
    void collectiveTimesOutNamingThePeerThatNeverArrived() throws Exception {
        CountDownLatch failed = new CountDownLatch(1);
        List<CommFailure> failures = ShmRanks.onThreads(2, 20_000, rank -> {
            GroupSpec g = ranks.group("w", new int[] {4, 6}, rank);
            try (ShmCollective c = ShmCollective.open(g, ranks.settings(400), Reducers.scalar())) {
                if (rank == 1) {
                    assertTrue(failed.await(10, TimeUnit.SECONDS)); // never calls the collective
                    return null;
                }
                long start = System.nanoTime();
                CommFailure f = assertThrows(CommFailure.class,
                        () -> c.allReduce(MemorySegment.ofArray(new float[16]), ElementType.FP32, Combiner.SUM));
                long millis = (System.nanoTime() - start) / 1_000_000;
                failed.countDown();
                assertTrue(millis >= 400 && millis < 3_000, "failed after " + millis + " ms");
                CommFailure again = assertThrows(CommFailure.class, c::barrier);
                assertEquals(CommFailure.Kind.ABORTED, again.kind(), "a failed communicator refuses further calls");
                return f;
            } finally {
                failed.countDown();
            }
        });
        CommFailure f = failures.get(0);
        assertEquals(CommFailure.Kind.TIMEOUT, f.kind());
        assertEquals(6, f.peerRank());
        assertTrue(f.getMessage().contains("world ranks [6]") && f.getMessage().contains("allReduce(fp32, sum, 64 bytes"),
                f.getMessage());
    }

    @Test
    void aClosedPeerFailsItsWaitingPeersFastInsteadOfAtTheTimeout() throws Exception {
        List<CommFailure> failures = ShmRanks.onThreads(2, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), ranks.settings(15_000),
                    Reducers.scalar())) {
                if (rank == 1) return null;
                Thread.sleep(50);
                long start = System.nanoTime();
                CommFailure f = assertThrows(CommFailure.class, c::barrier);
                assertTrue(System.nanoTime() - start < 5_000_000_000L, "did not wait for the timeout");
                return f;
            }
        });
        assertEquals(CommFailure.Kind.PEER_LOST, failures.get(0).kind());
        assertEquals(1, failures.get(0).peerRank());
    }

    @Test
    void mismatchedCollectivesFailOnEveryRankNamingWhatDiffers() throws Exception {
        List<CommFailure> failures = ShmRanks.onThreads(2, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), ranks.settings(5_000),
                    Reducers.scalar())) {
                MemorySegment buf = MemorySegment.ofArray(new float[32]);
                Combiner op = rank == 0 ? Combiner.SUM : Combiner.MAX;
                return assertThrows(CommFailure.class, () -> c.allReduce(buf, ElementType.FP32, op));
            }
        });
        for (int r = 0; r < 2; r++) {
            CommFailure f = failures.get(r);
            assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
            assertEquals(1 - r, f.peerRank());
            assertTrue(f.getMessage().contains("reduction op differs"), f.getMessage());
        }
        List<CommFailure> kinds = ShmRanks.onThreads(2, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("k", 2, rank), ranks.settings(5_000),
                    Reducers.scalar())) {
                MemorySegment buf = MemorySegment.ofArray(new float[32]);
                return assertThrows(CommFailure.class, () -> {
                    if (rank == 0) c.broadcast(buf, 0);
                    else c.allReduce(buf, ElementType.FP32, Combiner.SUM);
                });
            }
        });
        assertTrue(kinds.get(1).getMessage().contains("called broadcast(root 0, 128 bytes"), kinds.get(1).getMessage());
        assertTrue(kinds.get(1).getMessage().contains("collective differs"), kinds.get(1).getMessage());
    }

    /** What two ranks of a fresh group call; each must fail with MISMATCH naming {@code field}. */
    private void assertMismatchOnBothRanks(String group, String field, ShmCallOf call) throws Exception {
        List<CommFailure> failures = ShmRanks.onThreads(2, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world(group, 2, rank), ranks.settings(5_000),
                    Reducers.scalar())) {
                return assertThrows(CommFailure.class, () -> call.run(c, rank));
            }
        });
        for (int r = 0; r < 2; r++) {
            CommFailure f = failures.get(r);
            assertEquals(CommFailure.Kind.MISMATCH, f.kind(), f.getMessage());
            assertEquals(1 - r, f.peerRank(), f.getMessage());
            assertTrue(f.getMessage().contains(field + " differs"), f.getMessage());
        }
    }

    /** One rank's side of a mismatched call. */
    private interface ShmCallOf {
        void run(ShmCollective c, int rank);
    }

    @Test
    void anotherByteCountOnTheOneStepPathIsAMismatch() throws Exception {
        // Both counts are one-step (<= 256 bytes), so the plans agree: only the byte count differs.
        assertMismatchOnBothRanks("countsmall", "byte count", (c, rank) ->
                c.allReduce(MemorySegment.ofArray(new float[rank == 0 ? 32 : 16]), ElementType.FP32, Combiner.SUM));
    }

    @Test
    void anotherByteCountOnTheChunkedPathIsAMismatch() throws Exception {
        // 3 and 4 chunks of 1 KiB (both chunked, same plan): only the byte count differs.
        assertMismatchOnBothRanks("countlarge", "byte count", (c, rank) ->
                c.allReduce(MemorySegment.ofArray(new float[rank == 0 ? 700 : 900]), ElementType.FP32, Combiner.SUM));
        assertMismatchOnBothRanks("countgather", "byte count", (c, rank) ->
                c.allGather(MemorySegment.ofArray(new int[rank == 0 ? 8 : 9]), MemorySegment.ofArray(new int[18]),
                        ElementType.INT32));
    }

    @Test
    void anotherElementTypeOfTheSameSizeIsAMismatch() throws Exception {
        assertMismatchOnBothRanks("dtype", "element type", (c, rank) ->
                c.allReduce(MemorySegment.ofArray(new int[32]), rank == 0 ? ElementType.FP32 : ElementType.INT32,
                        Combiner.SUM));
        assertMismatchOnBothRanks("dtype16", "element type", (c, rank) ->
                c.allReduce(MemorySegment.ofArray(new short[64]), rank == 0 ? ElementType.BF16 : ElementType.FP16,
                        Combiner.SUM));
    }

    @Test
    void anotherBroadcastRootIsAMismatch() throws Exception {
        assertMismatchOnBothRanks("root", "root", (c, rank) -> c.broadcast(MemorySegment.ofArray(new byte[100]), rank));
    }

    @Test
    void differentChunkSettingsAreAMismatchNotSilentCorruption() throws Exception {
        List<CommFailure> failures = ShmRanks.onThreads(2, 20_000, rank -> {
            Settings s = ranks.settings(5_000);
            Settings mine = rank == 0 ? s : new Settings(s.timeoutNanos(), s.idle(), s.shmDir(), s.shmBytes(),
                    s.smallMessageBytes(), 2048, s.peerLostNanos());
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), mine, Reducers.scalar())) {
                MemorySegment buf = MemorySegment.ofArray(new double[1000]);
                return assertThrows(CommFailure.class, () -> c.allReduce(buf, ElementType.FP64, Combiner.SUM));
            }
        });
        assertEquals(CommFailure.Kind.MISMATCH, failures.get(0).kind());
        assertTrue(failures.get(0).getMessage().contains("plan"), failures.get(0).getMessage());
    }

    @Test
    void aReducerFailureLeavesTheCommunicatorAbortedForLaterCalls() throws Exception {
        ds.comm.lanes.Reducer refusing = new ds.comm.lanes.Reducer() {
            @Override
            public void reduce(ElementType type, Combiner op, MemorySegment dst, long dstOffset, MemorySegment[] src,
                               long[] srcOffset, int k, long count) {
                throw new UnsupportedOperationException("no " + op + " for " + type);
            }

            @Override
            public int vectorBits() {
                return 0;
            }
        };
        ShmRanks.onThreads(2, 20_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), ranks.settings(5_000), refusing)) {
                MemorySegment buf = MemorySegment.ofArray(new int[4]);
                assertThrows(UnsupportedOperationException.class, () -> c.allReduce(buf, ElementType.INT32, Combiner.PROD));
                CommFailure f = assertThrows(CommFailure.class, c::barrier);
                assertEquals(CommFailure.Kind.ABORTED, f.kind());
                assertTrue(f.getMessage().contains("no PROD for INT32"), f.getMessage());
            }
            return null;
        });
    }

    @Test
    void aForeignFileAtAPeersNameIsRefused() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path peer = SegmentFile.path(ranks.dir, g, 1);
        writeSegmentFile(peer, "rw-------", s -> SegmentDescriptor.setWord(s, SegmentDescriptor.MAGIC_OFFSET, 0x1234));
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(g, ranks.settings(5_000), Reducers.scalar()));
        assertEquals(CommFailure.Kind.SETUP, f.kind());
        assertTrue(f.getMessage().contains("refusing segment file " + peer) && f.getMessage().contains("magic"),
                f.getMessage());
        Files.delete(peer);
    }

    @Test
    void aSegmentOfAnotherJobIsRefused() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path peer = SegmentFile.path(ranks.dir, g, 1);
        writeSegmentFile(peer, "rw-------", s -> SegmentDescriptor.setWord(s, SegmentDescriptor.JOB_HASH_OFFSET, 42));
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(g, ranks.settings(5_000), Reducers.scalar()));
        assertTrue(f.getMessage().contains("job token hash is 0x2a"), f.getMessage());
        Files.delete(peer);
    }

    @Test
    void aSegmentOthersCanWriteIsRefused() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path peer = SegmentFile.path(ranks.dir, g, 1);
        writeSegmentFile(peer, "rw-rw-rw-", s -> { });
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(g, ranks.settings(5_000), Reducers.scalar()));
        assertTrue(f.getMessage().contains("mode rw-rw-rw-"), f.getMessage());
        Files.delete(peer);
    }

    @Test
    void aSymlinkAtAPeersNameIsNotFollowed() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path peer = SegmentFile.path(ranks.dir, g, 1);
        Path real = ranks.dir.resolve("elsewhere");
        writeSegmentFile(real, "rw-------", s -> { });
        Files.createSymbolicLink(peer, real);
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(g, ranks.settings(5_000), Reducers.scalar()));
        assertEquals(CommFailure.Kind.SETUP, f.kind());
        assertTrue(f.getMessage().contains("cannot open peer segment " + peer), f.getMessage());
        Files.delete(peer);
        Files.delete(real);
    }

    @Test
    void anExistingFileAtOurOwnNameIsReportedAndLeftAlone() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path mine = SegmentFile.path(ranks.dir, g, 0);
        Files.writeString(mine, "somebody else's");
        CommFailure f = assertThrows(CommFailure.class,
                () -> ShmCollective.open(g, ranks.settings(5_000), Reducers.scalar()));
        assertEquals(CommFailure.Kind.SETUP, f.kind());
        assertTrue(f.getMessage().contains("already exists"), f.getMessage());
        assertEquals("somebody else's", Files.readString(mine));
        Files.delete(mine);
    }

    @Test
    void anExistingFileOfOurOwnAtOurNameIsCalledALeftoverOfThisUser() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path mine = SegmentFile.path(ranks.dir, g, 0);
        Files.writeString(mine, "ours");
        try (Arena arena = Arena.ofConfined()) {
            CommFailure f = assertThrows(CommFailure.class,
                    () -> SegmentFile.createAllocated(mine, ShmRanks.SMALL_SHM_BYTES, g, arena));
            assertTrue(f.getMessage().contains("is this user's") && f.getMessage().contains("crashed run"), f.getMessage());
        }
        Files.delete(mine);
    }

    /** Chowns {@code f} to uid 65534 as root would see another user's file; skips where that is not allowed. */
    private static void ownedByAnotherUser(Path f) throws IOException {
        try {
            Files.setAttribute(f, "unix:uid", 65534);
        } catch (IOException e) {
            ds.comm.testkit.RequiredEnvironment.skip("cannot chown as this user (not root): " + e);
        }
    }

    @Test
    void anotherUsersFileAtOurNameIsNamedWithItsOwnerNotCalledALeftover() throws Exception {
        GroupSpec g = ranks.world("w", 2, 0);
        Path planted = SegmentFile.path(ranks.dir, g, 0);
        Files.writeString(planted, "planted");
        ownedByAnotherUser(planted);
        try (Arena arena = Arena.ofConfined()) {
            CommFailure f = assertThrows(CommFailure.class,
                    () -> SegmentFile.createAllocated(planted, ShmRanks.SMALL_SHM_BYTES, g, arena));
            assertTrue(f.getMessage().contains("created by uid 65534"), f.getMessage());
            assertFalse(f.getMessage().contains("crashed"), f.getMessage());
        }
        Files.delete(planted);
    }

    @Test
    void filesPlantedByAnotherUserAtEveryRanksFirstNameCannotStopTheGroup() throws Exception {
        List<Path> planted = new java.util.ArrayList<>();
        for (int r = 0; r < 3; r++) {
            // Mode 0600 and a full-size file: it looks like a segment in every way but its owner.
            Path p = SegmentFile.path(ranks.dir, ranks.world("w", 3, r), r);
            writeSegmentFile(p, "rw-------", s -> { });
            ownedByAnotherUser(p);
            planted.add(p);
        }
        try (ds.comm.testkit.LogCapture log = ds.comm.testkit.LogCapture.start()) {
            List<Long> sums = ShmRanks.onThreads(3, 20_000, rank -> {
                try (ShmCollective c = ShmCollective.open(ranks.world("w", 3, rank), ranks.settings(10_000),
                        Reducers.scalar())) {
                    MemorySegment b = MemorySegment.ofArray(new long[] {rank + 1L});
                    c.allReduce(b, ElementType.INT64, Combiner.SUM);
                    return b.get(java.lang.foreign.ValueLayout.JAVA_LONG, 0);
                }
            });
            assertEquals(List.of(6L, 6L, 6L), sums);
            assertTrue(log.warnings().stream().filter(w -> w.contains("created by uid 65534")).count() >= 3,
                    log.warnings().toString());
        }
        for (Path p : planted) {
            assertTrue(Files.exists(p), "another user's file is not ours to delete");
            Files.delete(p);
        }
    }

    @Test
    void segmentNamesHideTheTokenAndNoRanksOrGroupsNameFollowsFromAnother() {
        java.util.Set<String> keys = new java.util.HashSet<>();
        for (String group : List.of("w", "w.s1c0", "w.s1c1", "w.n0")) {
            for (int r = 0; r < 4; r++) {
                for (int k = 0; k < SegmentFile.NAME_ALTERNATES; k++) {
                    String name = SegmentFile.path(ranks.dir, ranks.world(group, 4, r), r, k).getFileName().toString();
                    assertFalse(name.contains(ranks.job) || name.contains(group + "-"), name);
                    String key = name.substring(name.lastIndexOf('-') + 1);
                    assertTrue(key.matches("[0-9a-f]{32}"), name);
                    assertTrue(keys.add(key.substring(0, 8)), "two names share a prefix: " + key);
                }
            }
        }
        // Another job's token gives other names for the same group and rank.
        GroupSpec other = new GroupSpec("w", ranks.job + "0", new int[] {0, 1}, 0);
        assertFalse(keys.contains(SegmentFile.nameKey(other, 0, 0).substring(0, 8)));
    }

    @Test
    void aFullDirectoryFailsAtOpenNamingBytesNeededAndAvailable() throws Exception {
        try (Tmpfs small = Tmpfs.mount(ranks.dir.resolve("small"), "256k")) {
            Settings s = settingsIn(small.dir(), 1L << 20);
            CommFailure f = assertThrows(CommFailure.class,
                    () -> ShmCollective.open(ranks.world("w", 2, 0), s, Reducers.scalar()));
            assertEquals(CommFailure.Kind.SETUP, f.kind());
            assertTrue(f.getMessage().contains("needs 1048576 bytes, 262144 bytes available"), f.getMessage());
            assertEquals(List.of(), small.files());
        }
    }

    @Test
    void runningOutOfSpaceWhileAllocatingIsASetupFailureNotASigbus() throws Exception {
        // Another process may take the space between the free-space check and the allocation;
        // the page writes must then fail with a SETUP naming the bytes, and leave no partial file.
        try (Tmpfs small = Tmpfs.mount(ranks.dir.resolve("small"), "256k"); Arena arena = Arena.ofShared()) {
            GroupSpec g = ranks.world("w", 2, 0);
            Path path = SegmentFile.path(small.dir(), g, 0);
            CommFailure f = assertThrows(CommFailure.class,
                    () -> SegmentFile.createAllocated(path, 1L << 20, g, arena));
            assertEquals(CommFailure.Kind.SETUP, f.kind());
            assertTrue(f.getMessage().contains("needs 1048576 bytes, 0 bytes available"), f.getMessage());
            assertTrue(f.getCause() instanceof IOException, "caused by ENOSPC: " + f.getCause());
            assertEquals(List.of(), small.files());
        }
    }

    @Test
    void eightRanksWithDefaultSegmentsFitIn64MegabytesOfTmpfs() throws Exception {
        try (Tmpfs tmpfs = Tmpfs.mount(ranks.dir.resolve("node"), "64m")) {
            Settings d = Settings.defaults();
            Settings s = new Settings(20_000_000_000L, ranks.settings().idle(), tmpfs.dir(), d.shmBytes(),
                    d.smallMessageBytes(), d.chunkBytes(), d.peerLostNanos());
            ShmRanks.onThreads(8, 30_000, rank -> {
                try (ShmCollective c = ShmCollective.open(ranks.world("w", 8, rank), s, Reducers.scalar())) {
                    MemorySegment buf = MemorySegment.ofArray(new long[1 << 14]); // 128 KiB: chunked path
                    buf.fill((byte) 1);
                    c.allReduce(buf, ElementType.INT64, Combiner.SUM);
                    assertEquals(8 * 0x0101010101010101L, buf.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 12345));
                }
                return null;
            });
            assertEquals(List.of(), tmpfs.files());
        }
    }

    @Test
    void closeIsIdempotentAndLaterCallsAreRefused() throws Exception {
        ShmRanks.onThreads(2, 20_000, rank -> {
            ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), ranks.settings(), Reducers.scalar());
            c.barrier();
            c.close();
            c.close();
            CommFailure f = assertThrows(CommFailure.class, c::barrier);
            assertEquals(CommFailure.Kind.ABORTED, f.kind());
            return null;
        });
    }

    @Test
    void aGroupCanBeOpenedAgainAfterItWasClosed() throws Exception {
        ShmRanks.onThreads(3, 20_000, rank -> {
            for (int round = 1; round <= 3; round++) {
                try (ShmCollective c = ShmCollective.open(ranks.world("w", 3, rank), ranks.settings(),
                        Reducers.scalar())) {
                    MemorySegment buf = MemorySegment.ofArray(new int[] {round});
                    c.allReduce(buf, ElementType.INT32, Combiner.SUM);
                    assertEquals(3 * round, buf.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 0));
                }
            }
            return null;
        });
    }

    @Test
    @Timeout(150)
    void smallAndChunkedCollectivesAllocateNothingPerCall() throws Exception {
        // 8000 hand-offs between two threads: 6 s alone, but once 30 s on a 2-core machine also
        // running emulated JVMs. The deadline is a hang guard, not a speed test.
        List<Long> allocated = ShmRanks.onThreads(2, 120_000, rank -> {
            try (ShmCollective c = ShmCollective.open(ranks.world("w", 2, rank), ranks.settings(),
                    Reducers.scalar()); Arena arena = Arena.ofConfined()) {
                MemorySegment small = arena.allocate(64, 64);
                MemorySegment large = arena.allocate(3000 * 4, 64);
                MemorySegment gathered = arena.allocate(2 * 64, 64);
                // Blocks above BulkCopy.MIN_BYTES: staged and copied out with memmove.
                MemorySegment blocks = arena.allocate(2 * BulkCopy.MIN_BYTES + 128, 64);
                MemorySegment exchanged = arena.allocate(blocks.byteSize(), 64);
                for (int i = 0; i < 3000; i++) { // warm up: let the JIT compile the loop
                    c.allReduce(small, ElementType.FP32, Combiner.SUM);
                    if (i % 10 == 0) c.allReduce(large, ElementType.FP32, Combiner.MAX);
                    if (i % 10 == 5) c.allToAll(blocks, exchanged, ElementType.FP32);
                }
                long before = ThreadAllocation.allocatedBytes();
                for (int i = 0; i < 1000; i++) {
                    c.allReduce(small, ElementType.FP32, Combiner.SUM);
                    c.allReduce(large, ElementType.FP32, Combiner.MAX);
                    c.allGather(small, gathered, ElementType.FP32);
                    c.broadcast(small, 1);
                    c.barrier();
                    c.allToAll(blocks, exchanged, ElementType.FP32);
                }
                return ThreadAllocation.allocatedBytes() - before;
            }
        });
        // 6000 calls: even one 16-byte object per call would be 96 000 bytes.
        for (int r = 0; r < 2; r++) {
            assertTrue(allocated.get(r) < 8_000, "rank " + r + " allocated " + allocated.get(r) + " bytes in 6000 calls");
        }
    }

    @Test
    void tooSmallSegmentsAreRejectedUpFront() {
        Settings s = settingsIn(ranks.dir, SegmentDescriptor.MIN_SEGMENT_BYTES - 1);
        assertThrows(IllegalArgumentException.class,
                () -> ShmCollective.open(ranks.world("w", 2, 0), s, Reducers.scalar()));
    }

    private Settings settingsIn(Path dir, long shmBytes) {
        Settings t = ranks.settings(2_000);
        return new Settings(t.timeoutNanos(), t.idle(), dir, shmBytes, t.smallMessageBytes(), t.chunkBytes(),
                t.peerLostNanos());
    }

    /** Writes a complete, READY segment file for rank 1 of group "w" of 2, then lets {@code edit} spoil it. */
    private void writeSegmentFile(Path path, String mode, java.util.function.Consumer<MemorySegment> edit)
            throws IOException {
        long bytes = ShmRanks.SMALL_SHM_BYTES;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            ch.write(java.nio.ByteBuffer.allocate((int) bytes));
            MemorySegment s = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            long uid = ((Number) Files.getAttribute(path, "unix:uid")).longValue();
            SegmentDescriptor.setWord(s, SegmentDescriptor.MAGIC_OFFSET, SegmentDescriptor.MAGIC);
            SegmentDescriptor.setWord(s, SegmentDescriptor.VERSION_OFFSET, SegmentDescriptor.LAYOUT_VERSION);
            SegmentDescriptor.setWord(s, SegmentDescriptor.SEGMENT_BYTES_OFFSET, bytes);
            SegmentDescriptor.setWord(s, SegmentDescriptor.AREA_BYTES_OFFSET, SegmentDescriptor.areaBytes(bytes));
            SegmentDescriptor.setWord(s, SegmentDescriptor.UID_OFFSET, uid);
            SegmentDescriptor.setWord(s, SegmentDescriptor.JOB_HASH_OFFSET, SegmentDescriptor.fnv1a64(ranks.job));
            SegmentDescriptor.setWord(s, SegmentDescriptor.GROUP_HASH_OFFSET, SegmentDescriptor.fnv1a64("w"));
            SegmentDescriptor.setWord(s, SegmentDescriptor.GROUP_RANK_OFFSET, 1);
            SegmentDescriptor.setWord(s, SegmentDescriptor.GROUP_SIZE_OFFSET, 2);
            SegmentDescriptor.setByteOrderMark(s);
            edit.accept(s);
            SegmentDescriptor.readyRelease(s);
        }
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(mode));
    }

    /** A small tmpfs mounted for one test (needs root; the test is skipped where mounting is not allowed). */
    record Tmpfs(Path dir) implements AutoCloseable {

        static Tmpfs mount(Path dir, String size) throws Exception {
            Files.createDirectories(dir);
            int rc = run("mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs", dir.toString());
            if (rc != 0) Files.delete(dir);
            ds.comm.testkit.RequiredEnvironment.assumeAvailable(rc == 0, "cannot mount a tmpfs here (not root?)");
            return new Tmpfs(dir);
        }

        List<Path> files() throws IOException {
            try (var s = Files.list(dir)) {
                return s.toList();
            }
        }

        @Override
        public void close() throws Exception {
            run("umount", dir.toString());
            Files.delete(dir);
        }

        private static int run(String... command) throws Exception {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                return -1;
            }
            return p.exitValue();
        }
    }
}
