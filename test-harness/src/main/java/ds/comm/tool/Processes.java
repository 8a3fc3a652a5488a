package ds.comm.tool;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Process liveness as the launcher needs it. */
public final class Processes {

    private Processes() {
    }

    /**
     * True while {@code pid} exists and has not exited. Unlike {@link ProcessHandle#isAlive()},
     * a zombie counts as exited: a rank's child that was killed after its parent stays a zombie
     * until the machine's init reaps it, which some container inits do only every second or so,
     * and nothing the launcher does can make it exit any further.
     */
    public static boolean isRunning(long pid) {
        var handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || !handle.get().isAlive()) {
            return false;
        }
        return !isZombie(pid);
    }

    /** True when {@code handle}'s process exists and has not exited (zombies have exited). */
    public static boolean isRunning(ProcessHandle handle) {
        return handle.isAlive() && !isZombie(handle.pid());
    }

    private static boolean isZombie(long pid) {
        try {
            // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces and parentheses, so the
            // state is the first field after the last ')'.
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int close = stat.lastIndexOf(')');
            return close >= 0 && close + 2 < stat.length() && stat.charAt(close + 2) == 'Z';
        } catch (IOException | RuntimeException e) {
            return false; // no /proc (not Linux) or the process just vanished: trust isAlive()
        }
    }
}
