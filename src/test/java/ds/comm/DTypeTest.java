package ds.comm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DTypeTest {

    @Test
    void byteSizesMatchTheirIeeeAndIntegerWidths() {
        assertEquals(4, DType.FP32.byteSize());
        assertEquals(8, DType.FP64.byteSize());
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(2, DType.FP16.byteSize());
        assertEquals(4, DType.INT32.byteSize());
        assertEquals(8, DType.INT64.byteSize());
    }
}
