package ds.comm.spi;

import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Resolved settings every backend reads. Built by the public API from {@code CommConfig} and the
 * environment; backends never read environment variables themselves.
 *
 * @param timeoutNanos      bound on any single collective (and on setup steps)
 * @param idle              makes a fresh idle strategy for each waiting thread
 * @param shmDir            directory of shared-memory segments (normally /dev/shm)
 * @param shmBytes          bytes of one rank's shared-memory segment
 * @param smallMessageBytes at or below this size the SHM all-reduce uses the one-step algorithm
 * @param chunkBytes        pipeline chunk for large messages (SHM and ring)
 * @param peerLostNanos     a peer silent for this long (no heartbeat from another node or pid
 *                          namespace, or a rank that died before it could be seen) is declared lost
 */
public record Settings(long timeoutNanos,
                       Supplier<IdleStrategy> idle,
                       Path shmDir,
                       long shmBytes,
                       long smallMessageBytes,
                       long chunkBytes,
                       long peerLostNanos) {

    /** Validates every field. */
    public Settings {
        Objects.requireNonNull(idle, "idle");
        Objects.requireNonNull(shmDir, "shmDir");
        if (timeoutNanos <= 0) throw new IllegalArgumentException("timeout must be positive: " + timeoutNanos + " ns");
        if (shmBytes <= 0) throw new IllegalArgumentException("shmBytes must be positive: " + shmBytes);
        if (smallMessageBytes < 0) throw new IllegalArgumentException("smallMessageBytes < 0: " + smallMessageBytes);
        if (chunkBytes < 64) throw new IllegalArgumentException("chunkBytes must be >= 64: " + chunkBytes);
        if (peerLostNanos <= 0) throw new IllegalArgumentException("peerLostNanos must be positive: " + peerLostNanos);
    }

    /**
     * The defaults production uses ({@link ConfigVariable}), for tests: adaptive waiting as for a
     * rank alone on its node.
     */
    public static Settings defaults() {
        int cpus = Runtime.getRuntime().availableProcessors();
        return new Settings(ConfigVariable.TIMEOUT.defaultValue,
                () -> new AdaptiveIdleStrategy(AdaptiveIdleStrategy.DEFAULT_MAX_SPIN_NANOS,
                        AdaptiveIdleStrategy.DEFAULT_MIN_PARK_NANOS, AdaptiveIdleStrategy.DEFAULT_MAX_PARK_NANOS, 1, cpus),
                Path.of(ConfigVariable.SHM_DIR.defaultText), ConfigVariable.SHM_BYTES.defaultValue,
                ConfigVariable.SMALL_BYTES.defaultValue, ConfigVariable.CHUNK_BYTES.defaultValue,
                ConfigVariable.PEER_LOST_TIMEOUT.defaultValue);
    }

    /** Returns a copy whose waits use strategies from {@code idle}. */
    public Settings withIdle(Supplier<IdleStrategy> idle) {
        return new Settings(timeoutNanos, idle, shmDir, shmBytes, smallMessageBytes, chunkBytes, peerLostNanos);
    }

    /** Returns a copy with another timeout. */
    public Settings withTimeoutNanos(long nanos) {
        return new Settings(nanos, idle, shmDir, shmBytes, smallMessageBytes, chunkBytes, peerLostNanos);
    }

    /** Returns a copy with another peer-lost silence bound. */
    public Settings withPeerLostNanos(long nanos) {
        return new Settings(timeoutNanos, idle, shmDir, shmBytes, smallMessageBytes, chunkBytes, nanos);
    }

    /** Returns a copy with another SHM directory. */
    public Settings withShmDir(Path dir) {
        return new Settings(timeoutNanos, idle, dir, shmBytes, smallMessageBytes, chunkBytes, peerLostNanos);
    }
}
