/**
 * The {@code mpi} backend: collectives delegated to the cluster's installed MPI library, called
 * through FFM downcalls (no native code ships in ds-comm).
 *
 * <p>Owns:
 * <ul>
 *   <li>loading the library ({@link ds.comm.mpi.MpiLibrary}; nothing is loaded unless this
 *       backend is opened), the launcher's own implementation's first
 *       ({@link ds.comm.mpi.MpiImplementation}) and the MPI lifecycle (init with MPI_THREAD_MULTIPLE unless the host
 *       already initialised MPI, finalize after the last communicator if we initialised);</li>
 *   <li>the two binary interfaces in the wild, each a table of values in {@code MpiAbi}: Open MPI
 *       (handles are addresses of exported objects) and the MPICH ABI (handles are int
 *       constants), with every constant verified against the installed headers;</li>
 *   <li>{@link ds.comm.mpi.MpiCollective}: the {@link ds.comm.spi.Collective} of one MPI
 *       communicator, MPI error codes turned into {@link ds.comm.spi.CommFailure} with
 *       MPI_Error_string's text, heap memory staged through a pooled native buffer, 16-bit floats
 *       widened to fp32, and floating MIN/MAX as MPI user ops whose function is an upcall into a
 *       {@link ds.comm.lanes.Reducer};</li>
 *   <li>the watchdog that turns an MPI call overrunning the group timeout into an explained
 *       MPI_Abort instead of a hang, and the guard that keeps UCX from taking the JVM's SIGSEGV.</li>
 * </ul>
 *
 * <p>Together with {@code ds.comm.shm} this is one of the only two packages allowed to use the
 * FFM {@code Linker}. Depends on {@code ds.comm.spi} and {@code ds.comm.lanes} only.
 */
package ds.comm.mpi;
