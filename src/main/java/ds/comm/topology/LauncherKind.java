package ds.comm.topology;

/**
 * Which launcher started this process, as told by the variables it set.
 *
 * <p>The order of the constants is the order in which {@link LaunchEnv#detect} looks for them:
 * explicit ds-comm variables first, then the launchers whose variables are the most specific.
 */
public enum LauncherKind {
    /** {@code bin/dscomm launch} or explicit DSCOMM_RANK / DSCOMM_WORLD_SIZE. */
    DSCOMM("dscomm", "bin/dscomm launch sets them itself; when setting DSCOMM_RANK/DSCOMM_WORLD_SIZE by hand,"
            + " export MASTER_ADDR and MASTER_PORT to every rank as well"),
    /** torchrun / torch elastic: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE. */
    TORCHRUN("torchrun", "torchrun sets them from --master-addr/--master-port (or --rdzv-endpoint); check that"
            + " they reach this process"),
    /** The DeepSpeed launcher: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_SIZE. */
    DEEPSPEED("deepspeed", "the deepspeed launcher sets them from --master_addr/--master_port; check that they"
            + " reach this process"),
    /** Open MPI's mpirun / prterun: OMPI_COMM_WORLD_*. */
    OPENMPI("openmpi", "pass them to every rank with mpirun -x MASTER_ADDR=HOST -x MASTER_PORT=PORT, or let MPI"
            + " bring the ranks together (it does for every backend unless DSCOMM_MPI=0)"),
    /** MPICH or Intel MPI (Hydra): PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS. */
    MPICH("mpich", "pass them to every rank with mpiexec -genv MASTER_ADDR HOST -genv MASTER_PORT PORT, or let"
            + " MPI bring the ranks together (it does for every backend unless DSCOMM_MPI=0)"),
    /** Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID. */
    SLURM("slurm", "under srun they default to the first host of SLURM_STEP_NODELIST and a port derived from"
            + " SLURM_JOB_ID and SLURM_STEP_ID, which srun sets for every task (a task started some other way"
            + " lacks them); export MASTER_ADDR and MASTER_PORT before srun to choose others"),
    /** No launcher: a single-process world. */
    NONE("none", "export MASTER_ADDR and MASTER_PORT to every rank");

    private final String label;
    private final String masterHint;

    LauncherKind(String label, String masterHint) {
        this.label = label;
        this.masterHint = masterHint;
    }

    /**
     * How MASTER_ADDR and MASTER_PORT reach a rank under this launcher, for "not set" messages:
     * a hint naming another launcher's flags only confuses (mpirun's {@code -x} under srun).
     */
    public String masterHint() {
        return masterHint;
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
