package ds.comm.spi;

import java.util.concurrent.locks.LockSupport;

/**
 * Spin, then yield, then park with exponential back-off.
 *
 * <p>Spinning ({@link Thread#onSpinWait()}) gives the lowest latency when every rank has a
 * core. When ranks outnumber cores, a spinning waiter steals the very core its peer needs to
 * make progress, so after {@code maxSpins} polls it yields, and after {@code maxYields} it
 * parks for {@code minParkNanos}, doubling up to {@code maxParkNanos}.
 */
public final class BackoffIdleStrategy implements IdleStrategy {

    private final long maxSpins;
    private final long maxYields;
    private final long minParkNanos;
    private final long maxParkNanos;

    private long spins;
    private long yields;
    private long parkNanos;

    /**
     * @param maxSpins      polls spent spinning before yielding
     * @param maxYields     polls spent yielding before parking
     * @param minParkNanos  first park duration
     * @param maxParkNanos  longest park duration
     */
    public BackoffIdleStrategy(long maxSpins, long maxYields, long minParkNanos, long maxParkNanos) {
        if (maxSpins < 0 || maxYields < 0 || minParkNanos < 1 || maxParkNanos < minParkNanos) {
            throw new IllegalArgumentException("invalid back-off: spins=" + maxSpins + " yields=" + maxYields
                    + " park=" + minParkNanos + ".." + maxParkNanos + " ns");
        }
        this.maxSpins = maxSpins;
        this.maxYields = maxYields;
        this.minParkNanos = minParkNanos;
        this.maxParkNanos = maxParkNanos;
        this.parkNanos = minParkNanos;
    }

    @Override
    public void idle() {
        if (spins < maxSpins) {
            spins++;
            Thread.onSpinWait();
        } else if (yields < maxYields) {
            yields++;
            Thread.yield();
        } else {
            LockSupport.parkNanos(parkNanos);
            parkNanos = Math.min(parkNanos << 1, maxParkNanos);
        }
    }

    /**
     * The same phases for a waiter that can be woken: instead of parking itself it returns the
     * park duration as the longest block, which its peer's progress may cut short.
     */
    @Override
    public long idleOrBlock() {
        if (spins < maxSpins) {
            spins++;
            Thread.onSpinWait();
            return 0;
        }
        if (yields < maxYields) {
            yields++;
            Thread.yield();
            return 0;
        }
        long block = parkNanos;
        parkNanos = Math.min(parkNanos << 1, maxParkNanos);
        return block;
    }

    @Override
    public void reset() {
        spins = 0;
        yields = 0;
        parkNanos = minParkNanos;
    }

    @Override
    public String toString() {
        return "backoff(spins=" + maxSpins + ", yields=" + maxYields + ", park=" + minParkNanos + ".."
                + maxParkNanos + "ns)";
    }
}
