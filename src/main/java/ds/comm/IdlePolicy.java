package ds.comm;

import java.time.Duration;
import java.util.Objects;

/**
 * How a rank waits for its peers: spin, then yield, then park with exponential back-off.
 *
 * <p>Spinning gives the lowest latency when each rank owns a core; when ranks outnumber cores
 * a spinning rank steals the core its peer needs, so waits fall back to yielding and parking.
 *
 * @param spins   polls spent spinning ({@link Thread#onSpinWait()}) before yielding
 * @param yields  polls spent yielding before parking
 * @param minPark first park
 * @param maxPark longest park
 */
public record IdlePolicy(long spins, long yields, Duration minPark, Duration maxPark) {

    /** Validates. */
    public IdlePolicy {
        Objects.requireNonNull(minPark, "minPark");
        Objects.requireNonNull(maxPark, "maxPark");
        if (spins < 0 || yields < 0) throw new IllegalArgumentException("spins and yields must be >= 0");
        if (minPark.toNanos() < 1 || maxPark.compareTo(minPark) < 0) {
            throw new IllegalArgumentException("need 0 < minPark <= maxPark, got " + minPark + ", " + maxPark);
        }
    }

    /** The default: a short spin, a few yields, then parks from 1 us up to 1 ms. */
    public static IdlePolicy backoff() {
        return new IdlePolicy(20_000, 50, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }

    /** For ranks pinned to dedicated cores: spin much longer before backing off. */
    public static IdlePolicy spinning() {
        return new IdlePolicy(1_000_000, 1_000, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }

    /** For heavily oversubscribed nodes: park almost at once. */
    public static IdlePolicy parking() {
        return new IdlePolicy(10, 10, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }
}
