package ds.comm.shm;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.lanes.Reducers;
import ds.comm.spi.BackendCollective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Compositions;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.IdleStrategy;
import ds.comm.spi.Settings;
import ds.comm.topology.ProcessIdentity;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;

import static ds.comm.shm.CallDescriptor.ALGORITHM_CHUNKED;
import static ds.comm.shm.CallDescriptor.ALGORITHM_NONE;
import static ds.comm.shm.CallDescriptor.ALGORITHM_ONE_STEP;
import static ds.comm.shm.CallDescriptor.ALGORITHM_SYMMETRIC;

/**
 * Collectives of the ranks of one group on one node, through memory-mapped files.
 *
 * <p>Every rank owns one segment (layout in {@code SegmentDescriptor}) and maps every peer's;
 * all data movement is a sequence of steps of the {@code StepSequencer} protocol: write into your own
 * area, publish, wait for all, read anyone's area. Algorithms:
 * <ul>
 *   <li><b>allReduce, small</b> ({@code bytes <= smallMessageBytes} and fits an area): one step;
 *       each rank reduces all ranks' copies in rank order into its own buffer, its own
 *       contribution read from that buffer, not from its staged copy.</li>
 *   <li><b>allReduce, large</b>: a reduce-scatter (rank r reduces slice r of each chunk,
 *       sources in rank order, into its own next area) and an all-gather (every rank copies
 *       each slice from its owner), pipelined: one step per chunk, plus one. Every element is
 *       still combined as
 *       {@code ((src0 op src1) op src2) …}, so the result is bit-identical to the small
 *       algorithm's, on every rank.</li>
 *   <li><b>allReduce of a symmetric tensor</b> (a buffer of {@link #allocateSymmetric}, or a
 *       slice of it): no copy in or out. A step says every rank's input is written; rank r
 *       reduces slice r of every rank's tensor, sources in rank order as above, into its own
 *       tensor and copies that slice into every peer's; a second step says every slice is
 *       written. Each byte is read about once and written about once per rank.</li>
 *   <li><b>allGather, broadcast</b>: one step per chunk (allGather copies a rank's own block
 *       from its input, not from its staged copy); <b>reduceScatter</b>: one step per
 *       chunk of the output block, each rank staging its peers' N-1 block-chunks side by side
 *       (its own block is read from its input directly; {@code out} may be that very block).</li>
 *   <li><b>reduce</b>: the all-reduce's steps, the result written back on the root only, so
 *       it is bit-identical to the all-reduce's there; <b>gather</b>: one step per chunk, the
 *       root copies; <b>scatter</b>: one step per chunk of a block, the root stages one chunk
 *       per rank; <b>allToAll</b>: one step per chunk of a block, each rank staging its N-1
 *       outgoing block-chunks side by side (the reduceScatter layout), or, when its input is a
 *       symmetric tensor, two steps around one copy per block straight out of the sender's
 *       tensor; <b>allToAllV</b>: a
 *       count step (every rank checks the whole count matrix), then one step per chunk of the
 *       largest pair, or, from a symmetric tensor, the count step and one more around one copy
 *       per piece out of its sender's tensor.</li>
 *   <li><b>barrier</b>: one step without payload.</li>
 * </ul>
 * A group of one needs no segment: every collective is a local copy or nothing.
 *
 * <p>The hot path allocates nothing: area views and the reducer's source arrays are built once
 * at open. Sizes and offsets are {@code long} throughout, so messages above 2 GiB work.
 */
public final class ShmCollective extends BackendCollective {

    private static final System.Logger LOG = System.getLogger("ds.comm");

    private final GroupSpec group;
    private final Reducer reducer;
    /** The job's cross-group deadlock finder this group is registered with. */
    private final CrossGroupWatch watch;
    private final int rank;
    private final int size;
    private final Arena arena;
    private final Path ownPath;
    private final StepSequencer steps;
    private final Mailboxes mail;
    private final long areaBytes;
    /** {@code areas[parity][rank]}: the data areas of every rank, this one's included. */
    private final MemorySegment[][] areas;
    /** Source offsets handed to the reducer; rewritten in place per reduction. */
    private final long[] srcOffsets;
    /**
     * Sources of the all-reduces' and the reduce-scatter's reductions: peers' staging areas, and
     * this rank's own input in its slot, read where the caller holds it (not from a staged copy).
     */
    private final MemorySegment[] scatterSources;
    private final long smallBytes;
    /** Chunk of allReduce, allGather and broadcast: fits one area. */
    private final long bulkChunk;
    /** Chunk of one reduceScatter block: N of them fit one area. */
    private final long scatterChunk;
    /** Chunk of the large allReduce: the chunk and one rank's slice of it fit one area. */
    private final long pipeChunk;

    /** Set by {@link #abortFor}: the partner group is already being aborted, do not abort it back. */
    private boolean abortedByPartner;
    /**
     * Whether this rank's file still has its name: only if the unlink after the open barrier
     * failed. close() must not unlink by name otherwise, since the name may by then belong to
     * a newer communicator of the same group.
     */
    private boolean ownFileLinked;
    /** This rank's segment. */
    private final MemorySegment ownSegment;
    /** Whether {@link HeartbeatPacer} beats {@link #ownSegment}. */
    private boolean heartbeating;
    /** What open was given, for the symmetric allocations' files. */
    private final Settings settings;
    private final ProcessIdentity[] processes;
    /** This group's symmetric allocations, in allocation order (index = position). */
    private SymmetricBuffer[] symmetric = new SymmetricBuffer[0];
    /** Every large copy in the segments and tensors goes through it; it unmaps them on close. */
    private final MappingGuard mappings;

    private ShmCollective(GroupSpec group, Settings settings, Reducer reducer, Arena arena, Path ownPath,
                          MemorySegment[] segments, ProcessIdentity[] processes, CrossGroupWatch watch) {
        super("shm", group.name(), group.myIndex(), group.size());
        this.group = group;
        this.settings = settings;
        this.processes = processes;
        this.reducer = reducer;
        this.watch = watch;
        this.rank = group.myIndex();
        this.size = group.size();
        this.arena = arena;
        this.ownPath = ownPath;
        this.ownSegment = segments[group.myIndex()];
        this.smallBytes = settings.smallMessageBytes();
        this.srcOffsets = new long[size];
        this.scatterSources = new MemorySegment[size];
        this.steps = new StepSequencer(group, segments, settings.idle().get(), settings.timeoutNanos(),
                settings.peerLostNanos(), waits);
        this.areaBytes = SegmentDescriptor.areaBytes(settings.shmBytes());
        this.mappings = new MappingGuard(this::unmap);
        this.mail = new Mailboxes(group, segments, settings.shmBytes(), arena, settings.idle().get(),
                settings.timeoutNanos(), steps, mappings);
        this.areas = new MemorySegment[2][size];
        for (int parity = 0; parity < 2; parity++) {
            for (int p = 0; p < size; p++) {
                areas[parity][p] = plainNative(segments[p].asSlice(SegmentDescriptor.areaOffset(areaBytes, parity),
                        areaBytes), arena);
            }
        }
        // Multiples of 64 bytes: whole cache lines, and a multiple of every element size.
        this.bulkChunk = Math.min(areaBytes, settings.chunkBytes()) & -64L;
        this.scatterChunk = Math.min(areaBytes / size, settings.chunkBytes()) & -64L;
        // A slice of a chunk of c bytes is at most c/N + one element (8 bytes) long, so
        // c = (area - 64) * N / (N + 1) leaves room for it behind the chunk.
        this.pipeChunk = Math.min((areaBytes - 64) / (size + 1) * size, settings.chunkBytes()) & -64L;
    }

    /**
     * Creates this rank's segment, maps every peer's (waiting for them up to the timeout) and
     * passes an open barrier, after which the segment file is unlinked: every peer has mapped
     * it, and a name-less segment cannot be left behind in {@code /dev/shm} by a crash.
     *
     * @throws CommFailure SETUP for no space, an existing or foreign file, a missing directory;
     *                     TIMEOUT for peers that never appeared
     * @throws IllegalArgumentException if {@code settings.shmBytes()} is too small for the group
     */
    public static ShmCollective open(GroupSpec group, Settings settings, Reducer reducer) {
        return open(group, settings, reducer, new ProcessIdentity[group.size()]);
    }

    /**
     * As {@link #open(GroupSpec, Settings, Reducer)}, knowing every member's process from the
     * rendezvous: a member that dies before it creates its segment is then named within
     * {@link StepSequencer#LIVENESS_CHECK_NANOS} instead of costing everyone the timeout.
     *
     * @param processes by group rank; a null entry, or an identity whose namespace is unknown or
     *                  not ours, is waited for until the timeout
     */
    public static ShmCollective open(GroupSpec group, Settings settings, Reducer reducer, ProcessIdentity[] processes) {
        return open(group, settings, reducer, processes, new CrossGroupWatch());
    }

    /**
     * As {@link #open(GroupSpec, Settings, Reducer, ProcessIdentity[])}, with the job's
     * {@code watch}: every SHM group of one job in this process registers with the same watch, so
     * that calls on different groups in different orders are found as the deadlock they are.
     */
    public static ShmCollective open(GroupSpec group, Settings settings, Reducer reducer, ProcessIdentity[] processes,
                                     CrossGroupWatch watch) {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(watch, "watch");
        if (processes.length != group.size()) {
            throw new IllegalArgumentException(processes.length + " processes for a group of " + group.size());
        }
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(reducer, "reducer");
        int size = group.size();
        if (size == 1) {
            throw new IllegalArgumentException("group " + group.name() + " has one member: it needs no shared memory");
        }
        long bytes = settings.shmBytes();
        long areaBytes = SegmentDescriptor.areaBytes(bytes);
        if (bytes < SegmentDescriptor.MIN_SEGMENT_BYTES || areaBytes / size < 64) {
            throw new IllegalArgumentException("shmBytes " + bytes + " too small for a group of " + size
                    + " ranks: need at least " + Math.max(SegmentDescriptor.MIN_SEGMENT_BYTES,
                    SegmentDescriptor.DATA_OFFSET + 2 * 64L * size));
        }
        int rank = group.myIndex();
        Path dir = settings.shmDir();
        Path ownPath = null;
        // One deadline for the whole open, housekeeping included.
        long deadline = System.nanoTime() + settings.timeoutNanos();
        Arena arena = Arena.ofShared();
        MemorySegment[] segments = new MemorySegment[size];
        boolean created = false;
        try {
            SegmentFile.Placed placed = SegmentFile.createOwn(dir, bytes, group, arena);
            ownPath = placed.path();
            segments[rank] = placed.segment();
            created = true;
            reclaimStale(dir, SegmentFile.uidOf(segments[rank]), deadline);
            attachPeers(dir, bytes, group, settings, arena, segments, processes.clone(), deadline);
            ShmCollective collective = new ShmCollective(group, settings, reducer, arena, ownPath, segments,
                    processes.clone(), watch);
            collective.startHeartbeatIfNeeded(settings.peerLostNanos());
            collective.openBarrier();
            watch.register(collective);
            collective.steps.watchCrossGroups(peerWorld -> watch.deadlockWith(collective, peerWorld));
            collective.ownFileLinked = !SegmentFile.deleteQuietly(ownPath);
            return collective;
        } catch (RuntimeException | Error e) {
            if (created) {
                HeartbeatPacer.instance().unregister(segments[rank]); // before the arena closes
                if (e instanceof CommFailure f && f.kind() == CommFailure.Kind.PEER_LOST && f.peerRank() >= 0) {
                    // Leave the verdict where peers still opening look: a peer that arrives after
                    // this process has exited finds two ranks gone and no file of either, and
                    // could only guess which one was lost first.
                    SegmentDescriptor.failedRelease(segments[rank], f.kind().code(), f.peerRank());
                    lingerForPeers();
                } else {
                    SegmentDescriptor.stateRelease(segments[rank], SegmentDescriptor.STATE_FAILED);
                }
                SegmentFile.deleteQuietly(ownPath);
            }
            arena.close();
            throw e;
        }
    }

    /**
     * How long a rank whose open failed because a peer was lost keeps its FAILED segment, with
     * the verdict, before it unlinks it: peers that start opening in that time attach it and name
     * the lost rank at once (RankKillTest, a rank killed during open: the last survivor to arrive
     * came 117 ms after the first had failed, found neither file and named the survivor).
     */
    static final long FAILED_OPEN_LINGER_NANOS = 300_000_000L;

    private static void lingerForPeers() {
        long end = System.nanoTime() + FAILED_OPEN_LINGER_NANOS;
        for (long left = FAILED_OPEN_LINGER_NANOS; left > 0 && !Thread.currentThread().isInterrupted();
             left = end - System.nanoTime()) {
            LockSupport.parkNanos(Math.min(left, 10_000_000L));
        }
    }

    /**
     * Throws when the peer's segment says it failed its own open because a rank was lost: that
     * rank is the one to name (not the failed peer, whose process may be gone by now too).
     */
    private static void failIfPeerFailedOpening(GroupSpec group, int p, MemorySegment peer) {
        if (SegmentDescriptor.failedKindAcquire(peer) != CommFailure.Kind.PEER_LOST.code()) return;
        int blamed = SegmentDescriptor.blamedWorldRank(peer);
        if (blamed < 0 || blamed == group.myWorldRank()) return;
        throw new CommFailure(CommFailure.Kind.PEER_LOST, blamed, group.name(), "open",
                "rank " + group.myIndex() + " (world " + group.myWorldRank() + "): world rank " + blamed
                        + " was lost (reported by group rank " + p + ", world " + group.worldRank(p)
                        + ", which failed opening the group)", null);
    }

    /** Whether a scan cut short has been reported: once per process is enough to explain it. */
    private static final java.util.concurrent.atomic.AtomicBoolean STALE_SCAN_CUT_REPORTED =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** The stale-file scan, inside the open's deadline and within its own budget. */
    private static void reclaimStale(Path dir, long uid, long openDeadline) {
        long budgetEnd = System.nanoTime() + SegmentFile.STALE_SCAN_BUDGET_NANOS;
        SegmentFile.StaleScan scan = SegmentFile.reclaimStale(dir, uid,
                openDeadline - budgetEnd < 0 ? openDeadline : budgetEnd, SegmentFile.STALE_SCAN_MAX_ENTRIES);
        for (Path stale : scan.reclaimed()) {
            LOG.log(System.Logger.Level.INFO, "ds-comm: removed stale segment " + stale
                    + " of a process that no longer runs");
        }
        if (scan.stoppedBy() != null && STALE_SCAN_CUT_REPORTED.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.INFO, "ds-comm: the stale-segment scan of " + dir + " stopped "
                    + scan.stoppedBy() + " (the directory holds more entries than one open examines;"
                    + " crashed runs' files beyond them are left for a later open)");
        }
    }

    /**
     * Polls all peers' files round-robin, so a timeout can name every rank still missing; every
     * {@link StepSequencer#LIVENESS_CHECK_NANOS} asks whether a missing peer's process is known to be gone.
     */
    private static void attachPeers(Path dir, long bytes, GroupSpec group, Settings settings, Arena arena,
                                    MemorySegment[] segments, ProcessIdentity[] processes, long deadline) {
        int size = group.size();
        int rank = group.myIndex();
        long uid = SegmentFile.uidOf(segments[rank]);
        SegmentFile.NotYet[] mapped = new SegmentFile.NotYet[size];
        String[] why = new String[size];
        IdleStrategy idle = settings.idle().get();
        long start = System.nanoTime();
        long nextLivenessCheck = start + StepSequencer.LIVENESS_CHECK_NANOS;
        int pending = size - 1;
        idle.reset();
        while (true) {
            boolean progress = false;
            for (int p = 0; p < size; p++) {
                if (p == rank || segments[p] != null) continue;
                SegmentFile.Attempt attempt = SegmentFile.tryAttachPeer(dir, bytes, group, p, uid, arena, mapped[p]);
                switch (attempt) {
                    case SegmentFile.Attached a -> {
                        segments[p] = a.segment();
                        pending--;
                        progress = true;
                        failIfPeerFailedOpening(group, p, segments[p]);
                    }
                    case SegmentFile.NotYet n -> {
                        why[p] = n.why();
                        mapped[p] = n;
                    }
                }
            }
            if (pending == 0) return;
            long now = System.nanoTime();
            if (now - deadline > 0) {
                throw openTimeout(group, settings, segments, why);
            }
            if (now - nextLivenessCheck >= 0) {
                nextLivenessCheck = now + StepSequencer.LIVENESS_CHECK_NANOS;
                for (int p = 0; p < size; p++) {
                    if (p != rank && segments[p] != null) failIfPeerFailedOpening(group, p, segments[p]);
                }
                for (int p = 0; p < size; p++) {
                    if (segments[p] == null && processes[p] != null && processes[p].knownGone()) {
                        throw new CommFailure(CommFailure.Kind.PEER_LOST, group.worldRank(p), group.name(), "open",
                                "rank " + group.myIndex() + " (world " + group.myWorldRank() + ") waited for the segment of group rank "
                                        + p + " (world " + group.worldRank(p) + "), but its process (" + processes[p]
                                        + ") exited before creating it", null);
                    }
                }
            }
            if (progress) {
                idle.reset();
            } else {
                idle.idle();
            }
        }
    }

    private static CommFailure openTimeout(GroupSpec group, Settings settings, MemorySegment[] segments, String[] why) {
        StringBuilder missing = new StringBuilder();
        int first = -1;
        for (int p = 0; p < segments.length; p++) {
            if (segments[p] != null) continue;
            if (first < 0) first = group.worldRank(p);
            if (!missing.isEmpty()) missing.append("; ");
            missing.append("group rank ").append(p).append(" (world ").append(group.worldRank(p)).append("): ")
                    .append(why[p]);
        }
        return new CommFailure(CommFailure.Kind.TIMEOUT, first, group.name(), "open",
                "rank " + group.myIndex() + " (world " + group.myWorldRank() + ") waited "
                        + settings.timeoutNanos() / 1_000_000 + " ms in " + settings.shmDir()
                        + " for the segments of " + missing, null);
    }

    /**
     * A peer in another pid namespace cannot ask the kernel about us: beat our HEARTBEAT word for
     * it (and judge its word, in StepSequencer) until close.
     */
    private void startHeartbeatIfNeeded(long peerLostNanos) {
        if (steps.needsHeartbeat()) {
            HeartbeatPacer.instance().register(ownSegment, peerLostNanos);
            heartbeating = true;
        }
    }

    private void openBarrier() {
        steps.begin(CallDescriptor.Kind.OPEN, null, null, -1, 0, CallDescriptor.plan(ALGORITHM_NONE, 0));
        steps.publishRelease();
        steps.awaitAllAcquire();
    }

    @Override
    public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
        SymmetricBuffer sym = symmetricHolding(buf);
        if (sym != null) {
            allReduceSymmetric(sym, buf, type, op);
            return;
        }

        reduceTo(CallDescriptor.Kind.ALL_REDUCE, buf, type, op, -1);
    }

    /**
     * The all-reduce's steps, with the result written back on every rank ({@code root < 0}) or
     * on the root only: a reduce runs exactly the all-reduce's schedule, so its result on the
     * root is bit-identical to the all-reduce's, and the other ranks never write their buffer.
     */
    private void reduceTo(CallDescriptor.Kind kind, MemorySegment buf, ElementType type, Combiner op, int root) {
        long bytes = buf.byteSize();
        boolean oneStep = bytes <= smallBytes && bytes <= areaBytes;
        enter(kind, type, op, root, bytes,
                oneStep ? ALGORITHM_ONE_STEP : ALGORITHM_CHUNKED, oneStep ? 0 : pipeChunk);
        boolean writeBack = root < 0 || root == rank;
        try {
            if (oneStep) {
                allReduceOneStep(buf, bytes, type, op, writeBack);
            } else {
                allReduceChunked(buf, bytes, type, op, writeBack);
            }
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * Every rank stages its whole tensor, publishes, waits for all, and reduces every rank's
     * staged copy in rank order, its own read from {@code buf} instead (same values in the same
     * place of the order, so the same bits): reading back the copy it has just staged cost as
     * much as reading a peer's, 64 KiB in 4.6 against 6.6 us a call in a C model of this step
     * (docs/performance.md). A heap or mapped {@code buf} is read from the staged copy: the
     * kernels take plain native sources only.
     */
    private void allReduceOneStep(MemorySegment buf, long bytes, ElementType type, Combiner op, boolean writeBack) {
        int q = steps.nextParity();
        mappings.copy(buf, 0, areas[q][rank], 0, bytes);
        steps.publishRelease();
        steps.awaitAllAcquire();
        if (!writeBack) return;
        setSourceOffsets(0);
        MemorySegment[] sources = sourcesOf(areas[q], Reducers.isPlainNative(buf) ? buf : null);
        try {
            reducer.reduce(type, op, buf, 0, sources, srcOffsets, size, bytes / type.byteSize());
        } finally {
            sources[rank] = null; // do not keep the caller's memory reachable
        }
    }

    /**
     * {@link #scatterSources} for one reduction (one-step and chunked all-reduce, reduce-scatter):
     * every rank's staged copy of a step, this rank's slot holding {@code own} instead (the
     * caller's buffer) unless it is null.
     */
    private MemorySegment[] sourcesOf(MemorySegment[] staged, MemorySegment own) {
        MemorySegment[] sources = scatterSources;
        for (int p = 0; p < size; p++) {
            sources[p] = staged[p];
        }
        if (own != null) sources[rank] = own;
        return sources;
    }

    /**
     * Reduce-scatter and all-gather, pipelined so that chunk k costs one step, not two. Each
     * area holds a staging region {@code [0, pipeChunk)} and a slice region after it. Step
     * {@code k} (of {@code chunks + 1}):
     * <ol>
     *   <li>stage chunk {@code k} of {@code buf} (if any) in this rank's area of step k, all but
     *       this rank's own slice of it: only this rank reads that slice, and it reads it from
     *       {@code buf} (unless {@code buf} is a heap or mapped segment: then it is staged whole
     *       and read from there, so that the kernels only ever see plain native sources);</li>
     *   <li>reduce this rank's slice of chunk {@code k-1} (if any), sources in rank order (every
     *       peer's staging region of step {@code k-1}, and {@code buf} itself in this rank's
     *       place), into the slice region of this rank's area of step k, block by block, each
     *       block copied into {@code buf} while it is still in the core's cache;</li>
     *   <li>publish k, wait for all;</li>
     *   <li>copy every peer's slice of chunk {@code k-1} from its step-k area into {@code buf}.</li>
     * </ol>
     * Reading step k-1's areas in (2) is fine: they are read after the wait of step k-1 and
     * before k is published. Writing this rank's step-k area in (1) and (2) is fine: it was last
     * read in step k-2, and every peer has published k-1. {@code buf} is this rank's alone (no
     * peer reads or writes it): its chunk k is read by (1) of step k and by (2) of step k+1, and
     * written only afterwards, by (2) (each block after the reduction that read it) and (4) of
     * step k+1. A reduce to a root runs these steps too, writing {@code buf} on the root only.
     */
    private void allReduceChunked(MemorySegment buf, long bytes, ElementType type, Combiner op, boolean writeBack) {
        int es = type.byteSize();
        long chunks = (bytes + pipeChunk - 1) / pipeChunk;
        // A heap or mapped buffer is staged whole and never handed to the kernels as a source:
        // with plain native sources only (like the areas) the reducer takes its exact kernels.
        boolean ownFromBuf = Reducers.isPlainNative(buf);
        try {
            for (long k = 0; k <= chunks; k++) {
                int q = steps.nextParity();
                MemorySegment mine = areas[q][rank];
                if (k < chunks) {
                    long off = k * pipeChunk;
                    long len = Math.min(pipeChunk, bytes - off);
                    if (ownFromBuf) {
                        long elements = len / es;
                        long ownFrom = sliceStart(elements, rank) * es;
                        long ownTo = sliceStart(elements, rank + 1) * es;
                        mappings.copy(buf, off, mine, 0, ownFrom);
                        mappings.copy(buf, off + ownTo, mine, ownTo, len - ownTo);
                    } else {
                        mappings.copy(buf, off, mine, 0, len);
                    }
                }
                long count = 0;
                if (k > 0) {
                    long off = (k - 1) * pipeChunk;
                    count = Math.min(pipeChunk, bytes - off) / es;
                    long from = sliceStart(count, rank) * es;
                    long len = sliceStart(count, rank + 1) * es - from;
                    MemorySegment[] sources = sourcesOf(areas[q ^ 1], ownFromBuf ? buf : null);
                    // In blocks that stay in the core's cache between the reduction that writes
                    // them and the copy back into buf that reads them (the slice is this rank's
                    // result too, and nobody else reads that part of buf).
                    for (long done = 0; done < len; done += SYMMETRIC_BLOCK) {
                        long blockLen = Math.min(SYMMETRIC_BLOCK, len - done);
                        setSourceOffsets(from + done);
                        if (ownFromBuf) srcOffsets[rank] = off + from + done;
                        reducer.reduce(type, op, mine, pipeChunk + done, sources, srcOffsets, size,
                                blockLen / es);
                        if (writeBack) mappings.copy(mine, pipeChunk + done, buf, off + from + done, blockLen);
                    }
                }
                steps.publishRelease();
                steps.awaitAllAcquire();
                if (k > 0 && writeBack) {
                    long off = (k - 1) * pipeChunk;
                    MemorySegment[] reduced = areas[q];
                    for (int p = 0; p < size; p++) {
                        if (p == rank) continue; // written back as it was reduced
                        long from = sliceStart(count, p) * es;
                        long to = sliceStart(count, p + 1) * es;
                        mappings.copy(reduced[p], pipeChunk, buf, off + from, to - from);
                    }
                }
            }
        } finally {
            scatterSources[rank] = null; // do not keep the caller's memory reachable
        }
    }

    /**
     * The zero-copy all-reduce of {@code buf}, which lies in this rank's tensor of {@code sym}
     * (every rank passes the same offset and length: the plan word carries the offset, so peers
     * check it). Step 1: every rank's input is written (each rank publishes only after its last
     * store to its tensor). Then rank r reduces its slice of every rank's tensor, in rank order
     * (the order of the copy path, so the bits are the same), into its own tensor, and copies
     * the result into the same slice of every peer's. Nobody else reads or writes slice r of
     * any tensor meanwhile. Step 2: every slice is written everywhere; before it, a rank may
     * neither read its whole result nor reuse its tensor, since peers still read and write it.
     */
    private void allReduceSymmetric(SymmetricBuffer sym, MemorySegment buf, ElementType type, Combiner op) {
        long bytes = buf.byteSize();
        long offset = buf.address() - sym.base;
        enter(CallDescriptor.Kind.ALL_REDUCE, type, op, -1, bytes, ALGORITHM_SYMMETRIC, sym.plan(offset));
        try {
            steps.publishRelease();
            steps.awaitAllAcquire();
            int es = type.byteSize();
            long count = bytes / es;
            long lo = sliceStart(count, rank);
            long from = offset + lo * es;
            long len = (sliceStart(count, rank + 1) - lo) * es;
            MemorySegment[] tensors = sym.tensors;
            // In blocks that stay in the core's cache between the reduction that writes them and
            // the copies into the peers' tensors that read them: the slice is read from memory
            // once per source and written once per tensor, like a memcpy, not read back again.
            for (long done = 0; done < len; done += SYMMETRIC_BLOCK) {
                long at = from + done;
                long blockLen = Math.min(SYMMETRIC_BLOCK, len - done);
                setSourceOffsets(at);
                reducer.reduce(type, op, tensors[rank], at, tensors, srcOffsets, size, blockLen / es);
                for (int p = 0; p < size; p++) {
                    if (p != rank) mappings.copy(tensors[rank], at, tensors[p], at, blockLen);
                }
            }
            steps.publishRelease();
            steps.awaitAllAcquire();
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * Bytes reduced and then copied to the peers at a time in the zero-copy all-reduce: small
     * enough to stay in a core's L1/L2 between the two, a multiple of 64 (every element size and
     * a cache line), large enough that the per-call overhead of the kernel is negligible.
     */
    static final long SYMMETRIC_BLOCK = 32 << 10;

    /** The symmetric allocation whose tensor holds {@code buf}, or null; allocates nothing. */
    private SymmetricBuffer symmetricHolding(MemorySegment buf) {
        SymmetricBuffer[] all = symmetric;
        for (SymmetricBuffer b : all) {
            if (b.holds(buf)) return b;
        }
        return null;
    }

    /**
     * Collective: allocates a tensor of {@code bytes} on every member (all pass the same size,
     * which the caller has verified), zero-filled, in a file of its owner that every member maps.
     * <ol>
     *   <li>each rank creates its file (owner-only, named like its segment but for the group
     *       {@code <name>.y<index>}, every page committed: a full {@code /dev/shm} is ENOSPC
     *       here, never SIGBUS later);</li>
     *   <li>the ranks tell each other (an allGather) whether that worked: if any failed, every
     *       rank removes its file and throws the same SETUP failure naming the ranks, and the
     *       group stays usable;</li>
     *   <li>each rank maps every peer's file (header verified, as for segments);</li>
     *   <li>a barrier: everyone has mapped everything, so each rank unlinks its file: a crash
     *       from here on leaves no name behind; one before is reclaimed like a segment's.</li>
     * </ol>
     *
     * @return this rank's tensor, a plain native segment valid until {@link #close()}
     * @throws CommFailure SETUP (group usable) when some rank could not create its file; any
     *                     other kind (group failed) when a peer is lost, late or refused
     */
    public MemorySegment allocateSymmetric(long bytes) {
        if (bytes <= 0 || bytes > SymmetricBuffer.MAX_BYTES) {
            throw new IllegalArgumentException("allocateSymmetric on group " + group.name() + ": " + bytes
                    + " bytes outside 1.." + SymmetricBuffer.MAX_BYTES);
        }
        int index = symmetric.length;
        if (index >= SymmetricBuffer.MAX_BUFFERS) {
            throw new IllegalStateException("group " + group.name() + " already holds " + index + " symmetric buffers");
        }
        checkUsable("allocateSymmetric");
        Arena mapped = Arena.ofShared();
        GroupSpec fileGroup = SymmetricBuffer.fileGroup(group, index);
        long fileBytes = SymmetricBuffer.fileBytes(bytes);
        long deadline = System.nanoTime() + settings.timeoutNanos();
        MemorySegment[] files = new MemorySegment[size];
        Path own = null;
        String refused = null;
        try {
            SegmentFile.Placed placed = SegmentFile.createOwn(settings.shmDir(), fileBytes, fileGroup, mapped);
            own = placed.path();
            files[rank] = placed.segment();
        } catch (CommFailure f) {
            refused = f.getMessage();
        }
        boolean linked = own != null;
        try {
            CommFailure agreed = agreeAllCreated(bytes, refused);
            if (agreed != null) throw agreed; // every rank throws it: the group stays in step
            try {
                attachPeers(settings.shmDir(), fileBytes, fileGroup, settings, mapped, files, processes.clone(), deadline);
            } catch (RuntimeException e) {
                // Peers wait in the barrier below: FAILED tells them at once. A refused peer file
                // (SETUP) is reported as ABORTED: only the agreed SETUP above leaves the group usable.
                throw fail(e instanceof CommFailure f && f.kind() == CommFailure.Kind.SETUP
                        ? new CommFailure(CommFailure.Kind.ABORTED, f.peerRank(), group.name(), "allocateSymmetric("
                        + bytes + " bytes)", f.getMessage(), f) : e);
            }
            barrier();
            linked = !SegmentFile.deleteQuietly(own);
        } catch (RuntimeException | Error e) {
            if (linked) SegmentFile.deleteQuietly(own);
            mapped.close();
            throw e;
        }
        MemorySegment[] tensors = new MemorySegment[size];
        for (int p = 0; p < size; p++) {
            tensors[p] = plainNative(files[p].asSlice(SymmetricBuffer.TENSOR_OFFSET, bytes), mapped);
        }
        return register(new SymmetricBuffer(index, bytes, tensors, rank, mapped, own, linked), tensors);
    }

    private MemorySegment register(SymmetricBuffer b, MemorySegment[] tensors) {
        SymmetricBuffer[] grown = java.util.Arrays.copyOf(symmetric, symmetric.length + 1);
        grown[b.index] = b;
        symmetric = grown;
        return tensors[rank];
    }

    /**
     * One allGather of each rank's verdict on its own file (0 = created, 1 = refused): every
     * rank learns the same, so a rank that could not create its file fails everyone with one
     * agreed SETUP failure instead of leaving them to time out waiting for its file.
     */
    private CommFailure agreeAllCreated(long bytes, String refused) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mine = a.allocate(8, 8);
            mine.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, refused == null ? 0 : 1);
            MemorySegment all = a.allocate(8L * size, 8);
            allGather(mine, all, ElementType.INT64);
            StringBuilder who = new StringBuilder();
            int first = -1;
            for (int p = 0; p < size; p++) {
                if (all.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, p) == 0) continue;
                if (first < 0) first = group.worldRank(p);
                who.append(who.isEmpty() ? "" : ", ").append(p).append(" (world ").append(group.worldRank(p)).append(')');
            }
            if (first >= 0) {
                return new CommFailure(CommFailure.Kind.SETUP, first, group.name(), "allocateSymmetric(" + bytes + " bytes)",
                        "group ranks " + who + " could not create their symmetric tensor file of "
                                + SymmetricBuffer.fileBytes(bytes) + " bytes in " + settings.shmDir()
                                + " (every rank of the group on this node needs one)"
                                + (refused == null ? "" : "; this rank: " + refused), null);
            }
            return null;
        }
    }

    /**
     * The same memory as a plain native segment (same arena, so closing it still invalidates).
     *
     * <p>Why: the kernels' Vector API loads and stores are intrinsified per segment class. A
     * mapped segment is a different class from the native buffers callers pass in, and a kernel
     * that sees both at one call site falls off the intrinsic path (the large all-reduce, whose
     * destination is a mapped area, measured 10x slower than the scalar kernel). Viewing the
     * areas as native keeps every kernel call site monomorphic.
     */
    private static MemorySegment plainNative(MemorySegment mapped, Arena arena) {
        return MemorySegment.ofAddress(mapped.address()).reinterpret(mapped.byteSize(), arena, null);
    }

    /** First element of rank {@code r}'s slice of {@code count} elements; a pure function of both. */
    private long sliceStart(long count, int r) {
        return count * r / size;
    }

    @Override
    public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
        long bytes = in.byteSize();
        enter(CallDescriptor.Kind.ALL_GATHER, type, null, -1, bytes, ALGORITHM_CHUNKED, bulkChunk);
        boolean inIsOwnBlock = in.isNative() && out.isNative() && in.address() == out.address() + rank * bytes;
        try {
            long off = 0;
            do {
                long len = Math.min(bulkChunk, bytes - off);
                int q = steps.nextParity();
                mappings.copy(in, off, areas[q][rank], 0, len);
                steps.publishRelease();
                steps.awaitAllAcquire();
                // This rank's own block from in, not from the copy the peers are reading (see
                // allReduceOneStep), and first: in may be this rank's block of out.
                if (!inIsOwnBlock) mappings.copy(in, off, out, rank * bytes + off, len);
                MemorySegment[] staged = areas[q];
                for (int p = 0; p < size; p++) {
                    if (p != rank) mappings.copy(staged[p], 0, out, p * bytes + off, len);
                }
                off += len;
            } while (off < bytes);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        long bytes = out.byteSize();
        enter(CallDescriptor.Kind.REDUCE_SCATTER, type, op, -1, bytes, ALGORITHM_CHUNKED, scatterChunk);
        int es = type.byteSize();
        try {
            long off = 0;
            do {
                long len = Math.min(scatterChunk, bytes - off);
                int q = steps.nextParity();
                MemorySegment mine = areas[q][rank];
                for (int block = 0; block < size; block++) {
                    if (block == rank) continue; // only this rank reads its own block: no need to share it
                    mappings.copy(in, block * bytes + off, mine, block * scatterChunk, len);
                }
                steps.publishRelease();
                steps.awaitAllAcquire();
                MemorySegment[] sources = sourcesOf(areas[q], in);
                setSourceOffsets(rank * scatterChunk);
                srcOffsets[rank] = rank * bytes + off;
                reducer.reduce(type, op, out, off, sources, srcOffsets, size, len / es);
                off += len;
            } while (off < bytes);
        } catch (RuntimeException e) {
            throw fail(e);
        } finally {
            scatterSources[rank] = null; // do not keep the caller's memory reachable
        }
    }

    @Override
    public void broadcast(MemorySegment buf, int root) {
        long bytes = buf.byteSize();
        checkRoot(root);
        enter(CallDescriptor.Kind.BROADCAST, null, null, root, bytes, ALGORITHM_CHUNKED, bulkChunk);
        try {
            long off = 0;
            do {
                long len = Math.min(bulkChunk, bytes - off);
                int q = steps.nextParity();
                if (rank == root) {
                    mappings.copy(buf, off, areas[q][rank], 0, len);
                }
                steps.publishRelease();
                steps.awaitAllAcquire();
                if (rank != root) {
                    mappings.copy(areas[q][root], 0, buf, off, len);
                }
                off += len;
            } while (off < bytes);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * One step per chunk of a block: each rank stages its N-1 outgoing block-chunks side by side
     * (the reduceScatter layout, chunks of {@code scatterChunk}), and every rank copies the chunk
     * in slot r of every peer's area. Its own block is copied from {@code in} directly. An
     * {@code in} in a symmetric tensor takes {@link #allToAllSymmetric} instead.
     */
    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        SymmetricBuffer sym = symmetricHolding(in);
        if (sym != null) {
            allToAllSymmetric(sym, in, out, type);
            return;
        }
        long block = in.byteSize() / size;
        enter(CallDescriptor.Kind.ALL_TO_ALL, type, null, -1, in.byteSize(), ALGORITHM_CHUNKED, scatterChunk);
        try {
            long off = 0;
            do {
                long len = Math.min(scatterChunk, block - off);
                int q = steps.nextParity();
                MemorySegment mine = areas[q][rank];
                for (int j = 0; j < size; j++) {
                    if (j != rank) mappings.copy(in, j * block + off, mine, j * scatterChunk, len);
                }
                steps.publishRelease();
                // This rank's own block is a local copy: done while the peers stage theirs.
                if (off == 0) mappings.copy(in, rank * block, out, rank * block, block);
                steps.awaitAllAcquire();
                MemorySegment[] staged = areas[q];
                long slot = rank * scatterChunk;
                for (int p = 0; p < size; p++) {
                    if (p != rank) mappings.copy(staged[p], slot, out, p * block + off, len);
                }
                off += len;
            } while (off < block);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * The all-to-all of an {@code in} that lies in this rank's tensor of {@code sym} (every rank
     * passes the same offset: the plan word carries it, so peers check it before touching any
     * tensor). Each block is copied once, by its receiver, out of its sender's tensor, instead of
     * being staged by the sender and copied out of the segment. Step 1: every rank's input is
     * written (each rank publishes after its last store to its tensor). Then rank r copies block r
     * of every peer's input into its {@code out}. Step 2: every rank has read its blocks; until
     * then no rank may return, since its caller could overwrite an input a peer is still reading.
     */
    private void allToAllSymmetric(SymmetricBuffer sym, MemorySegment in, MemorySegment out, ElementType type) {
        long bytes = in.byteSize();
        long block = bytes / size;
        long offset = in.address() - sym.base;
        enter(CallDescriptor.Kind.ALL_TO_ALL, type, null, -1, bytes, ALGORITHM_SYMMETRIC, sym.plan(offset));
        try {
            steps.publishRelease();
            // This rank's own block is a local copy: done while the peers arrive.
            mappings.copy(in, rank * block, out, rank * block, block);
            steps.awaitAllAcquire();
            MemorySegment[] tensors = sym.tensors;
            long mine = offset + rank * block;
            for (int p = 0; p < size; p++) {
                if (p != rank) mappings.copy(tensors[p], mine, out, p * block, block);
            }
            steps.publishRelease();
            steps.awaitAllAcquire();
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * A count step, then one step per chunk of the largest pair. In the count step every rank
     * stages its sendCounts and recvCounts; every rank then checks the whole matrix (rank i's
     * sendCounts[j] against rank j's recvCounts[i]), so a disagreement fails every rank with
     * the same MISMATCH, and every rank derives the same number of data steps from it. Counts
     * read from peers are only compared and used for that step count: the bytes a rank copies
     * are bounded by its own, validated, recvCounts.
     */
    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        SymmetricBuffer sym = symmetricHolding(in);
        if (sym != null) {
            allToAllVSymmetric(sym, in, sendCounts, out, recvCounts, type);
            return;
        }
        enter(CallDescriptor.Kind.ALL_TO_ALL_V, type, null, -1, size, ALGORITHM_CHUNKED, scatterChunk);
        int es = type.byteSize();
        try {
            int q = countStep(sendCounts, recvCounts);
            // The matrix is spread over N areas: row i is in rank i's area. Checked pair by pair
            // through a view of each area, in the same order as the composed backends.
            long maxPair = checkCountMatrix(areas[q], type);
            long sendSelf = 0;
            long recvSelf = 0;
            for (int j = 0; j < rank; j++) {
                sendSelf += sendCounts[j] * es;
                recvSelf += recvCounts[j] * es;
            }
            long selfBytes = sendCounts[rank] * es; // equal to recvCounts[rank] * es: checked above
            long rounds = (maxPair * es + scatterChunk - 1) / scatterChunk;
            if (rounds == 0) mappings.copy(in, sendSelf, out, recvSelf, selfBytes);
            for (long k = 0; k < rounds; k++) {
                long off = k * scatterChunk;
                q = steps.nextParity();
                Compositions.packPieces(in, sendCounts, es, off, scatterChunk, areas[q][rank], rank);
                steps.publishRelease();
                if (k == 0) mappings.copy(in, sendSelf, out, recvSelf, selfBytes); // while peers stage
                steps.awaitAllAcquire();
                MemorySegment[] staged = areas[q];
                long slot = rank * scatterChunk;
                long at = 0;
                for (int p = 0; p < size; p++) {
                    long len = Compositions.pieceLength(recvCounts[p], es, off, scatterChunk);
                    if (p != rank && len > 0) mappings.copy(staged[p], slot, out, at + off, len);
                    at += recvCounts[p] * es;
                }
            }
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * allToAllV's count step: this rank's sendCounts and then its recvCounts into its area, then
     * every rank's; returns the parity of the areas that hold the matrix (row i in rank i's).
     */
    private int countStep(long[] sendCounts, long[] recvCounts) {
        int q = steps.nextParity();
        MemorySegment mine = areas[q][rank];
        for (int j = 0; j < size; j++) {
            mine.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8L * j, sendCounts[j]);
            mine.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8L * (size + j), recvCounts[j]);
        }
        steps.publishRelease();
        steps.awaitAllAcquire();
        return q;
    }

    /**
     * The all-to-all-v of an {@code in} that lies in this rank's tensor of {@code sym} (at the
     * same offset on every rank: the plan word). Step 1 is the count step, which also says every
     * rank's input is written; every rank checks the whole count matrix as on the copy path. Then
     * rank r copies, from every peer p's tensor, the piece p sends it: it starts after p's pieces
     * for ranks 0..r-1, an offset computed from p's sendCounts in the matrix and bounds-checked
     * against the tensor before use. Step 2: every rank has read its pieces, so inputs may change.
     */
    private void allToAllVSymmetric(SymmetricBuffer sym, MemorySegment in, long[] sendCounts, MemorySegment out,
                                    long[] recvCounts, ElementType type) {
        long offset = in.address() - sym.base;
        enter(CallDescriptor.Kind.ALL_TO_ALL_V, type, null, -1, size, ALGORITHM_SYMMETRIC, sym.plan(offset));
        int es = type.byteSize();
        try {
            int q = countStep(sendCounts, recvCounts);
            MemorySegment[] staged = areas[q];
            checkCountMatrix(staged, type);
            long at = 0;
            for (int p = 0; p < size; p++) {
                long len = recvCounts[p] * es;
                if (len > 0) {
                    long before = 0;
                    for (int j = 0; j < rank; j++) {
                        before += (p == rank ? sendCounts[j] : staged[p].get(java.lang.foreign.ValueLayout.JAVA_LONG, 8L * j)) * es;
                        if (before < 0) before = Long.MAX_VALUE; // counts are <= 2^59 each: only a sum of many can wrap
                    }
                    if (p == rank) {
                        mappings.copy(in, before, out, at, len);
                    } else {
                        if (before > sym.bytes - offset || len > sym.bytes - offset - before) {
                            throw new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(p), group.name(),
                                    steps.operation(), "rank " + rank + ": group rank " + p + "'s piece for it would lie at "
                                    + before + ".." + (before + len) + " bytes of its input, beyond its symmetric tensor of "
                                    + sym.bytes + " bytes from offset " + offset, null);
                        }
                        mappings.copy(sym.tensors[p], offset + before, out, at, len);
                    }
                }
                at += len;
            }
            steps.publishRelease();
            steps.awaitAllAcquire();
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /** One step per chunk: every rank stages its chunk, the root copies them all. */
    @Override
    public void gather(MemorySegment in, MemorySegment out, int root) {
        long bytes = in.byteSize();
        checkRoot(root);
        enter(CallDescriptor.Kind.GATHER, null, null, root, bytes, ALGORITHM_CHUNKED, bulkChunk);
        try {
            long off = 0;
            do {
                long len = Math.min(bulkChunk, bytes - off);
                int q = steps.nextParity();
                if (rank != root) mappings.copy(in, off, areas[q][rank], 0, len);
                steps.publishRelease();
                if (rank == root && off == 0) mappings.copy(in, 0, out, rank * bytes, bytes); // while peers stage
                steps.awaitAllAcquire();
                if (rank == root) {
                    MemorySegment[] staged = areas[q];
                    for (int p = 0; p < size; p++) {
                        if (p != root) mappings.copy(staged[p], 0, out, p * bytes + off, len);
                    }
                }
                off += len;
            } while (off < bytes);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /** One step per chunk of a block: the root stages one chunk per rank, each rank copies its own. */
    @Override
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        long bytes = out.byteSize();
        checkRoot(root);
        enter(CallDescriptor.Kind.SCATTER, null, null, root, bytes, ALGORITHM_CHUNKED, scatterChunk);
        try {
            long off = 0;
            do {
                long len = Math.min(scatterChunk, bytes - off);
                int q = steps.nextParity();
                if (rank == root) {
                    MemorySegment mine = areas[q][rank];
                    for (int j = 0; j < size; j++) {
                        if (j != root) mappings.copy(in, j * bytes + off, mine, j * scatterChunk, len);
                    }
                }
                steps.publishRelease();
                if (rank == root && off == 0) mappings.copy(in, rank * bytes, out, 0, bytes);
                steps.awaitAllAcquire();
                if (rank != root) mappings.copy(areas[q][root], rank * scatterChunk, out, off, len);
                off += len;
            } while (off < bytes);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /** The all-reduce's schedule, written back on the root only (see {@link #reduceTo}). */
    @Override
    public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        checkRoot(root);
        reduceTo(CallDescriptor.Kind.REDUCE, buf, type, op, root);
    }

    /** Returns the largest count of any pair, after checking that every pair agrees (see Compositions). */
    private long checkCountMatrix(MemorySegment[] staged, ElementType type) {
        long max = 0;
        for (int i = 0; i < size; i++) {
            for (int j = 0; j < size; j++) {
                long sent = staged[i].get(java.lang.foreign.ValueLayout.JAVA_LONG, 8L * j);
                long received = staged[j].get(java.lang.foreign.ValueLayout.JAVA_LONG, 8L * (size + i));
                if (sent != received || sent < 0 || sent > Long.MAX_VALUE / 16) {
                    int blamed = i == rank ? j : i;
                    throw new CommFailure(CommFailure.Kind.MISMATCH, group.worldRank(blamed), group.name(), steps.operation(),
                            "rank " + rank + ": allToAllV counts disagree for the pair group rank " + i + " -> " + j
                                    + ": rank " + i + " has sendCounts[" + j + "] = " + sent + " but rank " + j
                                    + " has recvCounts[" + i + "] = " + received + " "
                                    + type.name().toLowerCase(java.util.Locale.ROOT) + " elements", null);
                }
                max = Math.max(max, sent);
            }
        }
        return max;
    }

    private void checkRoot(int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root " + root + " outside group " + group.name() + " of " + size);
        }
    }

    @Override
    public void barrier() {
        enter(CallDescriptor.Kind.BARRIER, null, null, -1, 0, ALGORITHM_NONE, 0);
        try {
            steps.publishRelease();
            steps.awaitAllAcquire();
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /** Through the mailbox of the pair (this rank, peer); see {@link Mailboxes}. */
    @Override
    public void send(MemorySegment buf, int peer) {
        checkPeer(peer);
        if (!usable()) throw refusal(ds.comm.spi.PointToPoint.describe(true, buf.byteSize(), rank, peer));
        mail.checkCapacity();
        try {
            mail.send(buf, peer);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /** Through the mailbox of the pair (peer, this rank); see {@link Mailboxes}. */
    @Override
    public void recv(MemorySegment buf, int peer) {
        checkPeer(peer);
        if (!usable()) throw refusal(ds.comm.spi.PointToPoint.describe(false, buf.byteSize(), peer, rank));
        mail.checkCapacity();
        try {
            mail.recv(buf, peer);
        } catch (RuntimeException e) {
            throw fail(e);
        }
    }

    /**
     * Unmaps every segment (peers keep their own mappings of this rank's pages, which live on
     * until the last mapping goes) and unlinks this rank's file if the unlink at open failed;
     * idempotent, never throws.
     */
    @Override
    protected void release() {
        watch.unregister(this); // before the arena closes: its segments are read there
        if (heartbeating) {
            // Before the arena closes: the pacer must never write into an unmapped segment.
            HeartbeatPacer.instance().unregister(ownSegment);
        }
        try {
            // Peers still waiting on this rank see CLOSED and fail fast instead of timing out;
            // a FAILED state stays, it says more.
            if (failure() == null) steps.markState(SegmentDescriptor.STATE_CLOSED);
            LOG.log(System.Logger.Level.DEBUG, () -> "ds-comm group " + group.name() + " rank " + rank + " closed after step "
                    + steps.step() + "; waiting: " + steps.waitingSummary());
        } catch (RuntimeException ignored) {
            // The mapping is ours; nothing a peer did can make this fail, but close never throws.
        }
        // Now, or when a large copy still running on another thread returns (MappingGuard).
        mappings.close();
        if (ownFileLinked) {
            SegmentFile.deleteQuietly(ownPath);
        }
    }

    /** The symmetric tensors' and the segments' mappings go; run once, by {@link #mappings}. */
    private void unmap() {
        for (SymmetricBuffer b : symmetric) {
            b.release();
        }
        try {
            arena.close();
        } catch (RuntimeException ignored) {
            // Only another thread still inside a collective on this instance (a broken
            // contract) makes a shared arena refuse to close; the mapping then lives on until
            // the process exits, which is harmless to peers.
        }
    }

    /**
     * Aborts this group because a call of this rank on another group deadlocked with
     * {@code peerWorld}'s pending call here; its waiting members then fail with the mismatch.
     */
    void abortFor(CommFailure cause, int peerWorld) {
        if (!usable()) return;
        abortedByPartner = true;
        recordFailure(new CommFailure(CommFailure.Kind.MISMATCH, peerWorld, group.name(), steps.operation(),
                "aborted: this rank's call on group " + cause.group() + " deadlocked with world rank " + peerWorld
                        + "'s call here: " + cause.getMessage(), cause));
    }

    /** Closed, or failed earlier: no call can run on it any more. */
    boolean broken() {
        return !usable();
    }

    /** This rank's segment. */
    MemorySegment ownSegment() {
        return ownSegment;
    }

    GroupSpec group() {
        return group;
    }

    /** The current call as text. */
    String operation() {
        return steps.operation();
    }

    /** The segment of member {@code worldRank}, or null when it is not a member of this group. */
    MemorySegment segmentOfWorldRank(int worldRank) {
        for (int p = 0; p < size; p++) {
            if (group.worldRank(p) == worldRank) return steps.segment(p);
        }
        return null;
    }

    /** What the owner of {@code peer} called at {@code step}, from its call descriptor (for messages). */
    String describeCallOf(MemorySegment peer, long step) {
        int parity = (int) (step & 1);
        return CallDescriptor.describe(SegmentDescriptor.getWord(peer, SegmentDescriptor.callOffset(parity, 0)),
                SegmentDescriptor.getWord(peer, SegmentDescriptor.callOffset(parity, 1)),
                SegmentDescriptor.getWord(peer, SegmentDescriptor.callOffset(parity, 2)));
    }

    /** The number of steps this rank has published (for tests and diagnostics). */
    long stepsPublished() {
        return steps.step();
    }

    private void enter(CallDescriptor.Kind kind, ElementType type, Combiner op, int root, long bytes,
                       int algorithm, long chunk) {
        if (!usable()) {
            throw refusal(CallDescriptor.describe(CallDescriptor.word0(kind, type, op, root), bytes, 0));
        }
        watch.noteCaller();
        steps.begin(kind, type, op, root, bytes, CallDescriptor.plan(algorithm, chunk));
    }

    /**
     * Anything thrown mid-collective (a timeout, a mismatch, a reducer that rejects its
     * arguments) leaves this rank at an unknown step: no later call may run on it. Returns its
     * argument, to be rethrown.
     */
    private RuntimeException fail(RuntimeException e) {
        recordFailure(e instanceof CommFailure f ? f : new CommFailure(CommFailure.Kind.ABORTED, -1, group.name(),
                steps.operation(), "failed with " + e, e));
        return e;
    }

    /** Peers waiting on this rank must stop: its STATE says FAILED, and whom it blames. */
    @Override
    protected void onFailure(CommFailure f) {
        // Say whom this rank blames before it says FAILED: a peer that finds FAILED while it
        // waits names the rank that was really lost, not this messenger.
        steps.markFailed(f.kind(), f.peerRank());
        if (!abortedByPartner && f.kind() == CommFailure.Kind.MISMATCH && f.peerRank() >= 0) {
            // If the mismatch is one of calls on different groups, this rank's other group is
            // stuck in the same deadlock: abort it too, so its members hear why (see CrossGroupWatch).
            watch.abortPartnerGroup(this, f.peerRank(), f);
        }
    }

    private void setSourceOffsets(long offset) {
        long[] offsets = srcOffsets;
        for (int p = 0; p < offsets.length; p++) {
            offsets[p] = offset;
        }
    }

}
