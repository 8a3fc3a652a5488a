/**
 * The {@code mpi} backend: collectives delegated to the cluster's installed MPI library, called
 * through FFM downcalls (no native code ships in ds-comm).
 *
 * <p>Owns: loading the library ({@link ds.comm.mpi.MpiLibrary}, nothing is loaded unless this
 * backend is opened), the two binary interfaces in the wild (Open MPI's pointer handles and the
 * MPICH ABI's integer handles, each isolated in one class behind {@code MpiAbi}), MPI
 * initialisation and finalisation, mapping MPI error codes to
 * {@link ds.comm.spi.CommFailure}, staging of heap memory through a pooled native buffer, and the
 * user-defined reduction ops whose function is an upcall into {@link ds.comm.lanes.Reducer}.
 *
 * <p>Together with {@code ds.comm.shm} this is one of the only two packages allowed to use the
 * FFM {@code Linker}. Depends on {@code ds.comm.spi} and {@code ds.comm.lanes} only.
 */
package ds.comm.mpi;
