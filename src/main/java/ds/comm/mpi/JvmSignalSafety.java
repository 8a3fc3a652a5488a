package ds.comm.mpi;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Keeps an MPI transport from stealing the JVM's fault signals.
 *
 * <p>The JVM handles SIGSEGV itself: compiled code dereferences possibly-null references without
 * a test and turns the fault into a {@link NullPointerException}. UCX (the transport under
 * Debian's MPICH, and under Open MPI on InfiniBand clusters) installs its own SIGSEGV, SIGBUS,
 * SIGILL and SIGFPE handlers when {@code libucs} is loaded, and they print a backtrace and abort
 * instead of chaining: the first implicit null check after loading MPI kills the rank (the MPI
 * scenario reproduces this). UCX reads {@code UCX_ERROR_SIGNALS} in its load-time constructor,
 * so before the MPI library is loaded we set it to the empty list, unless the user has set it
 * (then their choice stands, with a warning if it still claims a fault signal).
 *
 * <p>This writes the process environment with {@code setenv(3)}, which is not safe against a
 * concurrent {@code getenv} in another native thread; it runs once, while opening the backend,
 * before any MPI or UCX thread exists. {@link System#getenv()} is a snapshot taken at JVM start,
 * so it is not consulted. (Preloading the JVM's {@code libjsig.so} is the other cure.)
 */
final class JvmSignalSafety {

    static final String UCX_ERROR_SIGNALS = "UCX_ERROR_SIGNALS";

    private static boolean done; // guarded by MpiLibrary.class (only called from MpiLibrary.load)

    private JvmSignalSafety() {
    }

    /** Call before loading any MPI library; idempotent. */
    @SuppressWarnings("restricted") // libc calls; ds-comm runs with --enable-native-access
    static void beforeLoadingMpi() {
        if (done) return;
        done = true;
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        MethodHandle getenv = linker.downcallHandle(libc.find("getenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle setenv = linker.downcallHandle(libc.find("setenv").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment name = a.allocateFrom(UCX_ERROR_SIGNALS);
            MemorySegment current = (MemorySegment) getenv.invokeExact(name);
            if (current.equals(MemorySegment.NULL)) {
                int rc = (int) setenv.invokeExact(name, a.allocateFrom(""), 0);
                if (rc != 0) warn("setenv(" + UCX_ERROR_SIGNALS + ") failed; UCX may abort the JVM on its first implicit null check");
            } else {
                String value = current.reinterpret(4096).getString(0);
                if (value.contains("SEGV") || value.contains("BUS") || value.matches(".*\\b(7|11)\\b.*")) {
                    warn(UCX_ERROR_SIGNALS + "=" + value + " lets UCX take SIGSEGV/SIGBUS from the JVM, which uses them "
                            + "for null checks; a rank will abort on its first NullPointerException. Unset it or set it empty.");
                }
            }
        } catch (Throwable t) {
            warn("could not check " + UCX_ERROR_SIGNALS + ": " + t);
        }
    }

    private static void warn(String message) {
        System.getLogger(JvmSignalSafety.class.getName()).log(System.Logger.Level.WARNING, message);
    }
}
