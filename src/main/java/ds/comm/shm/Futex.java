package ds.comm.shm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Linux futexes on words of a shared mapping, through one FFM downcall to libc's
 * {@code syscall(2)}: a rank that has waited long enough sleeps in the kernel on its peer's STEP
 * word, and the peer's publish wakes it. No native code of ours; only a C library function every
 * Linux has.
 *
 * <h2>Why</h2>
 * A waiter that parks with a timer cannot be woken by another process, so it either sleeps too
 * long (the timer's slack alone is 50 us) or wakes too often; a waiter that spins steals the
 * core its peer needs when ranks outnumber cores. A futex sleeps exactly until the peer
 * publishes: the waiter burns no CPU and still learns of the step within a scheduler wake-up.
 *
 * <h2>Shared, not private</h2>
 * The segments are {@code MAP_SHARED} files mapped by several processes, each at its own
 * address: the operations are the non-{@code PRIVATE} {@code FUTEX_WAIT}/{@code FUTEX_WAKE},
 * which the kernel keys by the file page and offset, not by the virtual address.
 *
 * <h2>Arguments</h2>
 * {@code syscall} is variadic and reads every argument as a {@code long}: all of them, addresses
 * included, are passed as {@code long} so that no upper half of a register is left undefined.
 * Return values and errno are not needed: every caller re-reads the word after the call
 * returns, whether it was woken, timed out, interrupted or found the value already changed.
 *
 * <p>Where the system call number of this architecture is unknown, or the probe at class
 * initialisation fails (no Linux, a sandbox that forbids futexes, native access denied),
 * {@link #AVAILABLE} is false and waiters park instead.
 */
final class Futex {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    private static final long FUTEX_WAIT = 0;
    private static final long FUTEX_WAKE = 1;

    private static final MethodHandle SYSCALL;
    private static final long SYS_FUTEX;
    /** Whether futexes work here (probed once). */
    static final boolean AVAILABLE;

    static {
        long nr = futexSyscallNumber(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
        MethodHandle handle = null;
        boolean ok = false;
        if (nr > 0) {
            try {
                Linker linker = Linker.nativeLinker();
                MemorySegment fn = linker.defaultLookup().find("syscall")
                        .or(() -> SymbolLookup.loaderLookup().find("syscall")).orElse(null);
                if (fn != null) {
                    handle = linker.downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                            Linker.Option.firstVariadicArg(1));
                    // Probe: waking nobody on a private word returns 0 where futexes work.
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment word = arena.allocate(ValueLayout.JAVA_INT);
                        long r = (long) handle.invokeExact(nr, word.address(), FUTEX_WAKE, 1L, 0L, 0L, 0L);
                        ok = r == 0;
                    }
                }
            } catch (Throwable t) {
                LOG.log(System.Logger.Level.DEBUG, "futex unavailable, waits will park: " + t);
                handle = null;
                ok = false;
            }
        }
        SYSCALL = handle;
        SYS_FUTEX = nr;
        AVAILABLE = ok;
    }

    private Futex() {
    }

    /** The futex system call number of a Linux architecture as Java names it; 0 if unknown. */
    static long futexSyscallNumber(String osName, String arch) {
        if (!osName.toLowerCase(Locale.ROOT).contains("linux")) return 0;
        return switch (arch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> 202;
            case "aarch64", "riscv64" -> 98;
            case "s390x" -> 238;
            case "ppc64le", "ppc64" -> 221;
            default -> 0;
        };
    }

    /**
     * Sleeps while the 32-bit word at {@code address} still holds {@code expected}, at most
     * {@code timeout}'s relative time (a 16-byte {@code struct timespec} this method fills).
     * Returns early when woken, interrupted, or when the word already differs.
     */
    static void await(long address, int expected, MemorySegment timeout, long nanos) {
        timeout.set(ValueLayout.JAVA_LONG, 0, nanos / 1_000_000_000L);
        timeout.set(ValueLayout.JAVA_LONG, 8, nanos % 1_000_000_000L);
        try {
            long ignored = (long) SYSCALL.invokeExact(SYS_FUTEX, address, FUTEX_WAIT, expected & 0xFFFF_FFFFL,
                    timeout.address(), 0L, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException("futex wait failed", t);
        }
    }

    /** Wakes every process sleeping on the 32-bit word at {@code address}. */
    static void wakeAll(long address) {
        try {
            long ignored = (long) SYSCALL.invokeExact(SYS_FUTEX, address, FUTEX_WAKE, (long) Integer.MAX_VALUE, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException("futex wake failed", t);
        }
    }
}
