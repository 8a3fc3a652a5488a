package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.spi.CommFailure;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Pins the number of every enum constant that reaches /dev/shm or a socket. A failure here means a
 * format changed: bump SegmentDescriptor.LAYOUT_VERSION or the ring's wire version on purpose, and
 * then update this table.
 */
class StableCodesTest {

    @Test
    void elementTypeCodesArePinned() {
        Map<ElementType, Integer> codes = new LinkedHashMap<>();
        for (ElementType t : ElementType.values()) codes.put(t, t.code());
        assertEquals(Map.of(ElementType.FP32, 1, ElementType.FP64, 2, ElementType.BF16, 3, ElementType.FP16, 4,
                ElementType.INT32, 5, ElementType.INT64, 6), codes);
        for (ElementType t : ElementType.values()) assertSame(t, ElementType.ofCode(t.code()));
        assertNull(ElementType.ofCode(0));
        assertNull(ElementType.ofCode(7));
        assertNull(ElementType.ofCode(-1));
    }

    @Test
    void combinerCodesArePinned() {
        Map<Combiner, Integer> codes = new LinkedHashMap<>();
        for (Combiner c : Combiner.values()) codes.put(c, c.code());
        assertEquals(Map.of(Combiner.SUM, 1, Combiner.PROD, 2, Combiner.MIN, 3, Combiner.MAX, 4), codes);
        for (Combiner c : Combiner.values()) assertSame(c, Combiner.ofCode(c.code()));
        assertNull(Combiner.ofCode(0));
        assertNull(Combiner.ofCode(5));
    }

    @Test
    void failureKindCodesArePinnedAndUnknownCodesMeanAborted() {
        Map<CommFailure.Kind, Integer> codes = new LinkedHashMap<>();
        for (CommFailure.Kind k : CommFailure.Kind.values()) codes.put(k, k.code());
        assertEquals(Map.of(CommFailure.Kind.PEER_LOST, 1, CommFailure.Kind.TIMEOUT, 2, CommFailure.Kind.MISMATCH, 3,
                CommFailure.Kind.SETUP, 4, CommFailure.Kind.ABORTED, 5), codes);
        for (CommFailure.Kind k : CommFailure.Kind.values()) assertSame(k, CommFailure.Kind.ofCode(k.code()));
        assertSame(CommFailure.Kind.ABORTED, CommFailure.Kind.ofCode(0));
        assertSame(CommFailure.Kind.ABORTED, CommFailure.Kind.ofCode(99));
    }

    @Test
    void shmCallKindCodesArePinned() {
        Map<CallDescriptor.Kind, Integer> codes = new LinkedHashMap<>();
        for (CallDescriptor.Kind k : CallDescriptor.Kind.values()) codes.put(k, k.code);
        Map<CallDescriptor.Kind, Integer> pinned = new LinkedHashMap<>();
        pinned.put(CallDescriptor.Kind.OPEN, 0);
        pinned.put(CallDescriptor.Kind.BARRIER, 1);
        pinned.put(CallDescriptor.Kind.ALL_REDUCE, 2);
        pinned.put(CallDescriptor.Kind.ALL_GATHER, 3);
        pinned.put(CallDescriptor.Kind.REDUCE_SCATTER, 4);
        pinned.put(CallDescriptor.Kind.BROADCAST, 5);
        pinned.put(CallDescriptor.Kind.ALL_TO_ALL, 6);
        pinned.put(CallDescriptor.Kind.ALL_TO_ALL_V, 7);
        pinned.put(CallDescriptor.Kind.GATHER, 8);
        pinned.put(CallDescriptor.Kind.SCATTER, 9);
        pinned.put(CallDescriptor.Kind.REDUCE, 10);
        assertEquals(pinned, codes);
    }

    @Test
    void aCallDescriptorWordIsBuiltFromTheCodesNotTheDeclarationOrder() {
        long w = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.BF16, Combiner.MAX, -1);
        assertEquals(2L << 56 | 3L << 48 | 4L << 40, w);
        assertEquals("allReduce(bf16, max, 64 bytes)", CallDescriptor.describe(w, 64, 0));
        assertEquals("corrupt call descriptor 0x" + Long.toHexString(7L << 48),
                CallDescriptor.describe(7L << 48, 64, 0));
    }
}
