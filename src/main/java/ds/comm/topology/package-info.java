/**
 * Topology: who is rank what, which ranks share a node, and the rendezvous that verifies it.
 *
 * <p>Reads the launcher's environment (DSCOMM_*, torchrun, DeepSpeed, Open MPI, MPICH/Hydra,
 * Slurm), computes this node's identity from facts (host name, boot id, the device behind the
 * SHM directory) and exchanges them at rendezvous so that every rank holds the same verified
 * table. Environment hints such as LOCAL_SIZE are never trusted on their own. Depends on no
 * other ds-comm package.
 */
package ds.comm.topology;
