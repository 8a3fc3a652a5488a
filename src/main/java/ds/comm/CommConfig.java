package ds.comm;

import ds.comm.spi.ConfigVariable;
import ds.comm.topology.Quantities;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Explicit settings for {@link Communicator#init(CommConfig)}. Every setting left unset falls
 * back to its environment variable, then to the default; a setting made here wins over the
 * environment (most specific first).
 *
 * <table>
 * <caption>Settings, their environment variables and defaults</caption>
 * <tr><th>setting</th><th>environment</th><th>default</th></tr>
 * <tr><td>{@link Builder#backend}</td><td>DSCOMM_BACKEND=auto|shm|ring|hier|mpi</td><td>auto</td></tr>
 * <tr><td>{@link Builder#shmEnabled}</td><td>DSCOMM_SHM=0 turns SHM (and HIER) off for AUTO</td><td>on</td></tr>
 * <tr><td>{@link Builder#mpiEnabled}</td><td>DSCOMM_MPI=0 keeps MPI out of AUTO</td><td>on</td></tr>
 * <tr><td>{@link Builder#timeout}</td><td>DSCOMM_TIMEOUT (1ms to 365d)</td><td>30 s</td></tr>
 * <tr><td>{@link Builder#peerLostTimeout}</td><td>DSCOMM_PEER_LOST_TIMEOUT (1ms to 365d)</td><td>3 s (never above the timeout)</td></tr>
 * <tr><td>{@link Builder#shmDir}</td><td>DSCOMM_SHM_DIR</td><td>/dev/shm</td></tr>
 * <tr><td>{@link Builder#shmBytes}</td><td>DSCOMM_SHM_BYTES (per rank; 64K to 64G)</td><td>4M</td></tr>
 * <tr><td>{@link Builder#smallMessageBytes}</td><td>DSCOMM_SMALL_BYTES (0 to 64G)</td><td>64K</td></tr>
 * <tr><td>{@link Builder#chunkBytes}</td><td>DSCOMM_CHUNK_BYTES (4K to 1G)</td><td>1M</td></tr>
 * <tr><td>{@link Builder#vectorBits}</td><td>DSCOMM_VECTOR_BITS=0|64|128|256|512</td><td>the JVM's preferred width</td></tr>
 * <tr><td>{@link Builder#idle}</td><td>DSCOMM_IDLE=adaptive|backoff|spin|park</td><td>{@link IdlePolicy#adaptive()}</td></tr>
 * <tr><td>{@link Builder#warmUp}</td><td>DSCOMM_WARMUP=0|1|all|type[:op],… (collective path compiled by init, with the peers; 1 = SUM of fp32 and bf16; a one-type job may name its type)</td><td>1</td></tr>
 * <tr><td>{@link Builder#mpiLibrary}</td><td>DSCOMM_MPI_LIB</td><td>the launcher's own MPI (mpirun: libmpi.so.40; Hydra mpiexec: libmpich.so.12, libmpi.so.12); otherwise libmpi.so.40, then MPICH's</td></tr>
 * <tr><td>{@link Builder#mpiThreads}</td><td>DSCOMM_MPI_THREADS=multiple|single (single: MPI without its locks, ds-comm serialises its calls; for groups used from one thread at a time)</td><td>multiple</td></tr>
 * </table>
 *
 * <p>Durations are a number of seconds ({@code 30}, {@code 2.5}) or a number with a unit
 * ({@code 250ms}, {@code 0.5s}, {@code 2m}, {@code 1h}, {@code 1d}), whole milliseconds; sizes are
 * whole bytes with an optional binary K, M, G or T ({@code 4096}, {@code 64K}, {@code 16MiB}). A
 * sign, an exponent, a blank before the unit, a fraction of a byte or of a millisecond, and a
 * value outside the ranges above are rejected with a message naming the variable and the range;
 * the setters below enforce the same ranges. The CLI's sizes and durations use the same parser.
 */
public final class CommConfig {

    // Ranges and defaults live in ConfigVariable, the one source the table above is checked against.
    // shmBytes: at least the header and two data areas of one cache line per rank, at most 64G
    // (more is a typo: every local rank maps every peer's segment). smallMessageBytes: up to
    // beyond any segment, where it only ever means "always one-step". chunkBytes: one page to
    // 1G (a ring frame, header and chunk, must stay below 2 GiB).

    private final Backend backend;
    private final Boolean shmEnabled;
    private final Boolean mpiEnabled;
    private final Duration timeout;
    private final Duration peerLostTimeout;
    private final Path shmDir;
    private final Long shmBytes;
    private final Long smallMessageBytes;
    private final Long chunkBytes;
    private final Integer vectorBits;
    private final IdlePolicy idle;
    private final WarmUpSet warmUp;
    private final String mpiLibrary;
    private final MpiThreads mpiThreads;
    private final Map<String, String> environment;

    private CommConfig(Builder b) {
        this.backend = b.backend;
        this.shmEnabled = b.shmEnabled;
        this.mpiEnabled = b.mpiEnabled;
        this.timeout = b.timeout;
        this.peerLostTimeout = b.peerLostTimeout;
        this.shmDir = b.shmDir;
        this.shmBytes = b.shmBytes;
        this.smallMessageBytes = b.smallMessageBytes;
        this.chunkBytes = b.chunkBytes;
        this.vectorBits = b.vectorBits;
        this.idle = b.idle;
        this.warmUp = b.warmUp;
        this.mpiLibrary = b.mpiLibrary;
        this.mpiThreads = b.mpiThreads;
        this.environment = b.environment;
    }

    /** A builder with nothing set: everything comes from the environment or defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Everything from the environment or defaults. */
    public static CommConfig fromEnvironment() {
        return builder().build();
    }

    Optional<Backend> backend() {
        return Optional.ofNullable(backend);
    }

    Optional<Boolean> shmEnabled() {
        return Optional.ofNullable(shmEnabled);
    }

    Optional<Boolean> mpiEnabled() {
        return Optional.ofNullable(mpiEnabled);
    }

    Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    Optional<Duration> peerLostTimeout() {
        return Optional.ofNullable(peerLostTimeout);
    }

    Optional<Path> shmDir() {
        return Optional.ofNullable(shmDir);
    }

    Optional<Long> shmBytes() {
        return Optional.ofNullable(shmBytes);
    }

    Optional<Long> smallMessageBytes() {
        return Optional.ofNullable(smallMessageBytes);
    }

    Optional<Long> chunkBytes() {
        return Optional.ofNullable(chunkBytes);
    }

    Optional<Integer> vectorBits() {
        return Optional.ofNullable(vectorBits);
    }

    Optional<IdlePolicy> idle() {
        return Optional.ofNullable(idle);
    }

    Optional<WarmUpSet> warmUp() {
        return Optional.ofNullable(warmUp);
    }

    Optional<String> mpiLibrary() {
        return Optional.ofNullable(mpiLibrary);
    }

    Optional<MpiThreads> mpiThreads() {
        return Optional.ofNullable(mpiThreads);
    }

    Map<String, String> environment() {
        return environment;
    }

    /** Builds a {@link CommConfig}. Every setter validates at once. */
    public static final class Builder {
        private Backend backend;
        private Boolean shmEnabled;
        private Boolean mpiEnabled;
        private Duration timeout;
        private Duration peerLostTimeout;
        private Path shmDir;
        private Long shmBytes;
        private Long smallMessageBytes;
        private Long chunkBytes;
        private Integer vectorBits;
        private IdlePolicy idle;
        private WarmUpSet warmUp;
        private String mpiLibrary;
        private MpiThreads mpiThreads;
        private Map<String, String> environment = System.getenv();

        private Builder() {
        }

        /** Which backend to use for every group; {@link Backend#AUTO} chooses per group. */
        public Builder backend(Backend backend) {
            if (Objects.requireNonNull(backend, "backend") == Backend.LOCAL) {
                throw new IllegalArgumentException("LOCAL is chosen automatically for groups of one rank");
            }
            this.backend = backend;
            return this;
        }

        /** Whether AUTO may pick SHM (and HIER). Forcing SHM while disabling it is an error at init. */
        public Builder shmEnabled(boolean enabled) {
            this.shmEnabled = enabled;
            return this;
        }

        /** Whether AUTO may pick MPI for the cross-node part when ranks were started by an MPI launcher. */
        public Builder mpiEnabled(boolean enabled) {
            this.mpiEnabled = enabled;
            return this;
        }

        /** Bound on every collective and on init: 1 ms to 365 days. */
        public Builder timeout(Duration timeout) {
            if (Objects.requireNonNull(timeout, "timeout").isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be positive: " + timeout);
            }
            this.timeout = Quantities.checkDuration("timeout", timeout, Duration.ofNanos(ConfigVariable.TIMEOUT.min),
                    Duration.ofNanos(ConfigVariable.TIMEOUT.max));
            return this;
        }

        /**
         * How long a peer may stay silent before it is declared lost: a rank in another node (or in
         * another pid namespace) whose heartbeat stopped, or a rank that died before it could be
         * seen. Shorter detects a frozen node sooner; longer tolerates longer stalls (a multi-second
         * GC pause stops the heartbeat too). Capped by {@link #timeout}.
         */
        public Builder peerLostTimeout(Duration silence) {
            if (Objects.requireNonNull(silence, "silence").isNegative() || silence.isZero()) {
                throw new IllegalArgumentException("peer-lost timeout must be positive: " + silence);
            }
            this.peerLostTimeout = Quantities.checkDuration("peer-lost timeout", silence,
                    Duration.ofNanos(ConfigVariable.PEER_LOST_TIMEOUT.min), Duration.ofNanos(ConfigVariable.PEER_LOST_TIMEOUT.max));
            return this;
        }

        /** Directory for shared-memory segments. */
        public Builder shmDir(Path dir) {
            this.shmDir = Objects.requireNonNull(dir, "dir");
            return this;
        }

        /** Bytes of each rank's shared-memory segment: 64 KiB to 64 GiB. */
        public Builder shmBytes(long bytes) {
            this.shmBytes = Quantities.checkBytes("shmBytes", bytes, ConfigVariable.SHM_BYTES.min,
                    ConfigVariable.SHM_BYTES.max);
            return this;
        }

        /** Messages up to this size use the one-step SHM algorithm (every rank reduces everything). */
        public Builder smallMessageBytes(long bytes) {
            this.smallMessageBytes = Quantities.checkBytes("smallMessageBytes", bytes, ConfigVariable.SMALL_BYTES.min,
                    ConfigVariable.SMALL_BYTES.max);
            return this;
        }

        /** Pipeline chunk for large messages: 4 KiB to 1 GiB. */
        public Builder chunkBytes(long bytes) {
            this.chunkBytes = Quantities.checkBytes("chunkBytes", bytes, ConfigVariable.CHUNK_BYTES.min,
                    ConfigVariable.CHUNK_BYTES.max);
            return this;
        }

        /** Vector width of the reduction kernels: 0 (scalar), 64, 128, 256 or 512 bits. */
        public Builder vectorBits(int bits) {
            if (bits != 0 && bits != 64 && bits != 128 && bits != 256 && bits != 512) {
                throw new IllegalArgumentException("vectorBits must be 0, 64, 128, 256 or 512: " + bits);
            }
            this.vectorBits = bits;
            return this;
        }

        /** How ranks wait for each other. */
        public Builder idle(IdlePolicy idle) {
            this.idle = Objects.requireNonNull(idle, "idle");
            return this;
        }

        /**
         * Whether {@link Communicator#init()} drives fp32 and bf16 SUM all-reduces through the
         * collective path with the peers until the JIT has compiled it, so that the first collective already
         * runs compiled code (on by default: init() took 2.5-9.5 s with it on a 2-vCPU machine where two
         * ranks' JITs share the cores, and is logged; see docs/performance.md). Off, the first
         * second of collectives runs the Vector API interpreted (tens of times slower) and the JIT
         * competes with the ranks for the cores. {@code DSCOMM_WARMUP} also takes a list of
         * kinds ({@code bf16}, {@code fp32,bf16:max}) or {@code all}.
         */
        public Builder warmUp(boolean enabled) {
            this.warmUp = enabled ? WarmUpSet.DEFAULT : WarmUpSet.NONE;
            return this;
        }

        /** Path or soname of the MPI library for the MPI backend. */
        public Builder mpiLibrary(String library) {
            this.mpiLibrary = Objects.requireNonNull(library, "library");
            return this;
        }

        /**
         * The thread level ds-comm asks for when it initialises MPI ({@link MpiThreads}: multiple
         * by default; single for the fastest small collectives under Open MPI when the groups are
         * used from one thread at a time).
         */
        public Builder mpiThreads(MpiThreads threads) {
            this.mpiThreads = Objects.requireNonNull(threads, "threads");
            return this;
        }

        /**
         * The environment to read launcher variables and DSCOMM_* defaults from (default: the
         * process environment). Tests and embedding programs use this to avoid global state.
         */
        public Builder environment(Map<String, String> env) {
            this.environment = Map.copyOf(Objects.requireNonNull(env, "env"));
            return this;
        }

        /** The configuration. */
        public CommConfig build() {
            return new CommConfig(this);
        }
    }
}
