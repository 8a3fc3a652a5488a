package ds.comm.lanes;

import java.lang.management.ManagementFactory;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Whether this JVM's JIT is compiling right now: the signal the library's warm-up inside
 * {@code init()} runs its collective calls until, and the tool's bench its untimed calls of each
 * point (so that no point is timed while C2 still compiles the path of its size).
 *
 * <h2>Why ask the JIT, not a clock</h2>
 * The warm-up used to stop after a fixed number of calls, and on the project's 2-vCPU machine C2
 * was still compiling the collective path (the step protocol's waits, argument checks) for
 * another second: its compiler thread took a spinning rank's core for a scheduler slice at a
 * time, and every second call of a user's first ~1 500 took 1.4 ms instead of 10 us
 * ({@code bench --stalls}: 1.3 ms of it runnable but not running, while
 * {@code -XX:+PrintCompilation} shows the compiles). How long C2 needs depends on the machine and
 * on what else the process compiles; the queue says it directly. {@code getTotalCompilationTime}
 * of the {@code CompilationMXBean} only moves when a compilation ends, so a long one in progress
 * looks quiet; the diagnostic command behind {@code jcmd <pid> Compiler.queue} lists the tasks in
 * progress and queued.
 *
 * <p>Where that command is missing (not HotSpot, no platform MBean server), {@link #forThisJvm}
 * returns null and the warm-up keeps its fixed call count. The answer is a hint for a warm-up,
 * never a correctness condition: the text format is HotSpot's and is parsed leniently (any line
 * naming a task counts as busy).
 */
public final class JitActivity {

    private static final String[] SIGNATURE = {String[].class.getName()};

    private final MBeanServer server;
    private final ObjectName command;

    private JitActivity(MBeanServer server, ObjectName command) {
        this.server = server;
        this.command = command;
    }

    /** The JIT of this JVM, or null when it cannot be asked. */
    public static JitActivity forThisJvm() {
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName command = new ObjectName("com.sun.management:type=DiagnosticCommand");
            JitActivity jit = new JitActivity(server, command);
            jit.queueText();   // fails here, once, if the command is not there
            return jit;
        } catch (JMException | RuntimeException e) {
            return null;
        }
    }

    /** Whether a compilation is in progress or queued; true when the question fails. */
    public boolean compiling() {
        try {
            return compiling(queueText());
        } catch (JMException | RuntimeException e) {
            return true;
        }
    }

    private String queueText() throws JMException {
        return (String) server.invoke(command, "compilerQueue", new Object[]{null}, SIGNATURE);
    }

    /**
     * Parses HotSpot's {@code Compiler.queue} text: a "Current compiles:" section with one line per
     * compiler thread at work, then one section per queue, each "Empty" or one line per task.
     * Busy when any line other than a header, a blank or "Empty" is present.
     */
    static boolean compiling(String text) {
        for (String raw : text.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.equals("Empty") || line.endsWith(":")) continue;
            return true;
        }
        return false;
    }
}
