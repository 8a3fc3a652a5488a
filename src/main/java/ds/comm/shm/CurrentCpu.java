package ds.comm.shm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The processor the calling thread runs on, from libc's {@code sched_getcpu(3)} through one
 * critical FFM downcall: no native code of ours.
 *
 * <h2>Why</h2>
 * When ranks share a processor (more runnable threads than processors: a busy process beside
 * the job, ranks outnumbering cores), the peer a rank waits for is often queued behind the
 * waiter on the waiter's own processor, and every microsecond spent spinning delays it. Each
 * rank writes the processor it publishes from into its STEP line; a waiter whose late peer last
 * published from the waiter's processor hands it over at once (see {@code StepSequencer}).
 *
 * <h2>Cost</h2>
 * glibc since 2.35 answers from the thread's rseq area (a load; older ones use the vDSO), and a
 * critical downcall skips the thread-state transitions of an ordinary one: a few nanoseconds,
 * once per published step. The answer may be stale as soon as it is returned (the scheduler may
 * move the thread); it is a hint for waiting, never used for correctness.
 *
 * <p>Where the function is missing or the probe fails (another C library, native access
 * denied), {@link #AVAILABLE} is false and {@link #id()} returns -1.
 */
final class CurrentCpu {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    private static final MethodHandle SCHED_GETCPU;
    /** Whether the processor can be asked here (probed once). */
    static final boolean AVAILABLE;

    static {
        MethodHandle handle = null;
        boolean ok = false;
        try {
            Linker linker = Linker.nativeLinker();
            MemorySegment fn = linker.defaultLookup().find("sched_getcpu").orElse(null);
            if (fn != null) {
                handle = linker.downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT),
                        Linker.Option.critical(false));
                ok = (int) handle.invokeExact() >= 0;
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.DEBUG, "sched_getcpu unavailable, waiters will not see co-located peers: " + t);
            ok = false;
        }
        SCHED_GETCPU = ok ? handle : null;
        AVAILABLE = ok;
    }

    private CurrentCpu() {
    }

    /** The processor this thread runs on now (a hint: it may move at any time), or -1 if unknown. */
    static int id() {
        if (!AVAILABLE) return -1;
        try {
            return (int) SCHED_GETCPU.invokeExact();
        } catch (Throwable t) {
            return -1;
        }
    }
}
