package ds.comm.bench;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.lanes.Reducers;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * SUM of {@code k} native sources of {@code bytesPerSource} bytes each into a separate native
 * destination, with the reducer {@code DSCOMM_VECTOR_BITS} selects. One operation reduces one
 * source's worth of bytes; {@link KernelBenchMain} turns ops/s into bytes/s.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ReduceBench {

    /** Any {@link ElementType} works ({@code -p type=FP16}); the default run compares these two. */
    @Param({"FP32", "BF16"})
    public ElementType type;

    @Param({"2", "8"})
    public int k;

    @Param({"65536", "16777216"})
    public long bytesPerSource;

    private Arena arena;
    private Reducer reducer;
    private MemorySegment dst;
    private MemorySegment[] src;
    private long[] offsets;
    private long count;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        reducer = Reducers.fromEnvironment();
        count = bytesPerSource / type.byteSize();
        src = new MemorySegment[k];
        offsets = new long[k];
        SplittableRandom rnd = new SplittableRandom(k);
        for (int j = 0; j < k; j++) {
            src[j] = arena.allocate(bytesPerSource, 64);
            // Ordinary finite values: no NaN or subnormal paths, as in real activations.
            for (long i = 0; i < count; i++) {
                float v = (float) rnd.nextGaussian();
                switch (type) {
                    case BF16 -> src[j].setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits(v) >>> 16));
                    case FP16 -> src[j].setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(v));
                    case FP32 -> src[j].setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                    case FP64 -> src[j].setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
                    case INT32 -> src[j].setAtIndex(ValueLayout.JAVA_INT, i, (int) (v * 1000));
                    case INT64 -> src[j].setAtIndex(ValueLayout.JAVA_LONG, i, (long) (v * 1000));
                }
            }
        }
        dst = arena.allocate(bytesPerSource, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void sum() {
        reducer.reduce(type, Combiner.SUM, dst, 0, src, offsets, k, count);
    }
}
