package ds.comm.tool.archfixture;

import ds.comm.shm.ShmCollective;

/**
 * Deliberately breaks the module boundary (the tool naming a backend that module ds.comm does not
 * export to it) so that the architecture tests can prove the tool's rule fails when it should.
 * Test sources only; compiled on the class path, where the module boundary does not hold.
 */
public final class ToolUsingShm {

    private ToolUsingShm() {
    }

    /** The forbidden dependency. */
    public static String backend() {
        return ShmCollective.class.getSimpleName();
    }
}
