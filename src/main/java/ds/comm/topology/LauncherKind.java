package ds.comm.topology;

/**
 * Which launcher started this process, as told by the variables it set.
 *
 * <p>The order of the constants is the order in which {@link LaunchEnv#detect} looks for them:
 * explicit ds-comm variables first, then the launchers whose variables are the most specific.
 */
public enum LauncherKind {
    /** {@code bin/dscomm launch} or explicit DSCOMM_RANK / DSCOMM_WORLD_SIZE. */
    DSCOMM("dscomm"),
    /** torchrun / torch elastic: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE. */
    TORCHRUN("torchrun"),
    /** The DeepSpeed launcher: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_SIZE. */
    DEEPSPEED("deepspeed"),
    /** Open MPI's mpirun / prterun: OMPI_COMM_WORLD_*. */
    OPENMPI("openmpi"),
    /** MPICH or Intel MPI (Hydra): PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS. */
    MPICH("mpich"),
    /** Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID. */
    SLURM("slurm"),
    /** No launcher: a single-process world. */
    NONE("none");

    private final String label;

    LauncherKind(String label) {
        this.label = label;
    }

    /** Short lower-case name as printed by doctor, e.g. "openmpi". */
    public String label() {
        return label;
    }

    @Override
    public String toString() {
        return label;
    }
}
