package ds.comm.tool;

import ds.comm.lanes.Reducers;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code bin/dscomm doctor}: what this JVM and node offer ds-comm.
 */
final class Doctor {

    private Doctor() {
    }

    static int run(String[] args) {
        if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println("usage: bin/dscomm doctor");
            return 0;
        }
        if (args.length > 0) {
            throw new Main.UsageException("unknown argument '" + args[0] + "'; doctor takes none");
        }
        System.out.println("jdk:          " + System.getProperty("java.vm.name") + " " + Runtime.version()
                + " (" + System.getProperty("java.home") + ")");
        System.out.println("isa:          " + System.getProperty("os.arch") + ", " + ByteOrder.nativeOrder()
                + ", " + Runtime.getRuntime().availableProcessors() + " cpus");
        System.out.println("byte order:   " + ByteOrder.nativeOrder());
        String vectors = vectors(System.getenv(Reducers.VECTOR_BITS_VARIABLE));
        System.out.println("vectors:      " + vectors);
        int status = vectors.startsWith("unusable:") ? 2 : 0;
        System.out.println("shm:          " + shmSpace(Path.of(System.getenv().getOrDefault("DSCOMM_SHM_DIR", "/dev/shm"))));
        int topology = TopologyReport.print(System.out, System.getenv(), Path.of(System.getenv().getOrDefault("DSCOMM_SHM_DIR", "/dev/shm")));
        return Math.max(status, topology);
    }

    /**
     * The reduction kernel width this JVM would use, as the library picks it: the JVM's preferred
     * vector species unless DSCOMM_VECTOR_BITS forces one (0 = the scalar reference). An invalid
     * DSCOMM_VECTOR_BITS is reported here rather than thrown, since diagnosing it is doctor's job.
     */
    static String vectors(String dscommVectorBits) {
        String forced = dscommVectorBits == null || dscommVectorBits.isBlank() ? ""
                : " (" + Reducers.VECTOR_BITS_VARIABLE + "=" + dscommVectorBits.strip() + ")";
        try {
            return Reducers.describe(Reducers.fromEnvironment(dscommVectorBits)) + forced;
        } catch (IllegalArgumentException e) {
            return "unusable: " + e.getMessage();
        }
    }

    static String shmSpace(Path dir) {
        try {
            var store = Files.getFileStore(dir);
            return dir + " " + (store.getUsableSpace() >> 20) + " MiB free of " + (store.getTotalSpace() >> 20)
                    + " MiB" + (Files.isWritable(dir) ? "" : " (not writable)");
        } catch (IOException e) {
            return dir + " unavailable (" + e.getMessage() + ")";
        }
    }
}
