package ds.comm.testkit;

import org.junit.jupiter.api.Assumptions;

/**
 * Skips that CI must not take. A test that needs something the machine may lack (a tmpfs mount,
 * network namespaces, {@code unshare}, an MPI launcher, a vector width) skips where it is absent
 * on a developer's machine, but fails under {@code -Ddscomm.requireAll=true} (the Maven property
 * {@code dscomm.requireAll}), so that a CI machine missing a package cannot turn a whole test
 * class green by skipping it. When the property is not given, it is on if the environment has
 * {@code CI=true} ({@code .ci/run} sets it, and so do most CI services); {@code
 * -Ddscomm.requireAll=false} turns it off even there.
 */
public final class RequiredEnvironment {

    /** The system property (and Maven property) that turns skips into failures. */
    public static final String PROPERTY = "dscomm.requireAll";

    private RequiredEnvironment() {
    }

    /** Whether skips are failures in this run. */
    public static boolean required() {
        String p = System.getProperty(PROPERTY);
        if (p != null && !p.isBlank()) return Boolean.parseBoolean(p.strip());
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /**
     * Skips the test ({@link Assumptions#abort}) for {@code reason}, or fails it when skips are
     * failures.
     */
    public static void skip(String reason) {
        if (required()) {
            throw new AssertionError(reason + " (-D" + PROPERTY + " or CI=true: this test must run here)");
        }
        Assumptions.abort(reason);
    }

    /** {@link #skip} unless {@code available}. */
    public static void assumeAvailable(boolean available, String reason) {
        if (!available) skip(reason);
    }

    /**
     * For a test that narrows rather than skips (e.g. runs only the scalar reducer where no
     * vector width exists): fails when skips are failures, otherwise lets the narrowed test run.
     */
    public static void requireWhereRequired(boolean available, String what) {
        if (!available && required()) {
            throw new AssertionError(what + " (-D" + PROPERTY + " or CI=true: this test must run in full here)");
        }
    }
}
