package ds.comm.spi;

/**
 * What a rank does while it waits for peers. Passed in, never hard-coded, so that a dedicated
 * core can spin while an oversubscribed node (8 ranks on 2 cores) yields and blocks.
 *
 * <p>Usage: {@link #reset()} before a wait loop, then after every unsuccessful poll either
 * {@link #idle()} (a waiter that nobody can wake: the strategy spins, yields or parks itself)
 * or {@link #idleOrBlock()} (a waiter that can block in a kernel wait its peer ends, such as a
 * futex on a shared-memory word or a selector on a socket: the strategy spins or yields, or
 * tells the waiter to block). Instances hold per-loop state, may learn across loops, and
 * belong to one thread.
 */
public interface IdleStrategy {

    /** Called after a poll found nothing to do, by a waiter that cannot be woken. */
    void idle();

    /** Called before a new wait loop starts. */
    void reset();

    /**
     * Called when a wait loop ends because what it waited for arrived (optional: a strategy that
     * learns from how long waits take is told the end exactly, a blocked wait included).
     */
    default void waitEnded() {
    }

    /**
     * Called after a poll found nothing to do, by a waiter that can block until its peer makes
     * progress.
     *
     * @return 0 when the strategy has spun or yielded and the caller should poll again; else
     *         the longest time, in nanoseconds, the caller should block in its kernel wait
     *         before polling again (it may block for less, e.g. to check a deadline)
     */
    default long idleOrBlock() {
        idle();
        return 0;
    }
}
