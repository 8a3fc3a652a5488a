package ds.comm.reliability;

import ds.comm.lanes.Reducers;
import ds.comm.shm.ShmCollective;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A new job reclaims segment files whose owner process is gone and never touches a live job's,
 * another user's or another pid namespace's. Files are planted with the header a rank writes
 * first (magic, layout, pid, start time, uid, pid namespace, all big-endian).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@Tag("multiprocess")
class StaleSegmentTest {

    private static final long MAGIC = 0x4453434F4D53484DL;
    private static final long LAYOUT_VERSION = 3;

    private Path dir;
    private Process live;

    @BeforeEach
    void createDirectory() throws IOException {
        dir = Jobs.privateShmDir("stale");
    }

    @AfterEach
    void cleanUp() throws Exception {
        if (live != null) {
            live.destroyForcibly();
            live.waitFor(10, TimeUnit.SECONDS);
        }
        Jobs.deleteTree(dir);
    }

    private static String user() {
        return System.getProperty("user.name").replaceAll("[^A-Za-z0-9_]", "_");
    }

    private static long pidNamespace() throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc/self/ns/pid")).toString();
        return Long.parseLong(link.substring(link.indexOf('[') + 1, link.indexOf(']')));
    }

    private static long uid() throws IOException {
        Path probe = Files.createTempFile("uid", "");
        try {
            return ((Number) Files.getAttribute(probe, "unix:uid")).longValue();
        } finally {
            Files.delete(probe);
        }
    }

    /** A process identity: pid and start time (epoch ms). */
    private record Owner(long pid, long startMillis) {
        static Owner of(ProcessHandle h) {
            return new Owner(h.pid(), h.info().startInstant().orElseThrow().toEpochMilli());
        }
    }

    /** A segment file as a rank of another job leaves it when killed in its open window. */
    private Path plant(String job, Owner owner, long namespace) throws IOException {
        Path f = dir.resolve("dscomm-" + user() + "-" + job + "-w-0");
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.BIG_ENDIAN);
        b.putLong(0, MAGIC).putLong(8, LAYOUT_VERSION).putLong(32, owner.pid()).putLong(40, owner.startMillis())
                .putLong(48, uid()).putLong(96, namespace);
        Files.write(f, b.array());
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    /** A process that ran and is gone (reaped). */
    private static Owner deadProcess() throws Exception {
        Process p = new ProcessBuilder("sleep", "0.05").start();
        Owner o = Owner.of(p.toHandle());
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return o;
    }

    /** Opens a two-rank SHM group in this process (one thread per rank) and closes it. */
    private void runAJob() {
        String token = HexFormat.of().formatHex(new byte[] {1, 2, 3, (byte) System.nanoTime()});
        Settings settings = Settings.defaults().withShmDir(dir).withTimeoutNanos(TimeUnit.SECONDS.toNanos(10));
        List<CompletableFuture<Boolean>> ranks = List.of(0, 1).stream().map(r -> Jobs.onOwnThread(() -> {
            try (ShmCollective c = ShmCollective.open(new GroupSpec("w", token, new int[] {0, 1}, r), settings,
                    Reducers.scalar())) {
                c.barrier();
            }
            return true;
        })).toList();
        ranks.forEach(CompletableFuture::join);
    }

    @Test
    void aSegmentOfADeadOwnerIsReclaimedAndALiveOwnersIsLeftAlone() throws Exception {
        Path dead = plant("deadjob", deadProcess(), pidNamespace());
        live = new ProcessBuilder("sleep", "60").start();
        Path alive = plant("livejob", Owner.of(live.toHandle()), pidNamespace());
        Path otherNamespace = plant("nsjob", deadProcess(), pidNamespace() + 1);
        runAJob();
        assertFalse(Files.exists(dead), "the dead owner's segment must be reclaimed");
        assertTrue(Files.exists(alive), "a live owner's segment must never be touched");
        assertTrue(Files.exists(otherNamespace), "a pid of another pid namespace names nothing here: leave it");
    }

    @Test
    void aSegmentWhosePidWasReusedByAnotherProcessIsReclaimed() throws Exception {
        live = new ProcessBuilder("sleep", "60").start();
        Path f = plant("reused", Owner.of(live.toHandle()), pidNamespace());
        // Same pid, but the recorded owner started a minute earlier: the pid was reused.
        try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) {
            ByteBuffer start = ByteBuffer.allocate(8).order(ByteOrder.BIG_ENDIAN);
            start.putLong(0, live.toHandle().info().startInstant().orElseThrow().toEpochMilli() - 60_000);
            ch.write(start, 40);
        }
        runAJob();
        assertFalse(Files.exists(f));
    }

    @Test
    void anotherUsersSegmentIsNeverTouched() throws Exception {
        Path f = plant("otheruser", deadProcess(), pidNamespace());
        try {
            Files.setAttribute(f, "unix:uid", 65534);
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.abort("cannot chown as this user (not root): " + e);
        }
        runAJob();
        assertTrue(Files.exists(f), "another user's file is not ours to delete");
    }

    @Test
    void aFileTooShortToNameItsOwnerIsReclaimedOnlyWhenOld() throws Exception {
        Path old = dir.resolve("dscomm-" + user() + "-oldjob-w-0");
        Path fresh = dir.resolve("dscomm-" + user() + "-freshjob-w-0");
        Files.write(old, new byte[10]);
        Files.write(fresh, new byte[10]);
        Files.setLastModifiedTime(old, FileTime.fromMillis(System.currentTimeMillis() - 120_000));
        runAJob();
        assertFalse(Files.exists(old), "debris older than a minute is reclaimed");
        assertTrue(Files.exists(fresh), "a file just being created may belong to a live rank");
        assertEquals(List.of(fresh), Jobs.segmentFiles(dir));
    }
}
