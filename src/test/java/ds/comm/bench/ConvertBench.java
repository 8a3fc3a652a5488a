package ds.comm.bench;

import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
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
 * The bulk 16-bit float conversions the socket ring and the MPI backend carry partial sums with
 * ({@link HalfFloats#widen}, {@link HalfFloats#narrow}), native to native. One operation converts
 * {@code bytesPerSource} bytes of 16-bit floats (twice as many fp32 bytes on the other side);
 * {@link KernelBenchMain} sets them against {@link CopyBench} of the 16-bit bytes.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ConvertBench {

    @Param({"BF16", "FP16"})
    public ElementType type;

    @Param({"65536", "16777216"})
    public long bytesPerSource;

    private Arena arena;
    private MemorySegment half;
    private MemorySegment wide;
    private long count;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        count = bytesPerSource / Short.BYTES;
        half = arena.allocate(bytesPerSource, 64);
        wide = arena.allocate(bytesPerSource * 2, 64);
        // Ordinary finite values, as in real activations: no NaN block to fix up.
        SplittableRandom rnd = new SplittableRandom(7);
        for (long i = 0; i < count; i++) {
            wide.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        }
        HalfFloats.narrow(type, wide, 0, half, 0, count);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void widen() {
        HalfFloats.widen(type, half, 0, wide, 0, count);
    }

    @Benchmark
    public void narrow() {
        HalfFloats.narrow(type, wide, 0, half, 0, count);
    }
}
