package ds.comm.shm.archfixture;

import jdk.incubator.vector.FloatVector;

/**
 * Deliberately breaks the layering (Vector API outside the kernels) so that the architecture
 * tests can prove the rule fails. Test sources only.
 */
public final class ShmUsingVectors {

    private ShmUsingVectors() {
    }

    /** The forbidden dependency. */
    public static int lanes() {
        return FloatVector.SPECIES_PREFERRED.length();
    }
}
