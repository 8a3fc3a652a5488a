package ds.comm.tool;

import ds.comm.lanes.Reducers;

import java.nio.ByteOrder;

/**
 * {@code bin/dscomm --version}: the ds-comm version and what this JVM offers it, as one block a
 * user can paste into a bug report.
 *
 * <p>The version is read from the build, never written in the source: on the module path from the
 * module descriptor (the compiler stamps {@code ds.comm@VERSION} from the POM), on the class path
 * from the jar manifest's {@code Implementation-Version}.
 */
final class VersionInfo {

    /** What is printed when neither the module descriptor nor a manifest carries a version. */
    static final String UNKNOWN = "unknown (classes outside a versioned module or jar)";

    private VersionInfo() {
    }

    static int run(String[] args) {
        if (args.length > 0) {
            throw new Main.UsageException("--version takes no arguments, got '" + args[0] + "'");
        }
        System.out.println("ds-comm " + version());
        System.out.println("jdk:      " + System.getProperty("java.vm.name") + " " + Runtime.version()
                + " (" + System.getProperty("java.home") + ")");
        System.out.println("isa:      " + System.getProperty("os.arch") + ", " + ByteOrder.nativeOrder() + ", "
                + Runtime.getRuntime().availableProcessors() + " cpus");
        System.out.println("vectors:  " + Doctor.vectors(System.getenv(Reducers.VECTOR_BITS_VARIABLE)));
        return 0;
    }

    /** This build's version, e.g. "0.1.0-SNAPSHOT", or {@link #UNKNOWN}. */
    static String version() {
        Module module = VersionInfo.class.getModule();
        if (module.isNamed()) {
            String raw = module.getDescriptor().rawVersion().orElse(null);
            if (raw != null) return raw;
        }
        String manifest = VersionInfo.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : UNKNOWN;
    }
}
