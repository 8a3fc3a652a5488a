package ds.comm.lanes;

/**
 * The element types the kernels reduce. Payloads are always in the platform's native byte
 * order; 16-bit floats are stored as their IEEE (FP16) or bfloat16 (BF16) bit patterns.
 *
 * <p>Each type has an explicit {@link #code()}: the number that stands for it in shared memory
 * and on the wire. It never follows the declaration order, so reordering or adding constants
 * cannot silently change a format (a test pins every code).
 */
public enum ElementType {
    /** IEEE 754 binary32. */
    FP32(4, 1),
    /** IEEE 754 binary64. */
    FP64(8, 2),
    /** bfloat16: the upper 16 bits of a binary32; reduced in fp32, rounded once. */
    BF16(2, 3),
    /** IEEE 754 binary16; reduced in fp32, rounded once. */
    FP16(2, 4),
    /** 32-bit two's complement; SUM and PROD wrap. */
    INT32(4, 5),
    /** 64-bit two's complement; SUM and PROD wrap. */
    INT64(8, 6);

    private static final StableCodes<ElementType> CODES = new StableCodes<>(values(), ElementType::code);

    private final int byteSize;
    private final int code;

    ElementType(int byteSize, int code) {
        this.byteSize = byteSize;
        this.code = code;
    }

    /** The stable number of this type in shared memory and on the wire, 1..63; 0 means "none". */
    public int code() {
        return code;
    }

    /** The type of {@code code}, or null for 0 and for any unknown code (callers range-check peers' words). */
    public static ElementType ofCode(int code) {
        return CODES.of(code);
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }
}
