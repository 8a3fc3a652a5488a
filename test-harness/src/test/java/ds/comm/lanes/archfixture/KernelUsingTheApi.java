package ds.comm.lanes.archfixture;

import ds.comm.DType;

/**
 * Deliberately breaks the layering (a kernel reaching up to the public API) so that the
 * architecture tests can prove their rules fail when they should. Test sources only; imported
 * only by {@code ArchitectureTest}'s negative tests.
 */
public final class KernelUsingTheApi {

    private KernelUsingTheApi() {
    }

    /** The forbidden dependency. */
    public static int width(DType type) {
        return type.byteSize();
    }
}
