package ds.comm.topology;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * The launcher's record of ranks that exited: the one witness that knows a rank died before
 * anybody else could have seen it. A rank killed before it sent its HELLO is, to rank 0,
 * indistinguishable from a slow one, and a rank that cannot reach rank 0 cannot tell a dead rank
 * 0 from one still starting; both would otherwise wait out the whole timeout. The launcher
 * ({@code bin/dscomm launch}, the {@code Launcher} API) is the parent of every rank and learns of
 * each exit at once, so it appends a line here, and ranks still in the rendezvous read it.
 *
 * <p>Format: a file of ASCII lines {@code "<rank> <exit code>\n"}, appended one line per write
 * (a write of at most a few dozen bytes to an {@code O_APPEND} file is not interleaved). Path in
 * {@code DSCOMM_LAUNCH_LEDGER}; the launcher creates it 0600 in a directory of its own (0700).
 *
 * <p>Trust: a rank reads the file only if this uid owns it, it is a regular file (not a symlink)
 * and nobody else may write it; otherwise it is ignored with a warning. Malformed lines,
 * out-of-range ranks and anything past {@link #MAX_BYTES} are ignored: the file can only make a
 * rank give up earlier, never corrupt a result.
 *
 * <p>Only consulted while a rank waits for a peer that has not been seen yet (rank 0 for the
 * HELLOs still missing, the others while rank 0 does not answer). A rank that already took part
 * and then exited normally is no evidence of anything for a peer that is past that point.
 */
public final class LaunchLedger {

    /** Environment variable naming the ledger file. */
    public static final String ENV = "DSCOMM_LAUNCH_LEDGER";
    /** Largest ledger read: 65 536 ranks' lines fit; more is not a ledger this library wrote. */
    static final int MAX_BYTES = 1 << 20;

    private static final System.Logger LOG = System.getLogger(LaunchLedger.class.getName());
    private static final LaunchLedger NONE = new LaunchLedger(null);

    private final Path file;
    private volatile boolean warned;

    private LaunchLedger(Path file) {
        this.file = file;
    }

    /** The ledger named by {@link #ENV} in {@code env}, or one that never reports anything. */
    public static LaunchLedger fromEnvironment(Map<String, String> env) {
        String p = env.get(ENV);
        return p == null || p.isBlank() ? NONE : new LaunchLedger(Path.of(p.trim()));
    }

    /** A ledger that never reports anything (no launcher of ours). */
    public static LaunchLedger none() {
        return NONE;
    }

    /** One rank's exit as the launcher saw it. */
    public record Exit(int rank, int code) {
    }

    /**
     * The first exit recorded for a rank in {@code candidates}, or null. Reads the file each time
     * (it is a few bytes); call it every ~100 ms while waiting, not in a hot loop.
     *
     * @param candidates by world rank: true for ranks whose exit would mean this wait is in vain
     */
    public Exit firstExitAmong(boolean[] candidates) {
        if (file == null) return null;
        byte[] bytes;
        try {
            if (!trusted()) return null;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                ByteBuffer b = ByteBuffer.allocate((int) Math.min(MAX_BYTES, ch.size()));
                while (b.hasRemaining() && ch.read(b) > 0) {
                    // read what the file holds now; a line being appended is completed on a later read
                }
                bytes = b.array();
            }
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null; // no ledger (yet, or any more): nothing is known
        }
        String text = new String(bytes, StandardCharsets.US_ASCII);
        int lineStart = 0;
        for (int nl = text.indexOf('\n'); nl >= 0; lineStart = nl + 1, nl = text.indexOf('\n', lineStart)) {
            Exit e = parse(text, lineStart, nl);
            if (e != null && e.rank() < candidates.length && candidates[e.rank()]) {
                return e;
            }
        }
        return null;
    }

    private static Exit parse(String text, int from, int to) {
        int space = text.indexOf(' ', from);
        if (space < 0 || space >= to || space - from > 6 || to - space - 1 > 11) return null;
        try {
            int rank = Integer.parseInt(text, from, space, 10);
            int code = Integer.parseInt(text, space + 1, to, 10);
            return rank >= 0 ? new Exit(rank, code) : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private boolean trusted() throws IOException {
        long owner = ((Number) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        long self = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
        boolean ok = owner == self && Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)
                && !mode.contains(PosixFilePermission.GROUP_WRITE) && !mode.contains(PosixFilePermission.OTHERS_WRITE);
        if (!ok && !warned) {
            warned = true;
            LOG.log(System.Logger.Level.WARNING, "ds-comm: ignoring " + ENV + "=" + file + ": not a regular file of uid "
                    + self + " that only its owner may write (owner " + owner + ", mode "
                    + PosixFilePermissions.toString(mode) + ")");
        }
        return ok;
    }

    /**
     * Creates an empty ledger, owner-only, in a new owner-only directory under {@code parent}
     * (the launcher's side).
     */
    public static Path create(Path parent) throws IOException {
        Path dir = Files.createTempDirectory(parent, "dscomm-launch-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        return Files.createFile(dir.resolve("exits"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    /** Appends one exit (the launcher's side); a single small append, never interleaved. */
    public static void append(Path ledger, int rank, int exitCode) throws IOException {
        Files.write(ledger, (rank + " " + exitCode + "\n").getBytes(StandardCharsets.US_ASCII),
                StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS);
    }

    /** Removes the ledger and its directory (the launcher's side, after the job). */
    public static void delete(Path ledger) {
        try {
            Files.deleteIfExists(ledger);
            Files.deleteIfExists(ledger.getParent());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "ds-comm: could not remove the launch ledger " + ledger + ": " + e);
        }
    }
}
