package ds.comm.spi;

/**
 * What a rank does while it waits for peers. Passed in, never hard-coded, so that a dedicated
 * core can spin while an oversubscribed node (8 ranks on 2 cores) yields and parks.
 *
 * <p>Usage: {@link #reset()} before a wait loop, {@link #idle()} after every unsuccessful poll.
 * Instances hold per-loop state and belong to one thread.
 */
public interface IdleStrategy {

    /** Called after a poll found nothing to do. */
    void idle();

    /** Called before a new wait loop starts. */
    void reset();
}
