package ds.comm;

import ds.comm.lanes.Combiner;

/**
 * How {@link Communicator#allReduce} and {@link Communicator#reduceScatter} combine elements.
 * Floating-point MIN and MAX follow {@link Math#min(float, float)}: NaN wins, -0.0 &lt; +0.0.
 */
public enum ReduceOp {
    /** Sum (integers wrap). */
    SUM(Combiner.SUM),
    /** Product (integers wrap). */
    PROD(Combiner.PROD),
    /** Minimum. */
    MIN(Combiner.MIN),
    /** Maximum. */
    MAX(Combiner.MAX);

    private final Combiner combiner;

    ReduceOp(Combiner combiner) {
        this.combiner = combiner;
    }

    Combiner combiner() {
        return combiner;
    }
}
