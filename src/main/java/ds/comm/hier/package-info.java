/**
 * Hierarchical collectives: a group that spans nodes, composed of one collective inside each
 * node (shared memory) and one between the nodes' leaders (socket ring or MPI).
 *
 * <p>Depends only on {@code spi} (and {@code lanes} types): the public API builds the two parts
 * and hands them in, so this package never names a concrete backend.
 */
package ds.comm.hier;
