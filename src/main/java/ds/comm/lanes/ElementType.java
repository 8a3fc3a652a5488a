package ds.comm.lanes;

/**
 * The element types the kernels reduce. Payloads are always in the platform's native byte
 * order; 16-bit floats are stored as their IEEE (FP16) or bfloat16 (BF16) bit patterns.
 */
public enum ElementType {
    /** IEEE 754 binary32. */
    FP32(4),
    /** IEEE 754 binary64. */
    FP64(8),
    /** bfloat16: the upper 16 bits of a binary32; reduced in fp32, rounded once. */
    BF16(2),
    /** IEEE 754 binary16; reduced in fp32, rounded once. */
    FP16(2),
    /** 32-bit two's complement; SUM and PROD wrap. */
    INT32(4),
    /** 64-bit two's complement; SUM and PROD wrap. */
    INT64(8);

    private final int byteSize;

    ElementType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }
}
