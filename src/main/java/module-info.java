/**
 * ds-comm: CPU collective communication for tensor-parallel inference.
 *
 * <p>Only {@code ds.comm} is exported. Everything else (kernels, topology, shared memory,
 * socket ring, launcher and CLI) is internal and may change between releases.
 */
module ds.comm {
    requires jdk.incubator.vector;
    requires java.logging;
    // The JIT warm-up of the reduction kernels watches the thread's allocation counter
    // (com.sun.management.ThreadMXBean): allocation-free means compiled with vector intrinsics.
    requires jdk.management;
    // Flight Recorder events (ds.comm.observe): part of the JDK, so still no dependencies.
    requires jdk.jfr;

    exports ds.comm;
}
