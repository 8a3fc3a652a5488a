package ds.comm.lanes;

/**
 * How two elements combine. Floating-point MIN and MAX follow {@link Math#min(float, float)}
 * semantics (NaN wins, -0.0 is less than +0.0), so the scalar and every vector width agree.
 */
public enum Combiner {
    /** Sum; integer sums wrap. */
    SUM,
    /** Product; integer products wrap. */
    PROD,
    /** Minimum. */
    MIN,
    /** Maximum. */
    MAX
}
