/**
 * Vector lanes: element-wise reduction kernels over {@link java.lang.foreign.MemorySegment}s.
 *
 * <p>Owns the only use of {@code jdk.incubator.vector} in ds-comm. Kernels are written once
 * against the Vector API and run at whatever width the JVM offers (AVX2, AVX-512, NEON, SVE…),
 * with a scalar reference implementation that every width must match bit for bit. Accumulation
 * order is fixed (source 0, then 1, …) and combining is strictly lane-wise, so results never
 * depend on the vector width. fp16 is the exception to "written against the Vector API": that
 * API has no fp16 lane conversion, so {@code Fp16Blocks} stages fp16 through per-thread arrays,
 * where C2 vectorises {@code Float.float16ToFloat}/{@code floatToFloat16} itself; same order,
 * same bits. The bulk 16-bit float conversions the ring and MPI backends carry partial sums with
 * ({@code HalfFloats.widen}/{@code narrow}) go the same way ({@code HalfBlocks}). What the
 * kernels' warm-ups need lives here too: {@code KernelWarmUp} (kernels on private buffers) and
 * {@code JitActivity} (whether this JVM's JIT is still compiling, which the warm-up in
 * {@code init()} and the tool's bench wait for). Depends on no other ds-comm package.
 */
package ds.comm.lanes;
