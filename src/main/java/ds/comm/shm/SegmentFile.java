package ds.comm.shm;

import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.topology.ProcessIdentity;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

import static ds.comm.shm.SegmentDescriptor.*;

/**
 * Naming, creation, allocation, mapping and verification of one rank's segment file.
 *
 * <p>Files live in the settings' directory (normally {@code /dev/shm}, a tmpfs) as
 * {@code dscomm-<user>-<key>}, where the key is 128 bits of HMAC-SHA256, keyed with the job
 * token, over the group name, the rank and an alternate number. The user keeps two users' jobs
 * apart on a shared node (and lets a job find its own stale files); the key is unguessable:
 * the token is random and known only to the job's ranks (from the authenticated rendezvous
 * table, or from MPI), and one rank's name tells nothing about another's, so another user who
 * watches {@code /dev/shm} cannot create a sibling rank's or a split group's file first.
 * Should a file of another user sit at a rank's name all the same, the rank takes its next
 * alternate name ({@link #NAME_ALTERNATES} in all) and its peers look there: a planted file is
 * named (with its owner's uid) in a WARNING and cannot stop the job.
 *
 * <p><b>Why every page is written at creation.</b> A tmpfs file grows lazily: {@code
 * ftruncate} or a single write at the end only creates a hole, and the first touch of a page
 * that tmpfs cannot back raises SIGBUS in the middle of a collective, which kills the JVM.
 * Writing zeros over the whole file makes tmpfs commit every page now, so a full
 * {@code /dev/shm} fails here with ENOSPC, which we report with the bytes needed and available.
 * <p><b>Trust.</b> A peer's file is used only if this user owns it, its mode is 0600, its size
 * is exactly ours and every header word matches what this rank expects (magic, layout, sizes,
 * uid, job and group hashes, rank, group size, byte order). The two lengths in the header are
 * compared, never used: every offset this backend computes comes from its own settings, and
 * the memory-segment API bounds-checks each access on top of that.
 *
 * <p>Measured on the (shared, 2-core) development VM: 1.6 ms for the default 4 MiB at best, about
 * 0.4 ms per MiB, most of it the kernel allocating and zeroing pages, which {@code fallocate}
 * would pay as well; paid once per rank and communicator at open.
 */
final class SegmentFile {

    private static final Set<PosixFilePermission> OWNER_ONLY =
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_ATTRIBUTE =
            PosixFilePermissions.asFileAttribute(OWNER_ONLY);
    private static final int ZERO_BLOCK = 64 << 10;
    private static final System.Logger LOG = System.getLogger(SegmentFile.class.getName());
    private static final byte[] NAME_LABEL = "ds-comm segment name".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** Names a rank tries, in order, when files of other users take the earlier ones. */
    static final int NAME_ALTERNATES = 4;

    private SegmentFile() {
    }

    /** The first name of group rank {@code rank}'s file. */
    static Path path(Path dir, GroupSpec group, int rank) {
        return path(dir, group, rank, 0);
    }

    /** Name number {@code alternate} (0 first) of group rank {@code rank}'s file. */
    static Path path(Path dir, GroupSpec group, int rank, int alternate) {
        return dir.resolve("dscomm-" + sanitizedUser() + "-" + nameKey(group, rank, alternate));
    }

    /** 32 hex digits: HMAC-SHA256(job token; label, group name, rank, alternate), cut to 128 bits. */
    static String nameKey(GroupSpec group, int rank, int alternate) {
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
            mac.init(new javax.crypto.spec.SecretKeySpec(
                    group.jobToken().getBytes(java.nio.charset.StandardCharsets.US_ASCII), "HmacSHA256"));
            mac.update(NAME_LABEL);
            mac.update((byte) 0);
            mac.update(group.name().getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            mac.update(ByteBuffer.allocate(9).put((byte) 0).putInt(rank).putInt(alternate).array());
            return java.util.HexFormat.of().formatHex(mac.doFinal(), 0, 16);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /** Where this rank's segment was created, and its mapping. */
    record Placed(Path path, MemorySegment segment) {
    }

    /**
     * Creates this rank's file at the first of its names that no other user has taken; a name
     * taken by another user is reported in a WARNING and skipped.
     */
    static Placed createOwn(Path dir, long bytes, GroupSpec group, Arena arena) {
        int rank = group.myIndex();
        StringBuilder taken = new StringBuilder();
        for (int k = 0; k < NAME_ALTERNATES; k++) {
            Path p = path(dir, group, rank, k);
            long available = usableSpace(dir, group);
            if (available < bytes) {
                throw noSpace(p, bytes, available, group, null);
            }
            MemorySegment s = createAt(p, bytes, group, arena);
            if (s != null) {
                return new Placed(p, s);
            }
            String why = plantedBy(p);
            LOG.log(System.Logger.Level.WARNING, "ds-comm group " + group.name() + " rank " + rank + ": " + why
                    + "; using the next name");
            taken.append(taken.isEmpty() ? "" : "; ").append(why);
        }
        throw setup(group, "every one of the " + NAME_ALTERNATES + " names of this rank's segment is taken by another"
                + " user's file (" + taken + "): another user knows this job's token", null);
    }

    /** The user name, reduced to {@code [A-Za-z0-9_]} so that it is safe in a file name. */
    static String sanitizedUser() {
        String user = System.getProperty("user.name", "");
        StringBuilder b = new StringBuilder(user.length());
        for (int i = 0; i < user.length(); i++) {
            char c = user.charAt(i);
            boolean safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            b.append(safe ? c : '_');
        }
        return b.isEmpty() ? "_" : b.toString();
    }

    /**
     * Creates the file at {@code path} exclusively with mode 0600, commits every page, maps it
     * and writes the header, READY last. Fails naming the owner when another user's file is at
     * the name ({@link #createOwn} moves on to the next name instead).
     *
     * @return the mapped segment, owned by {@code arena}
     */
    static MemorySegment createAllocated(Path path, long bytes, GroupSpec group, Arena arena) {
        MemorySegment s = createAt(path, bytes, group, arena);
        if (s == null) {
            throw setup(group, plantedBy(path), null);
        }
        return s;
    }

    /** What to say about a file of another user at our name. */
    private static String plantedBy(Path path) {
        long owner = ownerOf(path);
        return "segment file " + path + " already exists and was created by "
                + ds.comm.topology.SocketOwner.describeUid(owner) + ", another user (not a leftover of this user's"
                + " jobs; it cannot be removed by this user)";
    }

    /** The file's owner, or -1 when it vanished or cannot be read. */
    private static long ownerOf(Path path) {
        try {
            return ((Number) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * {@link #createAllocated}'s work, null when a file of another user is at the name. The
     * free-space pre-check of {@link #createOwn} only gives the friendlier early message: another
     * process can take the space between check and allocation, and then the page writes here
     * fail with ENOSPC, reported the same way.
     */
    private static MemorySegment createAt(Path path, long bytes, GroupSpec group, Arena arena) {
        Path dir = path.getParent();
        FileChannel channel;
        try {
            channel = FileChannel.open(path,
                    EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE),
                    OWNER_ONLY_ATTRIBUTE);
        } catch (FileAlreadyExistsException e) {
            long owner = ownerOf(path);
            long self = ds.comm.topology.SocketOwner.ownUid();
            if (owner >= 0 && self >= 0 && owner != self) {
                return null;
            }
            throw setup(group, "segment file " + path + " already exists and is this user's: a communicator with the"
                    + " same job token, group and rank is open, or a crashed run of this job left it behind (remove it)", e);
        } catch (NoSuchFileException e) {
            throw setup(group, "shared-memory directory " + dir + " does not exist", e);
        } catch (IOException e) {
            throw setup(group, "cannot create segment file " + path + ": " + e, e);
        } catch (UnsupportedOperationException e) {
            throw setup(group, "the file system of " + dir + " has no POSIX permissions; segments must be 0600", e);
        }
        // From here on the file is ours: whatever fails removes it.
        try (channel) {
            try {
                // Owner words first, through the channel: a rank killed while the pages are
                // being committed leaves a file that names its dead owner, so the next job on
                // this node can reclaim it (reclaimStale) instead of guessing from its age.
                writeIdentity(channel, group, ownUid(path, group));
                commitEveryPage(channel, bytes);
            } catch (IOException e) {
                throw noSpace(path, bytes, usableSpace(dir, group), group, e);
            }
            MemorySegment segment = channel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            writeHeader(segment, bytes, group, ownUid(path, group));
            return segment;
        } catch (IOException | RuntimeException e) {
            deleteQuietly(path);
            if (e instanceof CommFailure f) throw f;
            throw setup(group, "cannot map segment file " + path + ": " + e, e);
        }
    }

    /** Magic, layout version, pid, start time, uid and pid namespace, before any other byte. */
    private static void writeIdentity(FileChannel channel, GroupSpec group, long uid) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) IDENTITY_BYTES).order(java.nio.ByteOrder.BIG_ENDIAN);
        ProcessIdentity self = ProcessIdentity.current();
        b.putLong((int) MAGIC_OFFSET, MAGIC).putLong((int) VERSION_OFFSET, LAYOUT_VERSION)
                .putLong((int) PID_OFFSET, self.pid())
                .putLong((int) START_MILLIS_OFFSET, self.startMillis())
                .putLong((int) UID_OFFSET, uid).putLong((int) PID_NAMESPACE_OFFSET, self.pidNamespace());
        while (b.hasRemaining()) {
            channel.write(b, b.position());
        }
    }

    /** Bytes at the start of a segment that name its owner (the header line without READY). */
    static final long IDENTITY_BYTES = LINE;

    /** A file without a readable owner this old (never a live open window) is debris. */
    static final long UNOWNED_STALE_MILLIS = 60_000;

    /** Most directory entries one open examines for stale files (any name, any owner). */
    static final int STALE_SCAN_MAX_ENTRIES = 4096;

    /** Most time one open spends on the stale-file scan; it is housekeeping, never a reason to be late. */
    static final long STALE_SCAN_BUDGET_NANOS = 50_000_000L;

    /**
     * What one stale-file scan did.
     *
     * @param reclaimed files deleted
     * @param visited   directory entries examined (matching our prefix or not)
     * @param stoppedBy null when the whole directory was scanned, else why the scan stopped early
     */
    record StaleScan(java.util.List<Path> reclaimed, int visited, String stoppedBy) {
    }

    /**
     * Deletes segment files of this user in {@code dir} whose owner process is gone: files a rank
     * left behind when it was killed inside its open window (after the window, segments are
     * unlinked). A file is deleted only if this user owns it and its header names a process in
     * this pid namespace that no longer runs (pid absent, or reused by a process that started at
     * another time); a file of a live process, of another user or of another pid namespace is
     * never touched. A file too short to name its owner is deleted once it is older than
     * {@link #UNOWNED_STALE_MILLIS}. Never throws: reclaiming is housekeeping.
     *
     * <p><b>Bounded.</b> Anyone can fill a shared {@code /dev/shm} with entries (another user's
     * files named like ours included: a million of them once made an open take 4.6 s), so the
     * scan examines at most {@code maxEntries} directory entries, whatever their names, and stops
     * at {@code deadlineNanos}; what it does not reach, a later open may. Files that do not stand
     * in the way of this job (their names carry another job token) cost nothing but space.
     *
     * @param ownUid        this process's uid (the owner of its own segment)
     * @param deadlineNanos {@link System#nanoTime()} at which to stop
     * @param maxEntries    most directory entries to examine
     */
    static StaleScan reclaimStale(Path dir, long ownUid, long deadlineNanos, int maxEntries) {
        java.util.List<Path> reclaimed = new java.util.ArrayList<>();
        String prefix = "dscomm-" + sanitizedUser() + "-";
        long myNamespace = ProcessIdentity.ownPidNamespace();
        long myPid = ProcessHandle.current().pid();
        int visited = 0;
        String stoppedBy = null;
        // Unfiltered: a glob filter still reads every entry, and reading entries is the cost to bound.
        try (var files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                if (visited >= maxEntries) {
                    stoppedBy = "after " + maxEntries + " entries";
                    break;
                }
                if (System.nanoTime() - deadlineNanos >= 0) {
                    stoppedBy = "at its deadline, after " + visited + " entries";
                    break;
                }
                visited++;
                if (!f.getFileName().toString().startsWith(prefix)) continue;
                try {
                    if (isStale(f, ownUid, myNamespace, myPid) && Files.deleteIfExists(f)) {
                        reclaimed.add(f);
                    }
                } catch (IOException | RuntimeException e) {
                    // vanished meanwhile, or unreadable: not ours to judge
                }
            }
        } catch (IOException | RuntimeException e) {
            // directory unreadable: the open that follows reports it
        }
        return new StaleScan(reclaimed, visited, stoppedBy);
    }

    private static boolean isStale(Path f, long ownUid, long myNamespace, long myPid) throws IOException {
        var attrs = Files.readAttributes(f, java.nio.file.attribute.PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attrs.isRegularFile()) return false;
        long owner = ((Number) Files.getAttribute(f, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        if (owner != ownUid) return false;
        ByteBuffer b = ByteBuffer.allocate((int) IDENTITY_BYTES).order(java.nio.ByteOrder.BIG_ENDIAN);
        // Read through the channel, never a mapping: a truncated file must not SIGBUS us.
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
                // fill
            }
        }
        long age = System.currentTimeMillis() - attrs.lastModifiedTime().toMillis();
        if (b.hasRemaining() || b.getLong((int) MAGIC_OFFSET) != MAGIC) {
            return age > UNOWNED_STALE_MILLIS;
        }
        long pid = b.getLong((int) PID_OFFSET);
        long started = b.getLong((int) START_MILLIS_OFFSET);
        long namespace = b.getLong((int) PID_NAMESPACE_OFFSET);
        if (namespace == 0 || namespace != myNamespace || pid == myPid || pid <= 0 || started < 0) {
            return false; // another pid namespace (or unknown): its pid means nothing here
        }
        return new ProcessIdentity(pid, started, namespace).knownGone();
    }

    /**
     * Tmpfs allocates a page when it is written; a hole costs nothing until it is touched.
     * Writing zeros through the channel (not through a mapping) turns "no space" into an
     * IOException instead of a SIGBUS.
     */
    private static void commitEveryPage(FileChannel channel, long bytes) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(ZERO_BLOCK, bytes));
        long position = IDENTITY_BYTES; // the identity words before it are written already
        while (position < bytes) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), bytes - position));
            while (zeros.hasRemaining()) {
                position += channel.write(zeros, position);
            }
        }
        // No force(): on tmpfs it is a no-op, and on a disk-backed shmDir it would only add I/O.
    }

    private static void writeHeader(MemorySegment s, long bytes, GroupSpec group, long uid) {
        setWord(s, MAGIC_OFFSET, MAGIC);
        setWord(s, VERSION_OFFSET, LAYOUT_VERSION);
        setWord(s, SEGMENT_BYTES_OFFSET, bytes);
        setWord(s, AREA_BYTES_OFFSET, areaBytes(bytes));
        ProcessIdentity self = ProcessIdentity.current();
        setWord(s, PID_OFFSET, self.pid());
        setWord(s, START_MILLIS_OFFSET, self.startMillis());
        setWord(s, UID_OFFSET, uid);
        setWord(s, PID_NAMESPACE_OFFSET, self.pidNamespace());
        setWord(s, JOB_HASH_OFFSET, fnv1a64(group.jobToken()));
        setWord(s, GROUP_HASH_OFFSET, fnv1a64(group.name()));
        setWord(s, GROUP_RANK_OFFSET, group.myIndex());
        setWord(s, GROUP_SIZE_OFFSET, group.size());
        setByteOrderMark(s);
        heartbeatRelease(s, 0);
        // Last: a peer that reads READY with acquire sees every header word above.
        readyRelease(s);
    }

    /** Result of one attempt to attach a peer's segment. */
    sealed interface Attempt permits Attached, NotYet {
    }

    /** The peer's segment is mapped and its header verified. */
    record Attached(MemorySegment segment) implements Attempt {
    }

    /**
     * Not yet: {@code why} says what is missing, for the timeout message; {@code mapped} is the
     * mapping when the file at {@code path} is complete but its header is not READY yet (pass
     * both back), else null.
     */
    record NotYet(String why, MemorySegment mapped, Path path) implements Attempt {
        NotYet(String why) {
            this(why, null, null);
        }
    }

    /**
     * One non-blocking attempt to find and map peer {@code rank}'s file among its names: the
     * first name with a file of this user is the peer's (a rank creates at the first name no
     * other user took); names without a file, or with another user's, are passed over.
     *
     * @param mapped a {@link NotYet} of an earlier attempt that mapped a file not READY yet, or null
     */
    static Attempt tryAttachPeer(Path dir, long bytes, GroupSpec group, int rank, long uid, Arena arena,
                                 NotYet mapped) {
        if (mapped != null && mapped.mapped() != null) {
            return tryAttach(mapped.path(), bytes, group, rank, uid, arena, mapped.mapped());
        }
        StringBuilder why = new StringBuilder();
        for (int k = 0; k < NAME_ALTERNATES; k++) {
            Path p = path(dir, group, rank, k);
            long owner = ownerOf(p);
            if (owner < 0) {
                continue; // no file (yet): the peer may still create it here, or did at a later name
            }
            if (owner != uid) {
                why.append(why.isEmpty() ? "" : "; ").append(plantedBy(p));
                continue;
            }
            return tryAttach(p, bytes, group, rank, uid, arena, null);
        }
        return new NotYet(why.isEmpty() ? "no file " + path(dir, group, rank).getFileName()
                : "no file of this user at its names (" + why + ")");
    }

    /**
     * One non-blocking attempt to map peer {@code rank}'s file: absent, still allocating or
     * not READY yet give {@link NotYet}; a file that is present and READY but is not a segment
     * of this job, group and rank throws a SETUP failure; so does a file of another owner or
     * mode, or a bigger size than ours.
     *
     * @param mapped the segment mapped by an earlier attempt that found it not READY, or null
     */
    static Attempt tryAttach(Path path, long bytes, GroupSpec group, int rank, long uid, Arena arena,
                             MemorySegment mapped) {
        MemorySegment segment = mapped;
        if (segment == null) {
            // NOFOLLOW: a symlink planted at a peer's name is refused rather than followed.
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS)) {
                checkOwnerAndMode(path, uid, group);
                long size = channel.size();
                if (size > bytes) {
                    throw refuse(path, group, "size " + size + " bytes, expected " + bytes
                            + " (do all ranks use the same shmBytes?)");
                }
                if (size < bytes) {
                    return new NotYet("file has " + size + " of " + bytes + " bytes");
                }
                segment = channel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            } catch (NoSuchFileException e) {
                return new NotYet("no file " + path.getFileName());
            } catch (IOException e) {
                throw setup(group, "cannot open peer segment " + path + ": " + e, e);
            }
        }
        if (readyAcquire(segment) != READY_VALUE) {
            return new NotYet("header of " + path.getFileName() + " not ready", segment, path);
        }
        verifyHeader(segment, path, bytes, group, rank, uid);
        return new Attached(segment);
    }

    /** Checks every header word a peer wrote; all of them must be what this rank expects. */
    private static void verifyHeader(MemorySegment s, Path path, long bytes, GroupSpec group, int rank, long uid) {
        expect(s, MAGIC_OFFSET, MAGIC, "magic", path, group);
        expect(s, VERSION_OFFSET, LAYOUT_VERSION, "layout version", path, group);
        expect(s, SEGMENT_BYTES_OFFSET, bytes, "segment bytes (do all ranks use the same shmBytes?)", path, group);
        expect(s, AREA_BYTES_OFFSET, areaBytes(bytes), "area bytes", path, group);
        expect(s, UID_OFFSET, uid, "uid", path, group);
        expect(s, JOB_HASH_OFFSET, fnv1a64(group.jobToken()), "job token hash", path, group);
        expect(s, GROUP_HASH_OFFSET, fnv1a64(group.name()), "group name hash", path, group);
        expect(s, GROUP_RANK_OFFSET, rank, "group rank", path, group);
        expect(s, GROUP_SIZE_OFFSET, group.size(), "group size", path, group);
        long mark = getByteOrderMark(s);
        if (mark != BYTE_ORDER_MARK_VALUE) {
            throw refuse(path, group, "byte-order mark 0x" + Long.toHexString(mark) + ", expected 0x"
                    + Long.toHexString(BYTE_ORDER_MARK_VALUE));
        }
    }

    private static void expect(MemorySegment s, long offset, long expected, String field, Path path, GroupSpec group) {
        long found = getWord(s, offset);
        if (found != expected) {
            throw refuse(path, group, field + " is 0x" + Long.toHexString(found) + ", expected 0x"
                    + Long.toHexString(expected));
        }
    }

    /**
     * A segment is trusted only if this user owns it and nobody else can write it: another
     * user's file at our name could feed us arbitrary bytes.
     */
    private static void checkOwnerAndMode(Path path, long uid, GroupSpec group) throws IOException {
        long owner = ((Number) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        if (owner != uid) {
            throw refuse(path, group, "owned by uid " + owner + ", not by this user (uid " + uid + ")");
        }
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS);
        if (!mode.equals(OWNER_ONLY)) {
            throw refuse(path, group, "mode " + PosixFilePermissions.toString(mode) + ", expected rw-------");
        }
    }

    /** This process's uid, as the file system recorded it for the file we just created. */
    private static long ownUid(Path path, GroupSpec group) {
        try {
            return ((Number) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            throw setup(group, "cannot read the owner of " + path + ": " + e, e);
        }
    }

    /** Uid to compare peers' files with: the owner recorded in our own segment's header. */
    static long uidOf(MemorySegment own) {
        return getWord(own, UID_OFFSET);
    }

    private static long usableSpace(Path dir, GroupSpec group) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (NoSuchFileException e) {
            throw setup(group, "shared-memory directory " + dir + " does not exist", e);
        } catch (IOException e) {
            throw setup(group, "cannot query free space of " + dir + ": " + e, e);
        }
    }

    /** Removes the file if it is still there; never throws. Returns whether it is gone. */
    static boolean deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
            return true;
        } catch (IOException e) {
            // Best effort: open and close must not fail because a directory vanished.
            return false;
        }
    }

    private static CommFailure noSpace(Path path, long needed, long available, GroupSpec group, Throwable cause) {
        return setup(group, "not enough space for segment " + path + ": needs " + needed + " bytes, "
                + available + " bytes available in " + path.getParent()
                + " (every local rank needs its own segment; enlarge the tmpfs or lower shmBytes)"
                + (cause == null ? "" : ": " + cause.getMessage()), cause);
    }

    private static CommFailure refuse(Path path, GroupSpec group, String why) {
        return setup(group, "refusing segment file " + path + ": " + why + "; it is not a segment of this job,"
                + " group and rank", null);
    }

    private static CommFailure setup(GroupSpec group, String detail, Throwable cause) {
        return new CommFailure(CommFailure.Kind.SETUP, -1, group.name(), "open", detail, cause);
    }
}
