package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MPICH ABI's integer handles survive ds-comm's long representation; constants are distinct. */
class MpiAbiTest {

    private final MpiAbi mpich = MpichAbi.abi();

    @Test
    void mpichUserHandlesWithTheHighBitSetRoundTripThroughLong() throws Throwable {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ValueLayout.JAVA_INT);
            int userOp = 0x98000000; // user-defined op handles have the high bit set: negative ints
            slot.set(ValueLayout.JAVA_INT, 0, userOp);
            long handle = mpich.readHandle(slot);
            assertEquals(userOp, (int) mpich.handleToCarrier().invoke(handle));
            mpich.writeHandle(slot, handle);
            assertEquals(userOp, slot.get(ValueLayout.JAVA_INT, 0));
        }
    }

    @Test
    void mpichPredefinedHandlesAreDistinctAndInPlaceIsMinusOne() {
        Set<Long> handles = new HashSet<>();
        for (ElementType t : new ElementType[] {ElementType.FP32, ElementType.FP64, ElementType.INT32, ElementType.INT64}) {
            assertTrue(handles.add(mpich.datatype(t)), t.toString());
        }
        assertTrue(handles.add(mpich.byteType()));
        for (Combiner c : Combiner.values()) assertTrue(handles.add(mpich.op(c)), c.toString());
        assertTrue(handles.add(mpich.commWorld()));
        assertTrue(handles.add(mpich.errorsReturn()));
        assertEquals(0L, mpich.datatype(ElementType.BF16), "MPI has no bf16 datatype");
        assertEquals(-1L, mpich.inPlace());
        assertEquals(0x58000003L, mpich.op(Combiner.SUM));
    }
}
