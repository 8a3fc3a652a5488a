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

    private static final String USAGE = """
            usage: bin/dscomm doctor [--format text|json]
              --format F    text (default): one finding per line; json: one object whose members
                            are the same findings (plus the node and rank tables as arrays and the
                            exit status), for scripts
            """;

    static int run(String[] args) {
        boolean json = false;
        Args a = new Args(args);
        for (String t = a.next(); t != null; t = a.next()) {
            String name = Args.name(t);
            switch (name) {
                case "-h", "--help" -> {
                    System.out.print(USAGE);
                    return 0;
                }
                case "--format" -> {
                    String f = a.value(t, name);
                    if (!f.equals("text") && !f.equals("json")) {
                        throw new Main.UsageException("--format must be text or json, got '" + f + "'");
                    }
                    json = f.equals("json");
                }
                default -> throw new Main.UsageException("unknown argument '" + t + "'; see bin/dscomm doctor --help");
            }
        }
        DoctorReport report = new DoctorReport();
        int status = collect(report, System.getenv());
        if (json) System.out.println(report.json(status));
        else report.printText(System.out);
        return status;
    }

    /** Every finding of this JVM and node, in the order printed; returns the exit status. */
    static int collect(DoctorReport report, java.util.Map<String, String> env) {
        report.line("jdk", "jdk", System.getProperty("java.vm.name") + " " + Runtime.version()
                + " (" + System.getProperty("java.home") + ")");
        report.line("isa", "isa", System.getProperty("os.arch") + ", " + ByteOrder.nativeOrder()
                + ", " + Runtime.getRuntime().availableProcessors() + " cpus");
        report.line("byte order", "byte_order", ByteOrder.nativeOrder().toString());
        String vectors = vectors(env.get(Reducers.VECTOR_BITS_VARIABLE));
        report.line("vectors", "vectors", vectors);
        int status = vectors.startsWith("unusable:") ? 2 : 0;
        Path shm = Path.of(env.getOrDefault("DSCOMM_SHM_DIR", "/dev/shm"));
        report.line("shm", "shm", shmSpace(shm));
        int topology = TopologyReport.collect(report, env, shm);
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
