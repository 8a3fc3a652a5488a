package ds.comm.lanes;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Small helpers that build test segments from values and read results back. */
final class Segments {

    private Segments() {
    }

    static MemorySegment shorts(int... bits) {
        MemorySegment s = MemorySegment.ofArray(new short[bits.length]);
        for (int i = 0; i < bits.length; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) bits[i]);
        }
        return s;
    }

    static MemorySegment floats(float... values) {
        return MemorySegment.ofArray(values.clone());
    }

    static MemorySegment doubles(double... values) {
        return MemorySegment.ofArray(values.clone());
    }

    static MemorySegment ints(int... values) {
        return MemorySegment.ofArray(values.clone());
    }

    static MemorySegment longs(long... values) {
        return MemorySegment.ofArray(values.clone());
    }

    /** Reduces {@code sources} (all of the same element count) into a fresh segment with {@code reducer}. */
    static MemorySegment reduce(Reducer reducer, ElementType type, Combiner op, MemorySegment... sources) {
        long count = sources[0].byteSize() / type.byteSize();
        MemorySegment dst = Arena.ofAuto().allocate(sources[0].byteSize(), 8);
        reducer.reduce(type, op, dst, 0, sources, new long[sources.length], sources.length, count);
        return dst;
    }

    static int shortAt(MemorySegment s, long i) {
        return s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xFFFF;
    }
}
