package ds.comm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.KernelWarmUp;
import ds.comm.mpi.MpiCollective;
import ds.comm.observe.CollectiveEvent;
import ds.comm.observe.FailureEvent;
import ds.comm.observe.GroupCloseEvent;
import ds.comm.observe.GroupOpenEvent;

import ds.comm.shm.ShmCollective;
import ds.comm.spi.Collective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.GroupSpec;
import ds.comm.topology.RendezvousException;
import ds.comm.topology.ShmView;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * A group of ranks and its collectives.
 *
 * <pre>{@code
 * try (Communicator comm = Communicator.init()) {         // from the launcher's environment
 *     comm.allReduce(segment, DType.BF16, ReduceOp.SUM);  // in place
 *     Communicator tp = comm.split(comm.rank() / 2, comm.rank());
 *     ...
 * }
 * }</pre>
 *
 * <p><b>Calling rules.</b> Every member of the group calls the same collectives in the same
 * order with matching arguments (type, op, element count, root). A communicator is used by one
 * thread at a time. Segments may be heap or native, of any length that is a multiple of the
 * element size, at any offset; they must be writable where the call writes.
 *
 * <p><b>Failures.</b> Every call is bounded by the configured timeout. A dead peer, a timeout,
 * mismatched calls or a setup failure throw a {@link CommException} naming the rank, the group
 * and the operation; the communicator is then aborted (later calls throw at once) and
 * {@link #close()} still releases everything. Argument errors throw
 * {@link IllegalArgumentException} and leave the communicator usable; calls on a closed
 * communicator throw {@link IllegalStateException}.
 *
 * <p><b>Backends.</b> Each communicator (the world and every {@link #split}) picks its own
 * backend: shared memory when every member is on this node, hierarchical or ring when the
 * members span nodes. {@link #backend()} says which and why. The choice is one per group: every
 * member decides from the same inputs, including every member's view of its shared-memory
 * directory (exchanged at the rendezvous for the world, with the colors for a split), so a
 * free-space race on one rank cannot put members on different backends.
 */
public final class Communicator implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    private final Job job;
    private final GroupSpec group;
    private final Collective engine;
    private final BackendChoice choice;
    /**
     * This group's own hold on its MPI communicator in a job that met through MPI (the parent of
     * its splits), else null; closed with the group (the engine, if MPI, holds it too).
     */
    private final MpiCollective mpi;
    private int splits;
    /** Whether the engine accounts its waits for peers: while a JFR recording takes collective events. */
    private boolean measuringWaits;

    /**
     * What {@link #close()} adds to a running non-blocking call's own deadline before it gives
     * up on it: room for the call to build and report its failure once its timeout expired.
     */
    private static final long CLOSE_GRACE_NANOS = 500_000_000L;
    /** Lower-case names for events, by ordinal: looked up, not built, when an event is committed. */
    private static final String[] DTYPE_LABELS = labels(DType.values());
    private static final String[] OP_LABELS = labels(ReduceOp.values());

    /** Ints each rank contributes to a split's all-gather: color, key, and its ShmView (two longs). */
    private static final int SPLIT_INTS = 6;
    private volatile boolean closed;
    private volatile CommException abortedBy;
    /** Symmetric buffers of a group without shared memory (ring, MPI, HIER, one rank); closed with it. */
    private Arena plainSymmetric;
    /**
     * The non-blocking calls' queue and progress thread, created by the first one. Plain: only
     * the thread using the communicator reads and writes it.
     */
    private ProgressQueue async;
    /**
     * True when MPI runs one call at a time in this process (DSCOMM_MPI_THREADS=single, or a host
     * that initialised MPI serialized): then every group's calls are kept in issue order across
     * groups (see {@link #drainOtherGroups}).
     */
    private final boolean mpiOneCallAtATime;

    private Communicator(Job job, GroupSpec group, Collective engine, BackendChoice choice, MpiCollective mpi) {
        this.job = job;
        this.group = group;
        this.engine = engine;
        this.choice = choice;
        this.mpi = mpi;
        this.mpiOneCallAtATime = mpi != null && mpi.callsSerialised();
        job.acquire();
        LOG.log(System.Logger.Level.INFO, "ds-comm group {0} (rank {1} of {2}): {3}",
                group.name(), group.myIndex(), group.size(), choice);
    }

    /**
     * Joins the job the launcher started (bin/dscomm launch, torchrun, DeepSpeed, mpirun, srun),
     * with every setting from the environment. Without launcher variables this is a world of one.
     *
     * @return the world communicator
     * @throws CommException            when the rendezvous or the backend cannot be set up in time
     * @throws IllegalArgumentException when launcher or DSCOMM_* variables are malformed
     */
    public static Communicator init() {
        return init(CommConfig.fromEnvironment());
    }

    /**
     * Joins the job with explicit settings; unset ones come from the environment.
     *
     * @param config settings
     * @return the world communicator
     */
    public static Communicator init(CommConfig config) {
        Objects.requireNonNull(config, "config");
        Job job;
        try {
            job = Job.start(config);
        } catch (CommFailure f) {
            throw recordFailure(translate(f), "w", -1, "init");
        } catch (RendezvousException e) {
            throw recordFailure(translate(e), "w", -1, "init");
        }
        var topo = job.topology();
        int[] everyone = new int[topo.worldSize()];
        for (int i = 0; i < everyone.length; i++) everyone[i] = i;
        GroupSpec world = new GroupSpec("w", topo.jobToken(), everyone, topo.rank());
        Communicator comm = open(job, world, true, job.mpiWorld() == null ? null : job.mpiWorld().hold(),
                job.worldViews(everyone));
        try {
            job.warmUp().run(comm);
        } catch (RuntimeException | Error e) {
            comm.close();
            throw e;
        }
        return comm;
    }

    /** @param views every member's shared-memory view, in group order: the same array on every member */
    private static Communicator open(Job job, GroupSpec group, boolean firstUser, MpiCollective mpi, ShmView[] views) {
        Collective engine = null;
        GroupOpenEvent event = new GroupOpenEvent();
        event.begin();
        try {
            BackendChoice choice = job.choose(group, views);
            engine = job.open(group, choice, mpi);
            Communicator comm = new Communicator(job, group, engine, choice, mpi);
            if (event.shouldCommit()) {
                event.set(group.name(), group.size(), group.myIndex(), group.myWorldRank(), choice.backend().label(),
                        choice.reason());
                event.commit();
            }
            return comm;
        } catch (CommFailure f) {
            release(job, engine, mpi, firstUser);
            throw recordFailure(translate(f), group.name(), group.myWorldRank(), "open " + f.operation());
        } catch (RuntimeException e) {
            release(job, engine, mpi, firstUser);
            throw e;
        }
    }

    private static void release(Job job, Collective engine, MpiCollective mpi, boolean firstUser) {
        if (engine != null) engine.close();
        if (mpi != null) mpi.close();
        if (firstUser) job.acquireAndRelease();
    }

    /** This process's rank in the group, {@code 0 .. size()-1}. */
    public int rank() {
        return group.myIndex();
    }

    /** Number of ranks in the group. */
    public int size() {
        return group.size();
    }

    /** This process's rank in the world the launcher started. */
    public int worldRank() {
        return group.myWorldRank();
    }

    /** The group's name, unique within the job ("w" for the world, "w.s1c0" for a split). */
    public String name() {
        return group.name();
    }

    /** Number of distinct nodes (verified at rendezvous) that the group's members sit on. */
    public int nodes() {
        var topo = job.topology();
        return (int) java.util.Arrays.stream(group.members()).mapToObj(topo::nodeOf).distinct().count();
    }

    /**
     * Compiles the reduction kernels of {@code type} with each of {@code ops} at the vector width
     * in use, so that the first collective of that kind runs compiled code instead of paying the
     * JIT's warm-up (the Vector API is tens of times slower until C2 has compiled a kernel).
     * {@code init()} already drives fp32 and bf16 SUM through the whole collective path (see
     * {@code DSCOMM_WARMUP}, which can name other kinds);
     * call this for other types or operations before a latency-critical loop. Local: it involves no
     * peer and may be called by some ranks only. Kernels stay compiled for the life of the JVM.
     *
     * @param type element type
     * @param ops  operations (at least one)
     * @return the time it took; {@link Duration#ZERO} when every kernel was already compiled
     * @throws IllegalStateException when the kernels are still not compiled after 20 s (e.g. a
     *                               JVM without a C2 compiler); collectives still work, slower
     */
    public Duration warmUp(DType type, ReduceOp... ops) {
        Objects.requireNonNull(type, "type");
        if (ops.length == 0) throw new IllegalArgumentException("warmUp needs at least one ReduceOp");
        List<ElementType> types = new ArrayList<>();
        List<Combiner> combiners = new ArrayList<>();
        for (ReduceOp op : ops) {
            types.add(type.element());
            combiners.add(Objects.requireNonNull(op, "op").combiner());
        }
        KernelWarmUp.Report r = KernelWarmUp.run(job.reducer(), types, combiners, WarmUp.sourcesFor(job.ranksOnNode()),
                WarmUp.EXPLICIT_BUDGET_NANOS);
        if (!r.complete()) throw new IllegalStateException("ds-comm warm-up: " + r);
        return r.compiled().isEmpty() ? Duration.ZERO : Duration.ofNanos(r.elapsedNanos());
    }

    /** Which backend this communicator uses, and why. */
    public BackendChoice backend() {
        return choice;
    }

    /**
     * Element-wise reduction over all ranks, in place: afterwards every rank's {@code buf} holds
     * {@code op} applied over every rank's {@code buf}.
     *
     * <p><b>Reproducibility.</b> The result is a function of the inputs, the number of ranks, the
     * group's layout over nodes and the backend alone: never of timing, arrival order, vector
     * width or CPU architecture. Every rank receives the same bits. Elements combine strictly
     * lane-wise in a fixed order (no FMA, no horizontal reductions); BF16 and FP16 widen to fp32,
     * accumulate there and round once to nearest-even.
     *
     * @param buf  input and output; its size must be a multiple of {@code type.byteSize()}
     * @param type element type
     * @param op   how elements combine
     */
    public void allReduce(MemorySegment buf, DType type, ReduceOp op) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(op, "op");
        checkWritable(buf, type, "allReduce");
        ready();
        runAllReduce(buf, type, op);
    }

    private void runAllReduce(MemorySegment buf, DType type, ReduceOp op) {
        // Not committed, the event is scalar-replaced by the JIT: no allocation, a few loads.
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.allReduce(buf, type.element(), op.combiner());
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "allReduce", type, op, buf.byteSize(), -1, waited);
    }

    /**
     * Collective: allocates a symmetric tensor of {@code byteSize} bytes on every rank of the
     * group, all of which must call it with the same size. An {@link #allReduce} of it, or of a
     * slice of it ({@code t.asSlice(off, len)}, the same offset and length on every rank), runs
     * without copying the tensor in or out: on a shared-memory group every rank has mapped every
     * rank's tensor, reduces its 1/N slice of all of them in place (in the same rank order as
     * for any other buffer, so the result has the same bits) and writes it into every rank's
     * tensor. Every other collective accepts it as it accepts any segment.
     *
     * <p>The segment is native, 64-byte aligned, zero-filled and writable; it stays valid until
     * this communicator is closed, after which any access throws {@link IllegalStateException},
     * as for a closed {@link Arena}'s segment. On a shared-memory group it lives in an
     * owner-only file of the shared-memory directory that is unlinked as soon as every rank has
     * mapped it (a crash leaves no file behind); on ring, MPI, hierarchical groups or a group
     * of one it is ordinary native memory and the all-reduce is the backend's usual one.
     *
     * <p>Failures: different sizes on different ranks throw {@link CollectiveMismatchException}
     * naming the ranks and sizes, on every rank; a shared-memory directory too small for the
     * group's tensors throws {@link CommException} naming the ranks that could not allocate, on
     * every rank. In both cases the communicator stays usable. A rank passing a slice at an
     * offset its peers do not pass fails that all-reduce with a mismatch on every rank.
     *
     * @param byteSize bytes of this rank's tensor, at least 1
     * @return this rank's tensor
     * @throws IllegalArgumentException when {@code byteSize} (the same on every rank) is not positive
     * @throws IllegalStateException    when the communicator is closed
     */
    public MemorySegment allocateSymmetric(long byteSize) {
        ready();
        agreeOnSymmetricSize(byteSize);
        if (byteSize <= 0) {
            throw new IllegalArgumentException("allocateSymmetric on group " + name() + ": size must be positive, got "
                    + byteSize);
        }
        if (engine instanceof ShmCollective shm) {
            try {
                return shm.allocateSymmetric(byteSize);
            } catch (CommFailure f) {
                // SETUP is the agreed "some rank could not create its file": every rank throws
                // it and the group is still in step. Anything else broke the group.
                throw f.kind() == CommFailure.Kind.SETUP ? translate(f) : abort(f);
            }
        }
        if (plainSymmetric == null) plainSymmetric = Arena.ofShared();
        return plainSymmetric.allocate(byteSize, 64);
    }

    /**
     * Every rank learns every rank's requested size (one allGather, whatever the backend), so a
     * mismatch is the same exception on every rank instead of a timeout on some.
     */
    private void agreeOnSymmetricSize(long byteSize) {
        int n = size();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mine = arena.allocate(ValueLayout.JAVA_LONG);
            mine.set(ValueLayout.JAVA_LONG, 0, byteSize);
            MemorySegment all = arena.allocate(ValueLayout.JAVA_LONG, n);
            try {
                engine.allGather(mine, all, DType.INT64.element());
            } catch (CommFailure f) {
                throw abort(f);
            }
            long first = all.getAtIndex(ValueLayout.JAVA_LONG, 0);
            StringBuilder sizes = new StringBuilder();
            int blamed = -1;
            int listed = 0;
            for (int r = 1; r < n; r++) {
                long theirs = all.getAtIndex(ValueLayout.JAVA_LONG, r);
                if (theirs == first) continue;
                if (blamed < 0) blamed = r == rank() ? group.worldRank(0) : group.worldRank(r);
                if (listed++ < 8) sizes.append(", rank ").append(r).append(": ").append(theirs);
            }
            if (blamed >= 0) {
                throw new CollectiveMismatchException("allocateSymmetric on group " + name() + " (rank " + rank()
                        + "): the ranks asked for different sizes (bytes): rank 0: " + first + sizes
                        + (listed > 8 ? " and " + (listed - 8) + " more" : ""), blamed, null);
            }
        }
    }

    /**
     * Convenience: {@link #allReduce(MemorySegment, DType, ReduceOp)} of an fp32 array, in place.
     *
     * @param buf input and output
     * @param op  how elements combine
     */
    public void allReduce(float[] buf, ReduceOp op) {
        allReduce(MemorySegment.ofArray(Objects.requireNonNull(buf, "buf")), DType.FP32, op);
    }

    /**
     * Gathers every rank's {@code in} into every rank's {@code out}, in rank order.
     *
     * @param in   this rank's contribution
     * @param out  {@code size() * in.byteSize()} bytes
     * @param type element type (checked for consistent sizes)
     */
    public void allGather(MemorySegment in, MemorySegment out, DType type) {
        checkAllGather(in, out, type);
        ready();
        runAllGather(in, out, type);
    }

    private void checkAllGather(MemorySegment in, MemorySegment out, DType type) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(type, "type");
        checkWritable(out, type, "allGather");
        checkMultiple(in, type, "allGather");
        if (out.byteSize() != in.byteSize() * size()) {
            throw new IllegalArgumentException("allGather on group " + name() + ": out has " + out.byteSize()
                    + " bytes, expected " + size() + " x " + in.byteSize());
        }
    }

    private void runAllGather(MemorySegment in, MemorySegment out, DType type) {
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.allGather(in, out, type.element());
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "allGather", type, null, out.byteSize(), -1, waited);
    }

    /**
     * Reduces {@code in} (size() blocks of {@code out.byteSize()} bytes) over all ranks and leaves
     * block {@code rank()} of the result in {@code out}.
     *
     * @param in   {@code size() * out.byteSize()} bytes
     * @param out  this rank's block of the result
     * @param type element type
     * @param op   how elements combine
     */
    public void reduceScatter(MemorySegment in, MemorySegment out, DType type, ReduceOp op) {
        checkReduceScatter(in, out, type, op);
        ready();
        runReduceScatter(in, out, type, op);
    }

    private void checkReduceScatter(MemorySegment in, MemorySegment out, DType type, ReduceOp op) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(op, "op");
        checkWritable(out, type, "reduceScatter");
        checkMultiple(in, type, "reduceScatter");
        if (in.byteSize() != out.byteSize() * size()) {
            throw new IllegalArgumentException("reduceScatter on group " + name() + ": in has " + in.byteSize()
                    + " bytes, expected " + size() + " x " + out.byteSize());
        }
    }

    private void runReduceScatter(MemorySegment in, MemorySegment out, DType type, ReduceOp op) {
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.reduceScatter(in, out, type.element(), op.combiner());
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "reduceScatter", type, op, in.byteSize(), -1, waited);
    }

    /**
     * Copies {@code root}'s {@code buf} into every rank's {@code buf}.
     *
     * @param buf  the bytes (written on every rank but the root)
     * @param root group rank whose bytes are sent
     */
    public void broadcast(MemorySegment buf, int root) {
        checkBroadcast(buf, root);
        ready();
        runBroadcast(buf, root);
    }

    private void checkBroadcast(MemorySegment buf, int root) {
        Objects.requireNonNull(buf, "buf");
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("broadcast on group " + name() + ": root " + root + " outside 0.." + (size() - 1));
        }
        if (buf.isReadOnly() && root != rank()) {
            throw new IllegalArgumentException("broadcast on group " + name() + ": buffer is read-only");
        }
    }

    private void runBroadcast(MemorySegment buf, int root) {
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.broadcast(buf, root);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "broadcast", null, null, buf.byteSize(), root, waited);
    }

    // ---------------------------------------------------------------- non-blocking collectives

    /**
     * Non-blocking {@link #allReduce(MemorySegment, DType, ReduceOp)}: queues the all-reduce and
     * returns at once. Arguments are checked here, on the caller's thread (bad ones throw at
     * once, as for the blocking call); the collective runs on the communicator's progress
     * thread, {@code ds-comm-progress-<group>}, started by the first non-blocking call, or, when
     * a thread waits for its future ({@code join}, {@code get()}) or makes a blocking call before
     * the progress thread started it and nothing else runs, on that waiting thread (it has a
     * core, while the progress thread may be queued for one behind the caller's compute).
     *
     * <p><b>Rules.</b> Non-blocking calls of one communicator run and complete in the order they
     * were issued; every member must issue the same sequence of collectives, blocking and
     * non-blocking together, as for blocking calls. {@code buf} must not be read or written
     * until the future completes. A blocking call (or {@link #split}) issued afterwards first
     * waits until every earlier non-blocking call finished, then runs on the caller's thread;
     * made from a callback of the future (which runs inside the call it depends on) it throws
     * {@link IllegalStateException} at once instead: use {@code thenRunAsync} for that.
     * A failure (lost peer, timeout, mismatch) completes the future exceptionally with the
     * exception the blocking call would throw ({@link PeerLostException}, ...; {@code join()}
     * wraps it in a {@link java.util.concurrent.CompletionException}) and aborts the communicator,
     * so operations queued behind it fail too. {@link #close()} waits up to the timeout for
     * outstanding operations (and for the one running then, until its own timeout expired), then
     * fails the rest.
     *
     * <p>Segments must be usable from the progress thread: heap segments, or native ones of a
     * shared, global or automatic arena (a confined arena's segment is refused with an
     * {@link IllegalArgumentException}).
     *
     * @param buf  input and output; untouchable until the future completes
     * @param type element type
     * @param op   how elements combine
     * @return completes when {@code buf} holds the result
     */
    public CompletableFuture<Void> allReduceAsync(MemorySegment buf, DType type, ReduceOp op) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(op, "op");
        checkWritable(buf, type, "allReduce");
        return submit(() -> runAllReduce(buf, type, op), buf);
    }

    /**
     * Non-blocking {@link #allGather}: arguments checked now, the collective queued behind
     * earlier non-blocking calls (rules at {@link #allReduceAsync}).
     *
     * @param in   this rank's contribution; not to be written until the future completes
     * @param out  {@code size() * in.byteSize()} bytes; untouchable until the future completes
     * @param type element type
     * @return completes when {@code out} holds every rank's block
     */
    public CompletableFuture<Void> allGatherAsync(MemorySegment in, MemorySegment out, DType type) {
        checkAllGather(in, out, type);
        return submit(() -> runAllGather(in, out, type), in, out);
    }

    /**
     * Non-blocking {@link #reduceScatter}: arguments checked now, the collective queued behind
     * earlier non-blocking calls (rules at {@link #allReduceAsync}).
     *
     * @param in   {@code size() * out.byteSize()} bytes; not to be written until the future completes
     * @param out  this rank's block of the result; untouchable until the future completes
     * @param type element type
     * @param op   how elements combine
     * @return completes when {@code out} holds this rank's block
     */
    public CompletableFuture<Void> reduceScatterAsync(MemorySegment in, MemorySegment out, DType type, ReduceOp op) {
        checkReduceScatter(in, out, type, op);
        return submit(() -> runReduceScatter(in, out, type, op), in, out);
    }

    /**
     * Non-blocking {@link #broadcast}: arguments checked now, the collective queued behind
     * earlier non-blocking calls (rules at {@link #allReduceAsync}).
     *
     * @param buf  the bytes; untouchable until the future completes
     * @param root group rank whose bytes are sent
     * @return completes when {@code buf} holds the root's bytes
     */
    public CompletableFuture<Void> broadcastAsync(MemorySegment buf, int root) {
        checkBroadcast(buf, root);
        return submit(() -> runBroadcast(buf, root), buf);
    }

    /** Number of non-blocking calls issued and not yet finished (0 when none was ever issued). */
    public long outstandingAsync() {
        ProgressQueue q = async;
        return q == null ? 0 : q.outstanding();
    }

    private CompletableFuture<Void> submit(Runnable collective, MemorySegment... segments) {
        check();
        ProgressQueue q = async;
        if (q == null) {
            async = q = new ProgressQueue(name());
            if (mpiOneCallAtATime) job.addAsyncQueue(q);
        }
        if (mpiOneCallAtATime) drainOtherGroups(q);
        for (MemorySegment s : segments) {
            if (!s.isAccessibleBy(q.thread())) {
                throw new IllegalArgumentException("non-blocking call on group " + name() + ": the segment is confined to "
                        + "another thread; the progress thread needs a heap segment or one of a shared, global or automatic arena");
            }
        }
        return q.submit(() -> {
            check();
            collective.run();
        });
    }

    /**
     * Before a blocking call: waits for the non-blocking calls issued before it (bounded by the
     * timeout per outstanding call, each of which is itself bounded by it).
     */
    private void drainAsync(ProgressQueue q) {
        long pending = q.outstanding();
        if (pending == 0) return;
        if (q.runBy(Thread.currentThread())) {
            // A future's callback, run inside the operation it depends on: waiting for that
            // operation to finish would only end at the bound below.
            throw new IllegalStateException("communicator " + name() + " (rank " + rank() + "): a call that must first wait "
                    + "for the non-blocking calls of group " + q.group() + " was made by the thread running one of them "
                    + "(a callback of its future?); make it from another thread, or with thenRunAsync");
        }
        long bound = (pending + 1) * job.settings().timeoutNanos();
        if (!q.awaitIdle(bound)) {
            throw new CollectiveTimeoutException("communicator " + name() + " (rank " + rank() + "): " + q.outstanding()
                    + " non-blocking calls" + (q == async ? "" : " of group " + q.group()) + " still running after "
                    + bound / 1_000_000 + " ms", -1, null);
        }
    }

    /**
     * When MPI runs one call at a time (below MPI_THREAD_MULTIPLE), before a call on this group:
     * waits for (or runs) the non-blocking calls other groups issued before it. Why: a blocking
     * MPI collective holds the process's MPI lock until its peers join it, so a non-blocking call
     * of group A still running on A's progress thread while this thread enters group B can make
     * two ranks take the lock in opposite orders and wait on each other forever. Kept in issue
     * order, a program that calls its groups from one thread makes the same MPI calls in the same
     * order on every rank, and at most one thread of the process is inside MPI. The price, in
     * this mode only: a call on another group does not overlap an outstanding non-blocking one.
     */
    private void drainOtherGroups(ProgressQueue mine) {
        for (ProgressQueue other : job.asyncQueues()) {
            if (other != mine) drainAsync(other);
        }
    }

    // ---------------------------------------------------------------- point-to-point

    /**
     * Sends {@code buf}'s bytes to group rank {@code peer}, which must receive them with
     * {@link #recv} into a buffer of the same size. Messages from one sender to one receiver are
     * matched in the order they were sent; transfers between other pairs, and collectives, are
     * independent of them. Synchronous: returns once {@code peer} has received the whole message
     * (afterwards {@code buf} may be reused), so two ranks that both send to each other first
     * deadlock until the timeout; order them (even ranks send first) or alternate.
     *
     * <p>Backends: SHM moves the bytes through a mailbox per ordered pair in the shared segments;
     * ring a connection per ordered pair, opened on the first send and authenticated like the
     * ring's; HIER either of them, by whether {@code peer} is on this node; MPI
     * {@code MPI_Send}/{@code MPI_Recv}.
     *
     * @param buf  the bytes (any length, zero included; heap or native)
     * @param peer the receiving group rank, not this one
     * @throws CollectiveMismatchException when the receiver's buffer has another size (both sides fail, naming both ranks)
     * @throws CollectiveTimeoutException  when {@code peer} does not receive within the timeout
     * @throws PeerLostException           when {@code peer} died or closed its communicator
     */
    public void send(MemorySegment buf, int peer) {
        Objects.requireNonNull(buf, "buf");
        checkPeer(peer, "send");
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.send(buf, peer);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "send", null, null, buf.byteSize(), peer, waited);
    }

    /**
     * Receives the next message group rank {@code peer} sent to this rank (see {@link #send}).
     *
     * @param buf  receives the bytes; its size must equal the sent size
     * @param peer the sending group rank, not this one
     * @throws CollectiveMismatchException when the sender sent another number of bytes (both sides fail, naming both ranks)
     * @throws CollectiveTimeoutException  when {@code peer} sends nothing within the timeout
     * @throws PeerLostException           when {@code peer} died or closed its communicator
     */
    public void recv(MemorySegment buf, int peer) {
        Objects.requireNonNull(buf, "buf");
        checkPeer(peer, "recv");
        if (buf.isReadOnly()) throw new IllegalArgumentException("recv on group " + name() + ": buffer is read-only");
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.recv(buf, peer);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "recv", null, null, buf.byteSize(), peer, waited);
    }

    private void checkPeer(int peer, String op) {
        if (peer < 0 || peer >= size() || peer == rank()) {
            throw new IllegalArgumentException(op + " on group " + name() + " (rank " + rank() + "): peer " + peer
                    + " is not another rank of 0.." + (size() - 1));
        }
    }

    /**
     * All-to-all with equal blocks: {@code in} and {@code out} each hold {@code size()} blocks of
     * {@code in.byteSize() / size()} bytes; block j of this rank's {@code in} goes to rank j, and
     * block i of this rank's {@code out} comes from rank i (torch {@code all_to_all_single},
     * {@code MPI_Alltoall}). Every rank passes the same sizes and type. Bytes are moved, never
     * combined, so results are exact for any type.
     *
     * <p>When {@code in} is this group's symmetric tensor ({@link #allocateSymmetric}) or a slice
     * of it, at the same offset on every rank, a shared-memory group moves each block once: every
     * rank copies its block straight out of every peer's tensor, instead of the peer staging it
     * first. Every rank must then pass a symmetric {@code in} (a mismatch otherwise), and each
     * rank's {@code in} is read by its peers until the call returns.
     *
     * @param in   {@code size()} outgoing blocks; its size a multiple of {@code size() * type.byteSize()}
     * @param out  {@code size()} incoming blocks, as many bytes as {@code in}; must not overlap {@code in}
     * @param type element type (checked for whole elements per block)
     */
    public void allToAll(MemorySegment in, MemorySegment out, DType type) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(type, "type");
        checkWritable(out, type, "allToAll");
        checkMultiple(in, type, "allToAll");
        long unit = (long) size() * type.byteSize();
        if (in.byteSize() % unit != 0) {
            throw new IllegalArgumentException("allToAll on group " + name() + ": in has " + in.byteSize()
                    + " bytes, not " + size() + " blocks of whole " + type + " elements");
        }
        if (out.byteSize() != in.byteSize()) {
            throw new IllegalArgumentException("allToAll on group " + name() + ": out has " + out.byteSize()
                    + " bytes, expected " + in.byteSize() + " (as many as in)");
        }
        checkDisjoint(in, out, "allToAll");
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.allToAll(in, out, type.element());
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "allToAll", type, null, in.byteSize(), -1, waited);
    }

    /**
     * All-to-all with variable blocks ({@code MPI_Alltoallv}, oneCCL {@code alltoallv}).
     * Counts are in elements of {@code type}. Blocks are packed without gaps: block j of
     * {@code in} (sent to rank j, {@code sendCounts[j]} elements) starts at the element offset
     * {@code sendCounts[0] + … + sendCounts[j-1]}, and block i of {@code out} (received from
     * rank i, {@code recvCounts[i]} elements) at {@code recvCounts[0] + … + recvCounts[i-1]}:
     * the displacements are the prefix sums. Bytes beyond the last block are not touched.
     *
     * <p>Every pair must agree: this rank's {@code sendCounts[j]} must equal rank j's
     * {@code recvCounts[rank()]}. The counts are exchanged and checked before any payload
     * moves; a disagreement throws {@link CollectiveMismatchException} on every rank (naming
     * the first pair that disagrees) and aborts the communicator, like any mismatch.
     *
     * <p>As for {@link #allToAll}, an {@code in} in this group's symmetric tensor (at the same
     * offset on every rank) lets each block move once on a shared-memory group: every rank copies
     * its blocks straight out of its peers' tensors.
     *
     * @param in         outgoing blocks; at least {@code sum(sendCounts)} elements
     * @param sendCounts elements for each rank; length {@code size()}, non-negative
     * @param out        incoming blocks; at least {@code sum(recvCounts)} elements; must not overlap {@code in}
     * @param recvCounts elements from each rank; length {@code size()}, non-negative
     * @param type       element type
     */
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, DType type) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(type, "type");
        checkWritable(out, type, "allToAllV");
        checkMultiple(in, type, "allToAllV");
        long[] send = checkCounts(sendCounts, "sendCounts", in, type);
        long[] recv = checkCounts(recvCounts, "recvCounts", out, type);
        checkDisjoint(in, out, "allToAllV");
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.allToAllV(in, send, out, recv, type.element());
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "allToAllV", type, null, in.byteSize(), -1, waited);
    }

    /**
     * Gathers every rank's {@code in} into {@code root}'s {@code out}, in rank order. Every rank
     * passes an {@code in} of the same size; {@code out} is used on the root only (other ranks
     * may pass any segment, e.g. {@link MemorySegment#NULL}, and it is never touched).
     *
     * @param in   this rank's contribution
     * @param out  on the root: {@code size() * in.byteSize()} bytes
     * @param root group rank that receives
     */
    public void gather(MemorySegment in, MemorySegment out, int root) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(out, "out");
        checkRoot(root, "gather");
        if (root == rank()) {
            if (out.isReadOnly()) throw new IllegalArgumentException("gather on group " + name() + ": out is read-only");
            if (out.byteSize() != in.byteSize() * size()) {
                throw new IllegalArgumentException("gather on group " + name() + ": out has " + out.byteSize()
                        + " bytes, expected " + size() + " x " + in.byteSize());
            }
            checkDisjoint(in, out, "gather");
        }
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.gather(in, out, root);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "gather", null, null, in.byteSize(), root, waited);
    }

    /**
     * Scatters {@code root}'s {@code in} ({@code size()} blocks of {@code out.byteSize()}
     * bytes): block r goes to rank r's {@code out}. Every rank passes an {@code out} of the same
     * size; {@code in} is used on the root only (other ranks may pass any segment, e.g.
     * {@link MemorySegment#NULL}, and it is never read).
     *
     * @param in   on the root: {@code size() * out.byteSize()} bytes
     * @param out  this rank's block
     * @param root group rank that sends
     */
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(out, "out");
        checkRoot(root, "scatter");
        if (out.isReadOnly()) throw new IllegalArgumentException("scatter on group " + name() + ": out is read-only");
        if (root == rank()) {
            if (in.byteSize() != out.byteSize() * size()) {
                throw new IllegalArgumentException("scatter on group " + name() + ": in has " + in.byteSize()
                        + " bytes, expected " + size() + " x " + out.byteSize());
            }
            checkDisjoint(in, out, "scatter");
        }
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.scatter(in, out, root);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "scatter", null, null, out.byteSize(), root, waited);
    }

    /**
     * Element-wise reduction over all ranks into {@code root}'s {@code buf}, in place. The other
     * ranks' {@code buf} is only read: it holds their input unchanged afterwards (it may be
     * read-only there). On shared memory the root's result is bit-identical to what
     * {@link #allReduce} gives for the same inputs (the same schedule runs); on the other
     * backends it follows their reduction order (see docs/architecture.md), with the same
     * reproducibility guarantees.
     *
     * @param buf  input everywhere, output on the root; a multiple of {@code type.byteSize()}
     * @param type element type
     * @param op   how elements combine
     * @param root group rank that receives the result
     */
    public void reduce(MemorySegment buf, DType type, ReduceOp op, int root) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(op, "op");
        checkRoot(root, "reduce");
        if (root == rank()) {
            checkWritable(buf, type, "reduce");
        } else {
            checkMultiple(buf, type, "reduce");
        }
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.reduce(buf, type.element(), op.combiner(), root);
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "reduce", type, op, buf.byteSize(), root, waited);
    }

    /** Returns once every rank of the group has called it. */
    public void barrier() {
        ready();
        CollectiveEvent event = new CollectiveEvent();
        long waited = waitMark(event);
        event.begin();
        try {
            engine.barrier();
        } catch (CommFailure f) {
            throw abort(f);
        }
        if (event.shouldCommit()) commit(event, "barrier", null, null, 0, -1, waited);
    }

    /**
     * Splits this group into sub-groups, with MPI_Comm_split semantics: ranks passing the same
     * {@code color} form one group, ordered by {@code key} and then by their rank here. Every rank
     * of this group must call it. Each sub-group picks its own backend (a TP=2 pair inside one
     * node gets shared memory even when the world spans nodes) and has its own state, so
     * sub-groups may be used in any interleaving.
     *
     * @param color non-negative group selector
     * @param key   order inside the new group
     * @return this rank's new communicator; close it independently
     */
    public Communicator split(int color, int key) {
        if (color < 0) throw new IllegalArgumentException("split on group " + name() + ": color must be >= 0, got " + color);
        ready();
        int n = size();
        int[] colors = new int[n];
        int[] keys = new int[n];
        ShmView[] views = new ShmView[n];
        // Each rank's view of its shared-memory directory travels with its color and key, so that
        // every member of a sub-group decides SHM or not from the same views (no split brain).
        ShmView myView = job.shmView();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mine = arena.allocate(ValueLayout.JAVA_INT, SPLIT_INTS);
            mine.setAtIndex(ValueLayout.JAVA_INT, 0, color);
            mine.setAtIndex(ValueLayout.JAVA_INT, 1, key);
            mine.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, myView.freeBytes());
            mine.set(ValueLayout.JAVA_LONG_UNALIGNED, 16, myView.segmentBytes());
            MemorySegment all = arena.allocate(ValueLayout.JAVA_INT, (long) SPLIT_INTS * n);
            try {
                engine.allGather(mine, all, DType.INT32.element());
            } catch (CommFailure f) {
                throw abort(f);
            }
            for (int i = 0; i < n; i++) {
                long base = (long) SPLIT_INTS * 4 * i;
                colors[i] = all.get(ValueLayout.JAVA_INT_UNALIGNED, base);
                keys[i] = all.get(ValueLayout.JAVA_INT_UNALIGNED, base + 4);
                try {
                    views[i] = new ShmView(all.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 8),
                            all.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 16));
                } catch (IllegalArgumentException e) {
                    throw new IllegalStateException("split on group " + name() + ": rank " + i
                            + " sent a bad shared-memory view: " + e.getMessage(), e);
                }
            }
        }
        int serial = ++splits;
        List<Integer> same = new ArrayList<>();
        for (int i = 0; i < n; i++) if (colors[i] == color) same.add(i);
        same.sort(Comparator.<Integer>comparingInt(i -> keys[i]).thenComparingInt(i -> i));
        int[] members = new int[same.size()];
        ShmView[] subViews = new ShmView[same.size()];
        int me = -1;
        for (int j = 0; j < members.length; j++) {
            members[j] = group.worldRank(same.get(j));
            subViews[j] = views[same.get(j)];
            if (same.get(j) == rank()) me = j;
        }
        GroupSpec sub = new GroupSpec(name() + ".s" + serial + "c" + color, group.jobToken(), members, me);
        MpiCollective subMpi;
        try {
            // In a job over MPI every group keeps its own MPI communicator, split collectively by
            // every member of this group, so that any later split can still reach MPI.
            subMpi = mpi == null ? null : mpi.split(color, key);
        } catch (CommFailure f) {
            throw abort(f);
        }
        return open(job, sub, false, subMpi, subViews);
    }

    /**
     * Releases this communicator's backend (unmaps and unlinks its shared memory, closes its
     * connections). Idempotent; safe after a failure. Other communicators of the job stay usable.
     * Non-blocking calls still outstanding get the timeout to finish first. Called from a callback
     * of one of this communicator's futures (which runs inside that call, once its collective is
     * done), it closes at once: the non-blocking calls issued after that one, which cannot start
     * before the callback returns, fail with {@link IllegalStateException}.
     */
    @Override
    public void close() {
        if (closed) return;
        ProgressQueue q = async;
        if (q != null) {
            boolean drained;
            if (q.runBy(Thread.currentThread())) {
                // A future's callback: the call it runs inside has done its collective and only
                // counts as finished when the callback returns, so waiting for it (or for what is
                // queued behind it, which cannot start before that) would only end at the bounds
                // below, after a timeout and a grace, and then wait for this very thread to end.
                drained = q.outstanding() == 1;
            } else {
                // Outstanding non-blocking calls get the timeout to finish, and the one running then
                // its own deadline; those still queued after it fail, and one still running fails
                // when the backend closes under it.
                drained = q.awaitIdleForClose(job.settings().timeoutNanos(), CLOSE_GRACE_NANOS);
            }
            q.shutdown(!drained);
            job.removeAsyncQueue(q);
        }
        closed = true;
        GroupCloseEvent event = new GroupCloseEvent();
        event.begin();
        try {
            engine.close();
            if (mpi != null) mpi.close();
        } finally {
            if (q != null && q.thread() != Thread.currentThread()) q.awaitTermination(job.settings().timeoutNanos());
            closePlainSymmetric();
            job.release();
            if (event.shouldCommit()) {
                event.set(name(), size(), rank(), worldRank(), choice.backend().label(), abortedBy != null);
                event.commit();
            }
        }
    }

    /**
     * Before a call: keeps the engine's wait accounting on exactly while a recording takes
     * collective events, and returns its counter then (-1 otherwise). Off, this is one load of
     * the event type's enabled flag and one of a field.
     */
    private long waitMark(CollectiveEvent event) {
        boolean recording = event.isEnabled();
        if (recording != measuringWaits) {
            measuringWaits = recording;
            engine.measureWaits(recording);
        }
        return recording ? engine.peerWaitNanos() : -1;
    }

    private void commit(CollectiveEvent event, String operation, DType type, ReduceOp op, long bytes, int root,
                        long waitedBefore) {
        event.set(operation, type == null ? null : DTYPE_LABELS[type.ordinal()], op == null ? null : OP_LABELS[op.ordinal()],
                bytes, root, group.name(), group.size(), group.myIndex(), group.myWorldRank(), choice.backend().label(),
                waitedBefore < 0 ? -1 : engine.peerWaitNanos() - waitedBefore);
        event.commit();
    }

    /** Records {@code e} as a {@link FailureEvent} when a recording takes them; returns it. */
    private static CommException recordFailure(CommException e, String group, int worldRank, String operation) {
        FailureEvent event = new FailureEvent();
        if (event.shouldCommit()) {
            Throwable cause = e.getCause();
            String kind = cause instanceof CommFailure f ? f.kind().name().toLowerCase(java.util.Locale.ROOT)
                    : cause instanceof RendezvousException r ? r.kind().name().toLowerCase(java.util.Locale.ROOT) : "setup";
            event.set(e.getClass().getSimpleName(), kind, e.peerRank(), group, worldRank, operation, e.getMessage());
            event.commit();
        }
        return e;
    }

    private static String[] labels(Enum<?>[] values) {
        String[] out = new String[values.length];
        for (Enum<?> v : values) out[v.ordinal()] = v.name().toLowerCase(java.util.Locale.ROOT);
        return out;
    }

    private void closePlainSymmetric() {
        if (plainSymmetric == null) return;
        try {
            plainSymmetric.close();
        } catch (RuntimeException ignored) {
            // Another thread inside an access of a symmetric buffer (a broken contract): the
            // memory then stays until the process exits.
        }
    }

    /**
     * Before a blocking call: drains earlier non-blocking calls (a plain field read when none was
     * ever issued), then {@link #check()}.
     */
    private void ready() {
        ProgressQueue q = async;
        if (mpiOneCallAtATime) drainOtherGroups(q);
        if (q != null) drainAsync(q);
        check();
    }

    /** Refuses a call on a closed or aborted communicator. */
    private void check() {
        if (closed) throw new IllegalStateException("communicator " + name() + " is closed");
        CommException cause = abortedBy;
        if (cause != null) {
            throw new CommException("communicator " + name() + " (rank " + rank() + ") was aborted by an earlier failure: "
                    + cause.getMessage(), cause.peerRank(), cause);
        }
    }

    private CommException abort(CommFailure f) {
        CommException e = translate(f);
        abortedBy = e;
        return recordFailure(e, name(), worldRank(), f.operation());
    }

    private static CommException translate(CommFailure f) {
        return switch (f.kind()) {
            case PEER_LOST -> new PeerLostException(f.getMessage(), f.peerRank(), f);
            case TIMEOUT -> new CollectiveTimeoutException(f.getMessage(), f.peerRank(), f);
            case MISMATCH -> new CollectiveMismatchException(f.getMessage(), f.peerRank(), f);
            case SETUP, ABORTED -> new CommException(f.getMessage(), f.peerRank(), f);
        };
    }

    /**
     * A rank that died, hung up or never arrived during the rendezvous is a lost peer, named as
     * such, like a rank lost in a collective.
     */
    private static CommException translate(RendezvousException e) {
        String m = "init: " + e.getMessage();
        return switch (e.kind()) {
            case LOST -> new PeerLostException(m, e.rank(), e);
            case TIMEOUT -> new CollectiveTimeoutException(m, e.rank(), e);
            case SETUP -> new CommException(m, e.rank(), e);
        };
    }

    private void checkRoot(int root, String op) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException(op + " on group " + name() + ": root " + root + " outside 0.." + (size() - 1));
        }
    }

    /**
     * Checks a count array of allToAllV against its segment and returns a private copy (the
     * caller could change its array while the call runs on another backend thread one day).
     */
    private long[] checkCounts(long[] counts, String what, MemorySegment seg, DType type) {
        Objects.requireNonNull(counts, what);
        if (counts.length != size()) {
            throw new IllegalArgumentException("allToAllV on group " + name() + ": " + what + " has " + counts.length
                    + " entries, expected one per rank (" + size() + ")");
        }
        long[] copy = counts.clone();
        long capacity = seg.byteSize() / type.byteSize();
        long sum = 0;
        for (int i = 0; i < copy.length; i++) {
            long c = copy[i];
            if (c < 0) {
                throw new IllegalArgumentException("allToAllV on group " + name() + ": " + what + "[" + i + "] = " + c
                        + " is negative");
            }
            if (c > capacity - sum) {
                throw new IllegalArgumentException("allToAllV on group " + name() + ": " + what + " sum to more than the "
                        + capacity + " " + type + " elements of the segment (at entry " + i + ")");
            }
            sum += c;
        }
        return copy;
    }

    /** In and out must not share bytes: blocks are moved in an order callers cannot see. */
    private void checkDisjoint(MemorySegment in, MemorySegment out, String op) {
        if (in.byteSize() == 0 || out.byteSize() == 0) return;
        if (in.asOverlappingSlice(out).isPresent()) {
            throw new IllegalArgumentException(op + " on group " + name() + ": in and out overlap");
        }
    }

    private void checkWritable(MemorySegment buf, DType type, String op) {
        checkMultiple(buf, type, op);
        if (buf.isReadOnly()) throw new IllegalArgumentException(op + " on group " + name() + ": buffer is read-only");
    }

    private void checkMultiple(MemorySegment buf, DType type, String op) {
        Objects.requireNonNull(buf, "buf");
        if (buf.byteSize() % type.byteSize() != 0) {
            throw new IllegalArgumentException(op + " on group " + name() + ": " + buf.byteSize()
                    + " bytes is not a whole number of " + type + " elements (" + type.byteSize() + " bytes each)");
        }
    }

    @Override
    public String toString() {
        return "Communicator[" + name() + ", rank " + rank() + " of " + size() + ", " + choice + "]";
    }
}
