package ds.comm;

import ds.comm.spi.AdaptiveIdleStrategy;

import java.time.Duration;
import java.util.Objects;

/**
 * How a rank waits for its peers.
 *
 * <p>The default, {@link #adaptive()}, is right on a node with a core per rank and on an
 * oversubscribed one alike: it spins only while spinning pays, learning from the node (ranks
 * against available processors) and from what it sees (being preempted while spinning, how long
 * waits take), then blocks in a wait the peer ends (a futex on the shared-memory flag, a selector
 * on the socket). The fixed {@link Backoff} policies are kept for experiments and for comparison.
 */
public sealed interface IdlePolicy permits IdlePolicy.Adaptive, IdlePolicy.Backoff {

    /**
     * Adaptive waiting (see {@link IdlePolicy}).
     *
     * @param maxSpin longest spin phase when each rank has a core (the spin learned is shorter
     *                whenever the thread is seen preempted or peers come late)
     * @param minPark shortest park, for waits nobody can wake (SHM setup, the MPI-less paths)
     * @param maxPark longest park of such a wait; bounds its oversleep
     */
    record Adaptive(Duration maxSpin, Duration minPark, Duration maxPark) implements IdlePolicy {

        /** Validates. */
        public Adaptive {
            Objects.requireNonNull(maxSpin, "maxSpin");
            Objects.requireNonNull(minPark, "minPark");
            Objects.requireNonNull(maxPark, "maxPark");
            if (maxSpin.toNanos() < 1_000) throw new IllegalArgumentException("maxSpin must be >= 1 us, got " + maxSpin);
            if (minPark.toNanos() < 1 || maxPark.compareTo(minPark) < 0) {
                throw new IllegalArgumentException("need 0 < minPark <= maxPark, got " + minPark + ", " + maxPark);
            }
        }
    }

    /**
     * A fixed back-off: spin, then yield, then park with exponential back-off.
     *
     * @param spins   polls spent spinning ({@link Thread#onSpinWait()}) before yielding
     * @param yields  polls spent yielding before parking
     * @param minPark first park
     * @param maxPark longest park
     */
    record Backoff(long spins, long yields, Duration minPark, Duration maxPark) implements IdlePolicy {

        /** Validates. */
        public Backoff {
            Objects.requireNonNull(minPark, "minPark");
            Objects.requireNonNull(maxPark, "maxPark");
            if (spins < 0 || yields < 0) throw new IllegalArgumentException("spins and yields must be >= 0");
            if (minPark.toNanos() < 1 || maxPark.compareTo(minPark) < 0) {
                throw new IllegalArgumentException("need 0 < minPark <= maxPark, got " + minPark + ", " + maxPark);
            }
        }
    }

    /**
     * The default: spin up to 1 ms while it pays, then block until the peer arrives. As long as
     * the earlier fixed spin: on a virtual machine a sleeping rank takes 50-200 us to wake (the
     * idle virtual CPU must be woken by the hypervisor), so with a core per rank a peer that is a
     * few hundred microseconds late is still met spinning; contention shortens the spin.
     */
    static IdlePolicy adaptive() {
        return new Adaptive(Duration.ofNanos(AdaptiveIdleStrategy.DEFAULT_MAX_SPIN_NANOS),
                Duration.ofNanos(AdaptiveIdleStrategy.DEFAULT_MIN_PARK_NANOS),
                Duration.ofNanos(AdaptiveIdleStrategy.DEFAULT_MAX_PARK_NANOS));
    }

    /** The fixed back-off of earlier releases: 20 000 spins, 50 yields, then parks from 1 us to 1 ms. */
    static IdlePolicy backoff() {
        return new Backoff(20_000, 50, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }

    /** For ranks pinned to dedicated cores: spin much longer before backing off. */
    static IdlePolicy spinning() {
        return new Backoff(1_000_000, 1_000, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }

    /** For heavily oversubscribed nodes: park almost at once. */
    static IdlePolicy parking() {
        return new Backoff(10, 10, Duration.ofNanos(1_000), Duration.ofMillis(1));
    }
}
