/**
 * Shared-memory collectives: lock-free all-reduce and friends over memory-mapped files in
 * /dev/shm, ranks signalling through acquire/release sequence flags on their own cache lines.
 *
 * <p>{@link ds.comm.shm.ShmCollective} is the backend; {@code SegmentDescriptor} holds the
 * memory layout, {@code SegmentFile} creates, verifies and unlinks the files,
 * {@code StepSequencer} is the step protocol (and its memory-model reasoning), and
 * {@code CallDescriptor} lets ranks detect mismatched calls, and {@code HeartbeatPacer} beats a
 * segment's heartbeat counter for peers in another pid namespace, who cannot judge our pid.
 * {@code CrossGroupWatch} turns calls on different groups in different orders (a deadlock no
 * call descriptor can show) into a mismatch on every rank. {@code SymmetricBuffer} is one
 * symmetric allocation: every member's tensor file, mapped by every member, which the zero-copy
 * all-reduce reads and writes in place. {@code Mailboxes} carries point-to-point send/recv
 * through a mailbox per ordered pair at the end of each segment. {@code BulkCopy} makes every
 * large copy in and out of the segments with libc's {@code memmove} ({@code Futex} is the other
 * downcall here), through the collective's {@code MappingGuard}, which defers unmapping until
 * no such copy runs.
 *
 * <p>Depends on {@code spi}, {@code lanes} and {@code topology}; never on the socket ring.
 */
package ds.comm.shm;
