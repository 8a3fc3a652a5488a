package ds.comm.testkit;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The calling thread's allocated-bytes counter ({@code com.sun.management.ThreadMXBean}), for
 * tests that prove a hot path allocates nothing. Reached reflectively, because the tests are
 * compiled into module ds.comm (whose descriptor need not read java.management for them), and
 * through a method handle, so that reading the counter allocates no box or varargs array.
 */
public final class ThreadAllocation {

    private static final Object THREADS;
    private static final MethodHandle ALLOCATED;

    static {
        try {
            THREADS = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            ALLOCATED = MethodHandles.publicLookup()
                    .findVirtual(Class.forName("com.sun.management.ThreadMXBean"), "getCurrentThreadAllocatedBytes",
                            MethodType.methodType(long.class))
                    .asType(MethodType.methodType(long.class, Object.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private ThreadAllocation() {
    }

    /** Bytes the calling thread has allocated since it started. */
    public static long allocatedBytes() {
        try {
            return (long) ALLOCATED.invokeExact(THREADS);
        } catch (Throwable t) {
            throw new AssertionError("cannot read the thread's allocation counter", t);
        }
    }
}
