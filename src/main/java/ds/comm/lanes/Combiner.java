package ds.comm.lanes;

/**
 * How two elements combine. Floating-point MIN and MAX follow {@link Math#min(float, float)}
 * semantics (NaN wins, -0.0 is less than +0.0), so the scalar and every vector width agree.
 */
public enum Combiner {
    /** Sum; integer sums wrap. */
    SUM(1),
    /** Product; integer products wrap. */
    PROD(2),
    /** Minimum. */
    MIN(3),
    /** Maximum. */
    MAX(4);

    private static final StableCodes<Combiner> CODES = new StableCodes<>(values(), Combiner::code);

    private final int code;

    Combiner(int code) {
        this.code = code;
    }

    /**
     * The stable number of this op in shared memory and on the wire, 1..63; 0 means "none". Never
     * the declaration order, so reordering constants cannot change a format (a test pins it).
     */
    public int code() {
        return code;
    }

    /** The op of {@code code}, or null for 0 and for any unknown code. */
    public static Combiner ofCode(int code) {
        return CODES.of(code);
    }

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
