/**
 * ds-comm: CPU collective communication for tensor-parallel inference.
 *
 * <p>Only {@code ds.comm} is exported. Everything else (kernels, topology, shared memory,
 * socket ring, MPI) is internal and may change between releases. The command-line tool, a module
 * of its own ({@code ds.comm.tool}, artifact ds-comm-tool), reads two internal packages through
 * exports qualified to it alone: {@code topology} (the launcher detection, rendezvous and job
 * secret that {@code launch} and {@code doctor} share with the library, so that both read a
 * launcher's environment the same way) and {@code lanes} (the kernel width {@code doctor} and
 * {@code --version} report, the heap segment classes the bench loads before timing cold
 * calls, and {@code JitActivity}, whether the JIT is compiling, which the bench's untimed calls
 * of each size wait for). No application module can read them.
 */
@SuppressWarnings("module") // ds.comm.tool, the target of the qualified exports, is built after this module
module ds.comm {
    requires jdk.incubator.vector;
    requires java.logging;
    // The JIT warm-up of the reduction kernels watches the thread's allocation counter
    // (com.sun.management.ThreadMXBean): allocation-free means compiled with vector intrinsics.
    requires jdk.management;
    // Flight Recorder events (ds.comm.observe): part of the JDK, so still no dependencies.
    requires jdk.jfr;

    exports ds.comm;
    exports ds.comm.topology to ds.comm.tool;
    exports ds.comm.lanes to ds.comm.tool;
}
