package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CallDescriptorTest {

    @Test
    void describesEveryFieldOfACall() {
        long w0 = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.BF16, Combiner.MAX, -1);
        assertEquals("allReduce(bf16, max, 4096 bytes, chunks of 1024)",
                CallDescriptor.describe(w0, 4096, CallDescriptor.plan(CallDescriptor.ALGORITHM_CHUNKED, 1024)));
        long b = CallDescriptor.word0(CallDescriptor.Kind.BROADCAST, null, null, 3);
        assertEquals("broadcast(root 3, 10 bytes, chunks of 64)",
                CallDescriptor.describe(b, 10, CallDescriptor.plan(CallDescriptor.ALGORITHM_CHUNKED, 64)));
        assertEquals("barrier(0 bytes)", CallDescriptor.describe(
                CallDescriptor.word0(CallDescriptor.Kind.BARRIER, null, null, -1), 0, 0));
    }

    @Test
    void wordsFromSharedMemoryThatDecodeToNothingAreShownRawNotTrusted() {
        assertEquals("corrupt call descriptor 0xff00000000000000", CallDescriptor.describe(0xFF00000000000000L, 0, 0));
        assertEquals("corrupt call descriptor 0x2ff000000000000", CallDescriptor.describe(0x02FF000000000000L, 0, 0));
        assertEquals("corrupt call descriptor 0x200000100000000", CallDescriptor.describe(0x0200000100000000L, 0, 0));
    }

    @Test
    void namesTheFirstFieldThatDiffers() {
        long sum = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.FP32, Combiner.SUM, -1);
        long max = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.FP32, Combiner.MAX, -1);
        long fp16 = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.FP16, Combiner.SUM, -1);
        long bcast = CallDescriptor.word0(CallDescriptor.Kind.BROADCAST, null, null, 0);
        long bcast1 = CallDescriptor.word0(CallDescriptor.Kind.BROADCAST, null, null, 1);
        assertEquals("reduction op", CallDescriptor.difference(sum, 8, 0, max, 8, 0));
        assertEquals("element type", CallDescriptor.difference(sum, 8, 0, fp16, 8, 0));
        assertEquals("collective", CallDescriptor.difference(sum, 8, 0, bcast, 8, 0));
        assertEquals("root", CallDescriptor.difference(bcast, 8, 0, bcast1, 8, 0));
        assertEquals("byte count", CallDescriptor.difference(sum, 8, 0, sum, 16, 0));
    }

    @Test
    void aSymmetricAllReduceCarriesItsBufferAndOffsetAndNamesWhichDiffers() {
        long sum = CallDescriptor.word0(CallDescriptor.Kind.ALL_REDUCE, ElementType.FP32, Combiner.SUM, -1);
        // SymmetricBuffer.plan: offset << 16 | index
        long buf2at64 = CallDescriptor.plan(CallDescriptor.ALGORITHM_SYMMETRIC, (64L << 16) | 2);
        long buf2at128 = CallDescriptor.plan(CallDescriptor.ALGORITHM_SYMMETRIC, (128L << 16) | 2);
        long buf3at64 = CallDescriptor.plan(CallDescriptor.ALGORITHM_SYMMETRIC, (64L << 16) | 3);
        long big = CallDescriptor.plan(CallDescriptor.ALGORITHM_SYMMETRIC, (((1L << 40) - 8) << 16) | 65_535);
        long chunked = CallDescriptor.plan(CallDescriptor.ALGORITHM_CHUNKED, 1024);
        assertEquals("allReduce(fp32, sum, 256 bytes, symmetric buffer 2 at offset 64)", CallDescriptor.describe(sum, 256, buf2at64));
        assertEquals("allReduce(fp32, sum, 8 bytes, symmetric buffer 65535 at offset " + ((1L << 40) - 8) + ")",
                CallDescriptor.describe(sum, 8, big));
        assertEquals("offset in the symmetric tensor", CallDescriptor.difference(sum, 256, buf2at64, sum, 256, buf2at128));
        assertEquals("symmetric buffer", CallDescriptor.difference(sum, 256, buf2at64, sum, 256, buf3at64));
        assertEquals("buffer kind (a symmetric tensor on one rank, an ordinary buffer on the other)",
                CallDescriptor.difference(sum, 256, buf2at64, sum, 256, chunked));
    }
}
