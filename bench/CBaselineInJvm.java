import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Runs the C all-reduce baseline (bench/allreduce_baseline.c, built as a shared library with its
 * main renamed) inside a JVM: one FFM call into its main, so MPI is initialised and driven by C
 * code exactly as in the plain executable, but in a Java process (its threads, signal handlers,
 * memory layout). Tells the JVM process's share of the MPI backend's time from the Java code's:
 * if this runs as fast as the executable, what the backend adds is its own.
 *
 *   mpicc -O2 -shared -fPIC -Dmain=baseline_main -o /tmp/libbaseline.so bench/allreduce_baseline.c
 *   mpirun -np 2 $JAVA_HOME/bin/java --enable-native-access=ALL-UNNAMED bench/CBaselineInJvm.java \
 *       /tmp/libbaseline.so [--thread-level=single|multiple] 4096:3000 65536:1000
 *
 * Prints what the baseline prints ("bytes,iters,p50_us,p99_us" on rank 0).
 */
public final class CBaselineInJvm {

    private CBaselineInJvm() {
    }

    public static void main(String[] args) throws Throwable {
        if (args.length < 2) {
            System.err.println("usage: CBaselineInJvm LIBRARY.so [--thread-level=L] BYTES:ITERS ...");
            System.exit(2);
        }
        Arena arena = Arena.global();
        SymbolLookup library = SymbolLookup.libraryLookup(args[0], arena);
        MethodHandle baselineMain = Linker.nativeLinker().downcallHandle(
                library.find("baseline_main").orElseThrow(() -> new IllegalArgumentException(
                        args[0] + " has no baseline_main: build it with -Dmain=baseline_main")),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        // argv as C sees it: the program name, the baseline's arguments, a NULL.
        MemorySegment argv = arena.allocate(ADDRESS, args.length + 1);
        argv.setAtIndex(ADDRESS, 0, arena.allocateFrom("allreduce_baseline"));
        for (int i = 1; i < args.length; i++) argv.setAtIndex(ADDRESS, i, arena.allocateFrom(args[i]));
        argv.setAtIndex(ADDRESS, args.length, MemorySegment.NULL);
        System.exit((int) baselineMain.invokeExact(args.length, argv));
    }
}
