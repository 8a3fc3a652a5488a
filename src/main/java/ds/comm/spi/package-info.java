/**
 * The contract every backend implements ({@link ds.comm.spi.Collective}) and the machinery all
 * backends share: idle strategies, deadlines, settings and the internal failure type, and
 * {@link ds.comm.spi.Compositions}, the all-to-all(v), gather, scatter and reduce built from a
 * backend's own allGather, broadcast and allReduce for backends without a schedule of their own
 * (which extend {@link ds.comm.spi.ComposingCollective} and so get them).
 * {@link ds.comm.spi.BackendCollective} is the skeleton of every backend, and
 * {@link ds.comm.spi.WaitMeter} its account of time spent waiting for peers.
 *
 * <p>Depends only on {@code ds.comm.lanes} (element types and combiners). Backends
 * ({@code shm}, {@code ring}, …) depend on this package; the public API adapts it.
 */
package ds.comm.spi;
