/**
 * The contract every backend implements ({@link ds.comm.spi.Collective}) and the machinery all
 * backends share: idle strategies, deadlines, settings and the internal failure type.
 *
 * <p>Depends only on {@code ds.comm.lanes} (element types and combiners). Backends
 * ({@code shm}, {@code ring}, …) depend on this package; the public API adapts it.
 */
package ds.comm.spi;
