/**
 * The public API of ds-comm: {@link ds.comm.Communicator} and the few value types it takes.
 *
 * <p>A program starts with {@link ds.comm.Communicator#init()} under any supported launcher
 * (bin/dscomm launch, torchrun, the DeepSpeed launcher, mpirun, srun), calls collectives on
 * {@link java.lang.foreign.MemorySegment}s or arrays, splits sub-groups, and closes the
 * communicator. Tensors allocated with {@link ds.comm.Communicator#allocateSymmetric(long)} are
 * mapped by every rank of a shared-memory group and all-reduced in place, without copies.
 * This is the only exported package of module {@code ds.comm}.
 */
package ds.comm;
