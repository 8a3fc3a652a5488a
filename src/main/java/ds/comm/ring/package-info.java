/**
 * Socket ring: {@code java.nio} ring collectives for groups whose ranks span nodes.
 *
 * <p>Depends on {@code spi}, {@code lanes} and {@code topology}; never on shared memory.
 */
package ds.comm.ring;
