package ds.comm;

import ds.comm.lanes.ElementType;

/**
 * Element type of a tensor passed to a collective. Payloads are in native byte order.
 */
public enum DType {
    /** IEEE 754 binary32. */
    FP32(ElementType.FP32),
    /** IEEE 754 binary64. */
    FP64(ElementType.FP64),
    /** bfloat16; reductions accumulate in fp32 and round once to nearest-even. */
    BF16(ElementType.BF16),
    /** IEEE 754 binary16; reductions accumulate in fp32 and round once to nearest-even. */
    FP16(ElementType.FP16),
    /** 32-bit signed integer; SUM and PROD wrap around. */
    INT32(ElementType.INT32),
    /** 64-bit signed integer; SUM and PROD wrap around. */
    INT64(ElementType.INT64);

    private final ElementType element;

    DType(ElementType element) {
        this.element = element;
    }

    /** Bytes per element. */
    public int byteSize() {
        return element.byteSize();
    }

    ElementType element() {
        return element;
    }
}
