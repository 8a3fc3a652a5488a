/**
 * The public API of ds-comm: {@link ds.comm.Communicator} and the few value types it takes.
 *
 * <p>A program starts with {@link ds.comm.Communicator#init()} under any supported launcher
 * (bin/dscomm launch, torchrun, the DeepSpeed launcher, mpirun, srun), calls collectives on
 * {@link java.lang.foreign.MemorySegment}s or arrays, splits sub-groups, and closes the
 * communicator. This is the only exported package of module {@code ds.comm}.
 */
package ds.comm;
