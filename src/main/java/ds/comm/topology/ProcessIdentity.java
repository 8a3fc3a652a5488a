package ds.comm.topology;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Who a process is, precisely enough to tell later whether it is gone: its pid, its start time
 * and the pid namespace the pid belongs to. A bare pid is not enough: it may be reused by an
 * unrelated process, and in another pid namespace (containers sharing only {@code /dev/shm} or a
 * network) the same number names somebody else or nobody.
 *
 * @param pid          operating-system process id, as seen in {@code pidNamespace}
 * @param startMillis  the process's start time (epoch ms) as it saw it, 0 when unknown
 * @param pidNamespace inode of the pid namespace ({@code /proc/self/ns/pid}), 0 when unknown
 */
public record ProcessIdentity(long pid, long startMillis, long pidNamespace) {

    /** Start times at least this much later than the recorded one mean another process owns the pid. */
    private static final long REUSE_MILLIS = 1_000;
    /** How much later than the host's view a process may see its own start (qemu user emulation: ~0.3-1.2 s). */
    private static final long VIEW_SKEW_MILLIS = 5_000;

    private static final long OWN_NAMESPACE = readOwnPidNamespace();

    /** Validates: negative values are never produced by a real process and are refused off the wire. */
    public ProcessIdentity {
        if (pid < 0 || startMillis < 0 || pidNamespace < 0) {
            throw new IllegalArgumentException("bad process identity: pid " + pid + ", start " + startMillis
                    + ", pid namespace " + pidNamespace);
        }
    }

    /** A pid whose start time and namespace are unknown: never judged gone. */
    public static ProcessIdentity ofPid(long pid) {
        return new ProcessIdentity(pid, 0, 0);
    }

    /** This JVM. */
    public static ProcessIdentity current() {
        ProcessHandle self = ProcessHandle.current();
        return new ProcessIdentity(self.pid(), startMillisOf(self), OWN_NAMESPACE);
    }

    /** The inode of this process's pid namespace, 0 when {@code /proc} does not tell. */
    public static long ownPidNamespace() {
        return OWN_NAMESPACE;
    }

    /**
     * True only when it is certain that this process no longer runs: its pid is in our pid
     * namespace and either names no live process or names one that started later than this one
     * (the pid was reused). Unknown namespace or another namespace: false, since the pid means
     * nothing here; this process itself: false. Costs a {@code /proc} lookup: call it at most every
     * few milliseconds, never per element.
     */
    public boolean knownGone() {
        if (pidNamespace == 0 || pidNamespace != OWN_NAMESPACE || pid <= 0 || pid == ProcessHandle.current().pid()) {
            return false;
        }
        ProcessHandle h = ProcessHandle.of(pid).orElse(null);
        if (h == null || !h.isAlive()) return true;
        return pidReused(startMillis, startMillisOf(h));
    }

    /**
     * True only when this process is certainly running on this machine: its pid is in our pid
     * namespace and names a live process whose start time matches the recorded one (not later by
     * a second or more: then the pid was reused; not earlier by more than {@link #VIEW_SKEW_MILLIS},
     * the most a process's own view of its start time was seen to run late). Unknown namespace or
     * start time: false. Costs a {@code /proc} lookup.
     */
    public boolean runsHere() {
        if (pidNamespace == 0 || pidNamespace != OWN_NAMESPACE || pid <= 0 || startMillis == 0) return false;
        // This process's own pid is no shortcut: a record from another machine of the init pid
        // namespace can carry the same number, and only the start time tells them apart.
        ProcessHandle h = pid == ProcessHandle.current().pid() ? ProcessHandle.current() : ProcessHandle.of(pid).orElse(null);
        if (h == null || !h.isAlive()) return false;
        long actual = startMillisOf(h);
        return actual != 0 && !pidReused(startMillis, actual) && startMillis - actual <= VIEW_SKEW_MILLIS;
    }

    /**
     * Whether a live pid now belongs to another process than the owner that recorded
     * {@code recordedMillis} as its own start time: true only when it started at least a second
     * later. One-sided on purpose: a reused pid always belongs to a later process, while a
     * process's own view of its start time may run late (under qemu user emulation
     * /proc/self/stat is ~0.3-1.2 s later than the host's view), which must not count as reuse.
     * Unknown times (0) never count.
     */
    public static boolean pidReused(long recordedMillis, long actualMillis) {
        return recordedMillis != 0 && actualMillis != 0 && actualMillis - recordedMillis >= REUSE_MILLIS;
    }

    /** Start time of {@code h} in epoch ms, 0 when the platform does not tell. */
    public static long startMillisOf(ProcessHandle h) {
        return h.info().startInstant().map(i -> Math.max(0, i.toEpochMilli())).orElse(0L);
    }

    private static long readOwnPidNamespace() {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/ns/pid")).toString();
            int open = link.indexOf('[');
            int close = link.indexOf(']');
            return open >= 0 && close > open ? Long.parseLong(link.substring(open + 1, close)) : 0;
        } catch (IOException | UnsupportedOperationException | NumberFormatException | SecurityException e) {
            return 0;
        }
    }

    @Override
    public String toString() {
        return "pid " + pid;
    }
}
