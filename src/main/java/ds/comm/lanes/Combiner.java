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
    MAX;

    /*
     * The scalar definition of each op, the reference every kernel (scalar, every vector width,
     * the ring's and MPI's staging) must reproduce bit for bit.
     */

    /** {@code a op b} in fp32. */
    public float apply(float a, float b) {
        return switch (this) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    /** {@code a op b} in fp64. */
    public double apply(double a, double b) {
        return switch (this) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    /** {@code a op b} in int32, wrapping. */
    public int apply(int a, int b) {
        return switch (this) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }

    /** {@code a op b} in int64, wrapping. */
    public long apply(long a, long b) {
        return switch (this) {
            case SUM -> a + b;
            case PROD -> a * b;
            case MIN -> Math.min(a, b);
            case MAX -> Math.max(a, b);
        };
    }
}
