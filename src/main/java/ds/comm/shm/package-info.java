/**
 * Shared-memory collectives: lock-free all-reduce and friends over memory-mapped files in
 * /dev/shm, ranks signalling through acquire/release sequence flags on their own cache lines.
 *
 * <p>Depends on {@code spi}, {@code lanes} and {@code topology}; never on the socket ring.
 */
package ds.comm.shm;
