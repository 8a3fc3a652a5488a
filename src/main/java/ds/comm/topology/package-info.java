/**
 * Topology: who is rank what, which ranks share a node, and the rendezvous that verifies it.
 *
 * <p>Reads the launcher's environment (DSCOMM_*, torchrun, DeepSpeed, Open MPI, MPICH/Hydra,
 * Slurm), computes this node's identity from facts (host name, boot id, the device behind the
 * SHM directory) and exchanges them at rendezvous so that every rank holds the same verified
 * table. Environment hints such as LOCAL_SIZE are never trusted on their own. The table also
 * carries each rank's view of its shared-memory directory ({@link ds.comm.topology.ShmView}),
 * so that every rank of a group makes the same SHM decision. {@link ds.comm.topology.Quantities}
 * is the one parser of durations and sizes in DSCOMM_* variables (here because the launcher's
 * own DSCOMM_TIMEOUT is read here, and this package depends on no other ds-comm package).
 * Under srun without MASTER_ADDR/MASTER_PORT the rendezvous address comes from the step's node
 * list ({@link ds.comm.topology.SlurmHostList}) and the port from the job and step ids; a launcher
 * on one node (and a test) picks MASTER_PORT outside the kernel's ephemeral range
 * ({@link ds.comm.topology.MasterPort}).
 *
 * <p>Who may take part: {@link ds.comm.topology.JobSecret} authenticates connections with the
 * job's secret; {@link ds.comm.topology.SocketOwner} and {@link ds.comm.topology.PeerCheck} prove,
 * without one, that a peer on this node runs as this user (rendezvous and ring refuse other
 * uids); {@link ds.comm.topology.WarningThrottle} keeps a flood of refused connections from
 * flooding the log.
 */
package ds.comm.topology;
