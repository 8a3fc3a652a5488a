package ds.comm;

import ds.comm.spi.AdaptiveIdleStrategy;
import ds.comm.spi.BackoffIdleStrategy;
import ds.comm.spi.ConfigVariable;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.Settings;
import ds.comm.topology.Quantities;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A {@link CommConfig} with every gap filled from the environment or defaults, remembering where
 * each deciding value came from so that {@link BackendChoice#reason()} can say it.
 *
 * @param backend        requested backend (AUTO unless forced)
 * @param backendSource  "CommConfig", "DSCOMM_BACKEND" or "default"
 * @param shmEnabled     whether AUTO may use SHM
 * @param shmSource      where shmEnabled came from
 * @param mpiEnabled     whether AUTO may use MPI
 * @param vectorBits     kernel width, or -1 for the JVM's preferred width
 * @param mpiLibrary     explicit MPI library, or null
 * @param mpiThreads     the thread level to initialise MPI with
 * @param settings       what the backends read (their idle strategies not yet knowing the node:
 *                       {@link Job} re-makes them once the rendezvous has told it how many ranks
 *                       share it, see {@link #idleStrategies})
 * @param idle           how ranks wait
 * @param warmUp         which reduction kernels {@code init()} compiles before it returns
 * @param environment    the environment the launcher variables come from
 */
record Resolved(Backend backend, String backendSource, boolean shmEnabled, String shmSource, boolean mpiEnabled,
                int vectorBits, String mpiLibrary, MpiThreads mpiThreads, Settings settings, IdlePolicy idle, WarmUpSet warmUp,
                Map<String, String> environment) {

    static Resolved of(CommConfig config) {
        Map<String, String> env = config.environment();
        Backend backend;
        String backendSource;
        if (config.backend().isPresent()) {
            backend = config.backend().get();
            backendSource = "CommConfig";
        } else if (present(env, "DSCOMM_BACKEND")) {
            backend = parse(env, "DSCOMM_BACKEND", Backend::parse);
            backendSource = "DSCOMM_BACKEND=" + env.get("DSCOMM_BACKEND").trim();
        } else {
            backend = Backend.AUTO;
            backendSource = "default";
        }
        boolean shm;
        String shmSource;
        if (config.shmEnabled().isPresent()) {
            shm = config.shmEnabled().get();
            shmSource = "CommConfig.shmEnabled(" + shm + ")";
        } else if (present(env, "DSCOMM_SHM")) {
            shm = parse(env, "DSCOMM_SHM", Resolved::parseSwitch);
            shmSource = "DSCOMM_SHM=" + env.get("DSCOMM_SHM").trim();
        } else {
            shm = true;
            shmSource = "default";
        }
        boolean mpi = config.mpiEnabled().orElseGet(() -> !present(env, "DSCOMM_MPI") || parse(env, "DSCOMM_MPI", Resolved::parseSwitch));
        int bits = config.vectorBits().orElseGet(() -> present(env, "DSCOMM_VECTOR_BITS")
                ? parse(env, "DSCOMM_VECTOR_BITS", v -> {
                    int b = Integer.parseInt(v.trim());
                    if (b != 0 && b != 64 && b != 128 && b != 256 && b != 512) throw new IllegalArgumentException();
                    return b;
                }) : -1);
        String mpiLib = config.mpiLibrary().orElseGet(() -> present(env, "DSCOMM_MPI_LIB") ? env.get("DSCOMM_MPI_LIB").trim() : null);
        MpiThreads mpiThreads = config.mpiThreads().orElseGet(() -> present(env, ConfigVariable.MPI_THREADS.variable)
                ? parse(env, ConfigVariable.MPI_THREADS.variable, MpiThreads::parse) : MpiThreads.MULTIPLE);

        Duration timeout = config.timeout().orElseGet(() -> durationOr(env, ConfigVariable.TIMEOUT));
        Duration silence = config.peerLostTimeout().orElseGet(() -> durationOr(env, ConfigVariable.PEER_LOST_TIMEOUT));
        Path dir = config.shmDir().orElseGet(() -> Path.of(env.getOrDefault(ConfigVariable.SHM_DIR.variable,
                ConfigVariable.SHM_DIR.defaultText)));
        long shmBytes = config.shmBytes().orElseGet(() -> sizeOr(env, ConfigVariable.SHM_BYTES));
        long small = config.smallMessageBytes().orElseGet(() -> sizeOr(env, ConfigVariable.SMALL_BYTES));
        long chunk = config.chunkBytes().orElseGet(() -> sizeOr(env, ConfigVariable.CHUNK_BYTES));
        IdlePolicy idle = config.idle().orElseGet(() -> present(env, "DSCOMM_IDLE")
                ? parse(env, "DSCOMM_IDLE", Resolved::parseIdle) : IdlePolicy.adaptive());
        WarmUpSet warmUp = config.warmUp().orElseGet(() -> present(env, "DSCOMM_WARMUP")
                ? parse(env, "DSCOMM_WARMUP", WarmUpSet::parse) : WarmUpSet.DEFAULT);
        Settings settings = new Settings(timeout.toNanos(), idleStrategies(idle, 1),
                dir, shmBytes, small, chunk, Math.min(silence.toNanos(), timeout.toNanos()));
        return new Resolved(backend, backendSource, shm, shmSource, mpi, bits, mpiLib, mpiThreads, settings, idle, warmUp, env);
    }

    /**
     * Makes the idle strategies of {@code policy} for a process that shares its node with
     * {@code ranksOnNode - 1} other ranks of the job.
     */
    static Supplier<IdleStrategy> idleStrategies(IdlePolicy policy, int ranksOnNode) {
        int cpus = Runtime.getRuntime().availableProcessors();
        return switch (policy) {
            case IdlePolicy.Adaptive a -> {
                long spin = a.maxSpin().toNanos();
                long minPark = a.minPark().toNanos();
                long maxPark = a.maxPark().toNanos();
                yield () -> new AdaptiveIdleStrategy(spin, minPark, maxPark, Math.max(1, ranksOnNode), cpus);
            }
            case IdlePolicy.Backoff b -> {
                long minPark = b.minPark().toNanos();
                long maxPark = b.maxPark().toNanos();
                yield () -> new BackoffIdleStrategy(b.spins(), b.yields(), minPark, maxPark);
            }
        };
    }

    private static boolean present(Map<String, String> env, String key) {
        String v = env.get(key);
        return v != null && !v.isBlank();
    }

    private static <T> T parse(Map<String, String> env, String key, java.util.function.Function<String, T> parser) {
        String v = env.get(key);
        try {
            return parser.apply(v);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("invalid " + key + "='" + v + "'"
                    + (e.getMessage() != null && !(e instanceof NumberFormatException) ? ": " + e.getMessage() : ""), e);
        }
    }

    /** Every DSCOMM_* size goes through {@link Quantities#bytes}: one syntax, bounded before conversion. */
    private static long sizeOr(Map<String, String> env, ConfigVariable v) {
        String key = v.variable;
        return present(env, key) ? Quantities.bytes(key, env.get(key), v.min, v.max) : v.defaultValue;
    }

    /** Every DSCOMM_* duration goes through {@link Quantities#duration}, with the same range as CommConfig's. */
    private static Duration durationOr(Map<String, String> env, ConfigVariable v) {
        String key = v.variable;
        return present(env, key)
                ? Quantities.duration(key, env.get(key), Duration.ofNanos(v.min), Duration.ofNanos(v.max))
                : Duration.ofNanos(v.defaultValue);
    }

    /** "adaptive", "backoff", "spin" or "park": the presets of {@link IdlePolicy}. */
    static IdlePolicy parseIdle(String v) {
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "adaptive" -> IdlePolicy.adaptive();
            case "backoff" -> IdlePolicy.backoff();
            case "spin" -> IdlePolicy.spinning();
            case "park" -> IdlePolicy.parking();
            default -> throw new IllegalArgumentException("expected adaptive, backoff, spin or park");
        };
    }

    /** "0", "off", "false", "no" turn a switch off; "1", "on", "true", "yes" turn it on. */
    static boolean parseSwitch(String v) {
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "0", "off", "false", "no" -> false;
            case "1", "on", "true", "yes" -> true;
            default -> throw new IllegalArgumentException("expected 0/1, on/off, true/false or yes/no");
        };
    }
}
