package ds.comm.ring;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.Reducer;
import ds.comm.spi.CommFailure;
import ds.comm.spi.ComposingCollective;
import ds.comm.spi.Compositions;
import ds.comm.spi.GroupSpec;
import ds.comm.spi.Scratch;
import ds.comm.spi.Settings;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Collectives of one group over a TCP ring: group rank r sends to {@code (r+1) % N} and
 * receives from {@code (r-1+N) % N}, one connection each way, opened through the processes'
 * {@link RingEndpoint}s.
 *
 * <h2>Algorithms</h2>
 * <ul>
 *   <li>allReduce of more than {@link Settings#smallMessageBytes()} bytes: ring reduce-scatter
 *       then ring all-gather, pipelined in chunks of {@link Settings#chunkBytes()}
 *       ({@link ReducingPass}: accumulation order, fp32 partial sums for BF16/FP16); in groups of
 *       3 to {@link MeshLinks#MAX_RANKS} ranks up to {@link #EXCHANGE_MAX_BYTES} an exchange
 *       instead ({@link ExchangePass}): segment q of every buffer goes straight to rank q, which
 *       reduces it in rank order and sends the result straight to everyone, two dependent
 *       phases instead of 2(N-1) steps, the same bytes per rank (measured in
 *       docs/performance.md: with more ranks than cores every ring step is a scheduler
 *       hand-over);</li>
 *   <li>allReduce up to {@code smallMessageBytes}: every rank gets every rank's whole buffer,
 *       then reduces the N buffers locally in rank order 0..N-1 with the {@link Reducer} (the
 *       same accumulation order, hence the same bits, as the shared-memory backend's small
 *       algorithm). Groups of 3 to {@link MeshLinks#MAX_RANKS} ranks exchange the buffers
 *       directly ({@link MeshLinks}: one latency; each rank's buffer goes to its right neighbour
 *       over the ring and to the others over direct links), 2 ranks and larger groups by ring
 *       all-gather (N-1 latency-bound steps);</li>
 *   <li>allGather: ring all-gather; reduceScatter: ring reduce-scatter; broadcast: pipelined
 *       chain from the root; barrier: in groups of 4 to {@link MeshLinks#MAX_RANKS} ranks a
 *       dissemination barrier, ceil(log2 N) rounds over the ring link and the direct links
 *       ({@link MeshLinks#armBarrier}), otherwise an all-gather of empty blocks around the ring
 *       ({@link GatheringPass}, N-1 rounds).</li>
 *   <li>allToAll: in groups of 2 to {@link MeshLinks#MAX_RANKS} ranks pairwise
 *       ({@link AllToAllPass}: block q of every input straight to rank q, one step over the ring
 *       link and the direct links; groups of 3 from blocks of
 *       {@link #THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES}, up to {@link #PAIRWISE_ALL_TO_ALL_MAX_BYTES});
 *       allToAllV alike after the composed count step, its rules applied to the largest pair;
 *       otherwise, and gather, scatter, reduce: compositions of the above in bounded scratch
 *       ({@link Compositions}: rounds of allGather, broadcast or allReduce).</li>
 * </ul>
 * Every rank of a call gets bit-identical results: the choice of algorithm and the accumulation
 * order depend only on N, sizes and settings, never on timing.
 *
 * <h2>Resources</h2>
 * All buffers are allocated once at {@link #open}: a send staging buffer and a receive buffer of
 * one chunk, a head buffer for a header and a small payload read together
 * ({@link FramePump#EAGER_PAYLOAD_BYTES}), an fp32 scratch chunk, the reduce-scatter banks (see
 * {@link ReducingPass}), N blocks of {@code smallMessageBytes} for the small algorithm and, in
 * groups with direct links, the exchange's N slots of a segment and a working copy for heap
 * buffers ({@link #EXCHANGE_MAX_BYTES} each).
 * Payloads that need no reduction are sent from and received into the caller's native segments
 * directly (those of at most {@code EAGER_PAYLOAD_BYTES} copied from the head buffer), through
 * {@link java.nio.ByteBuffer} views cached per segment instance ({@code SegmentView}). Calls
 * allocate nothing as long as callers reuse their segments (a new segment instance costs one
 * small view object the first time it is seen). Besides its two data connections a group rank
 * holds two heartbeat connections and one {@link Heartbeat} thread, and in groups of 3 to
 * {@link MeshLinks#MAX_RANKS} ranks N-2 direct links each way, all released by close().
 *
 * <h2>Failures</h2>
 * A call that fails (peer lost, timeout, mismatch) tells its right neighbour which rank it
 * blames and leaves the group unusable: later calls throw {@link CommFailure.Kind#ABORTED}.
 * Besides end of stream and resets, the group's {@link Heartbeat} (its own daemon thread and
 * connections, beating whether or not a call runs) declares a neighbour silent for
 * {@link Settings#peerLostNanos()} lost: a call waiting for it fails with
 * {@link CommFailure.Kind#PEER_LOST} naming it, and so does any call started afterwards.
 */
public final class RingCollective extends ComposingCollective {

    /** Chunk slots for partial sums in all; the N banks hold K = max(1, budget / N) slots each. */
    private static final int BANK_CHUNK_BUDGET = 8;
    /**
     * Smallest group whose barrier runs as a dissemination over the direct links: from 4 ranks
     * on it needs fewer rounds than the ring (ceil(log2 N) against N-1). With 3 the rounds are
     * equal and the ring waits on one socket instead of two: 4 ranks on 2 cores measured a
     * barrier of 70-91 us against 115 us, 3 ranks 71-94 against 53-64 us.
     */
    static final int DISSEMINATION_MIN_RANKS = 4;
    /**
     * Largest all-reduce a group of 3 to {@link MeshLinks#MAX_RANKS} ranks runs as an exchange
     * ({@link ExchangePass}: direct reduce-scatter and all-gather, two dependent phases); larger
     * ones pipeline around the ring, whose chunks overlap sending, receiving and reducing. The
     * group holds N slots of a segment each and a working copy for heap buffers, 2x this in all.
     */
    static final long EXCHANGE_MAX_BYTES = 2L << 20;
    /**
     * Largest all-to-all (bytes of the input) a group of 2 to {@link MeshLinks#MAX_RANKS} ranks
     * runs pairwise ({@link AllToAllPass}); larger ones are composed in rounds of bounded scratch
     * ({@code spi.Compositions}). It bounds the native mirror a call on heap buffers needs (the
     * sockets read and write native memory only): twice this at most, kept until close. The same
     * on every rank, like every input of the choice.
     */
    static final long PAIRWISE_ALL_TO_ALL_MAX_BYTES = 256L << 20;
    /**
     * Smallest block a group of exactly 3 ranks exchanges pairwise; smaller ones are composed
     * (two all-gather steps around the ring). As for the barrier ({@link #DISSEMINATION_MIN_RANKS}),
     * with 3 ranks one step over two sockets waits for more wake-ups than two steps over one:
     * 3 ranks on 2 cores measured 70-74 us against 60-67 us for 1-4 KiB blocks, and from 8 KiB on
     * the pairwise one wins (77-79 against 93-96 us; 16 KiB alike, 32 KiB 113-119 against 132).
     * From 4 ranks it wins at every size (4 KiB: 97 against 170 us).
     */
    static final long THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES = 8L << 10;
    /** How long a failing rank tries to deliver its abort frame. */
    private static final long ABORT_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private final GroupSpec group;
    private final Settings settings;
    private final Reducer reducer;
    private final int rank;
    private final int size;
    private final String self;
    private final SocketChannel toRight;
    private final SocketChannel fromLeft;
    private final Heartbeat heartbeat;
    private final Arena arena;
    private final FramePump pump;
    private final ReducingPass reducing;
    private final GatheringPass gathering;
    private final BroadcastPass broadcasting;
    private final MemorySegment smallBlocks;
    private final long smallMessageBytes;
    private final MemorySegment[] rankSources;
    private final long[] rankOffsets;
    private final PeerLinks peers;
    /** Direct links of the small all-reduce (3 to {@link MeshLinks#MAX_RANKS} ranks), else null. */
    private final MeshLinks mesh;
    /** The exchange all-reduce (with {@link #mesh}), its bound, slots and working copy; else null and 0. */
    private final ExchangePass exchange;
    private final long exchangeMaxBytes;
    private final MemorySegment exchangeSlots;
    private final long exchangeSlotStride;
    private final MemorySegment exchangeWork;
    /** The pairwise all-to-all (2 ranks, or with {@link #mesh}), else null. */
    private final AllToAllPass pairwise;
    /** A native stand-in for an empty all-to-all's buffers (its frames still carry its identity). */
    private final MemorySegment emptyNative;
    /** Native mirrors of heap buffers for the pairwise all-to-all(v), grown on demand (see {@link #mirrors}). */
    private final Scratch mirrorMemory = new Scratch();
    private MemorySegment mirrorIn;
    private MemorySegment mirrorOut;
    private int sequence;
    private volatile boolean busy;
    /** Nesting of enter() on the calling thread: composed calls run passes inside their own call. */
    private int depth;
    private final AtomicBoolean released = new AtomicBoolean();

    private RingCollective(GroupSpec group, Settings settings, Reducer reducer, SocketChannel toRight,
                           SocketChannel fromLeft, Heartbeat heartbeat, RingEndpoint endpoint,
                           List<InetSocketAddress> addressOfGroupRank, SocketChannel[] meshOut) {
        super("ring", group);
        this.group = group;
        this.settings = settings;
        this.reducer = reducer;
        this.rank = group.myIndex();
        this.size = group.size();
        this.self = "rank " + rank + " (world " + group.myWorldRank() + ")";
        this.toRight = toRight;
        this.fromLeft = fromLeft;
        this.heartbeat = heartbeat;
        long chunk = settings.chunkBytes();
        if (chunk > Integer.MAX_VALUE - FrameDescriptor.HEADER_LENGTH) {
            throw new IllegalArgumentException("ring chunk of " + chunk + " bytes exceeds a frame's 2 GiB limit");
        }
        this.smallMessageBytes = smallMessageBytes(settings, size);
        this.rankSources = new MemorySegment[size];
        this.rankOffsets = new long[size];
        int bankChunks = size <= 2 ? 1 : Math.max(1, BANK_CHUNK_BUDGET / size);
        this.arena = Arena.ofShared();
        MemorySegment send = arena.allocate(FrameDescriptor.HEADER_LENGTH + chunk, 64);
        MemorySegment recvHeader = arena.allocate(FrameDescriptor.HEADER_LENGTH + FramePump.EAGER_PAYLOAD_BYTES, 64);
        MemorySegment recv = arena.allocate(chunk, 64);
        MemorySegment scratch = arena.allocate(chunk, 64);
        MemorySegment banks = arena.allocate(Math.max(1, ReducingPass.bankBytes(size, bankChunks, chunk)), 64);
        this.smallBlocks = arena.allocate(Math.max(1, smallMessageBytes * size), 64);
        // No exchange (and none of its memory) without direct links, or when the small limit covers its range.
        long exchangeBound = meshOut == null ? 0 : exchangeMaxBytes(chunk, size);
        this.exchangeMaxBytes = exchangeBound > smallMessageBytes ? exchangeBound : 0;
        // A slot holds one segment: at most ceil(count / N) elements of at most 8 bytes.
        this.exchangeSlotStride = (exchangeMaxBytes / size + 8 + 63) & ~63L;
        this.exchangeSlots = exchangeMaxBytes > 0 ? arena.allocate(exchangeSlotStride * size, 64) : null;
        this.exchangeWork = exchangeMaxBytes > 0 ? arena.allocate(exchangeMaxBytes, 64) : null;
        FramePump created = null;
        MeshLinks links = null;
        try {
            created = new FramePump(toRight, fromLeft, group.worldRank((rank + 1) % size),
                    group.worldRank((rank - 1 + size) % size), group.myWorldRank(), group.name(), self,
                    settings.idle().get(), heartbeat, send, recvHeader.asByteBuffer(), recv, waits);
            if (meshOut != null) {
                links = new MeshLinks(rank, group.members(), group.name(), self, meshOut,
                        q -> claimDirectLink(group, endpoint, q), smallBlocks,
                        arena.allocate(FrameDescriptor.HEADER_LENGTH + smallMessageBytes, 64));
                created.attach(links);
            }
        } catch (IOException e) {
            if (created != null) created.close();
            if (links != null) links.close();
            arena.close();
            throw new CommFailure(CommFailure.Kind.SETUP, -1, group.name(), "open(ring)", self
                    + ": cannot create a selector: " + e.getMessage(), e);
        }
        this.pump = created;
        this.mesh = links;
        this.exchange = exchangeMaxBytes > 0 ? new ExchangePass(size, rank, reducer, chunk) : null;
        this.pairwise = size == 2 || links != null ? new AllToAllPass(size, rank, chunk) : null;
        this.emptyNative = arena.allocate(64, 64);
        this.reducing = new ReducingPass(size, rank, reducer, chunk, bankChunks, banks, scratch);
        this.gathering = new GatheringPass(size, rank, chunk);
        this.broadcasting = new BroadcastPass(size, rank, chunk);
        this.peers = new PeerLinks(group, endpoint, addressOfGroupRank, settings.timeoutNanos(), settings.idle().get(),
                (int) Math.min(chunk, 1 << 20));
        this.peers.watchLiveness(worldRank -> {
            Heartbeat.Loss loss = heartbeat.lossAcquire();
            return loss != null && loss.worldRank() == worldRank ? loss.detail() : null;
        });
    }

    /**
     * Connects this rank into the ring of {@code group}: to its right neighbour at
     * {@code addressOfGroupRank.get((r+1) % N)} and, through {@code endpoint}, from its left
     * neighbour, each with a data and a heartbeat connection; retried until
     * {@link Settings#timeoutNanos()}. Starts the group's {@link Heartbeat}, which declares a
     * neighbour silent for {@link Settings#peerLostNanos()} lost.
     *
     * @param group              the group, its job token and this process's index in it
     * @param settings           timeout, chunk size, small-message threshold, idle strategy
     * @param reducer            the element-wise kernels reductions run on
     * @param endpoint           this process's listener, through which the left neighbour connects
     * @param addressOfGroupRank the advertised endpoint address of every group rank
     * @return the connected collective; close it to release its connections and buffers
     * @throws CommFailure SETUP or TIMEOUT if the ring cannot be formed in time
     */
    public static RingCollective open(GroupSpec group, Settings settings, Reducer reducer, RingEndpoint endpoint,
                                      List<InetSocketAddress> addressOfGroupRank) {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(reducer, "reducer");
        Objects.requireNonNull(endpoint, "endpoint");
        int n = group.size();
        if (addressOfGroupRank.size() != n) {
            throw new IllegalArgumentException(addressOfGroupRank.size() + " addresses for group " + group);
        }
        if (n == 1) {
            throw new IllegalArgumentException("group " + group.name() + " has one member: it needs no ring");
        }
        endpoint.adopt(group.jobToken(), group.myWorldRank());
        int r = group.myIndex();
        int right = (r + 1) % n;
        int left = (r - 1 + n) % n;
        long deadline = System.nanoTime() + settings.timeoutNanos();
        String operation = "open(ring)";
        String self = describe(group);
        SocketChannel toRight = null;
        SocketChannel fromLeft = null;
        SocketChannel beatsToRight = null;
        SocketChannel beatsFromLeft = null;
        Heartbeat heartbeat = null;
        boolean direct = usesDirectAllReduce(settings, n);
        SocketChannel[] meshOut = direct ? new SocketChannel[n] : null;
        try {
            // Connecting needs only the right neighbour's listener thread, never its application
            // thread, so every rank may connect before it claims without deadlocking the ring.
            toRight = connect(group, endpoint, addressOfGroupRank.get(right), right, HandshakeDescriptor.PURPOSE_DATA,
                    deadline);
            beatsToRight = connect(group, endpoint, addressOfGroupRank.get(right), right,
                    HandshakeDescriptor.PURPOSE_HEARTBEAT, deadline);
            if (direct) {
                // Every outgoing direct link is opened now (needing only the peers' listeners),
                // the incoming ones are taken from the endpoint by the first direct call: waiting
                // here for peers to open this group could deadlock ranks that open several
                // groups in different orders.
                for (int q = 0; q < n; q++) {
                    if (q != r && q != right) {
                        meshOut[q] = connect(group, endpoint, addressOfGroupRank.get(q), q,
                                HandshakeDescriptor.PURPOSE_DATA, deadline);
                    }
                }
            }
            fromLeft = claim(group, endpoint, left, HandshakeDescriptor.PURPOSE_DATA, settings, deadline);
            beatsFromLeft = claim(group, endpoint, left, HandshakeDescriptor.PURPOSE_HEARTBEAT, settings, deadline);
            try {
                heartbeat = Heartbeat.start(beatsToRight, group.worldRank(right), beatsFromLeft, group.worldRank(left),
                        settings.peerLostNanos(), group.name(), group.myWorldRank());
            } catch (IOException e) {
                throw new CommFailure(CommFailure.Kind.SETUP, -1, group.name(), operation, self
                        + ": cannot start the heartbeat: " + e.getMessage(), e);
            }
            return new RingCollective(group, settings, reducer, toRight, fromLeft, heartbeat, endpoint, addressOfGroupRank,
                    meshOut);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeAll(heartbeat, toRight, fromLeft, beatsToRight, beatsFromLeft);
            closeAll(null, meshOut);
            throw new CommFailure(CommFailure.Kind.ABORTED, -1, group.name(), operation, self + ": interrupted", e);
        } catch (RuntimeException e) {
            closeAll(heartbeat, toRight, fromLeft, beatsToRight, beatsFromLeft);
            closeAll(null, meshOut);
            throw e;
        }
    }

    /** Opens this rank's connection of {@code purpose} to group rank {@code target} (the right neighbour, or a direct link). */
    private static SocketChannel connect(GroupSpec group, RingEndpoint endpoint, InetSocketAddress address, int target,
                                         short purpose, long deadline) throws InterruptedException {
        int r = group.myIndex();
        int n = group.size();
        ByteBuffer hello = HandshakeDescriptor.hello(group.jobToken(), group.name(), r, group.myWorldRank(),
                group.worldRank(target), n, purpose);
        try {
            return RingConnector.connect(address, hello, deadline, endpoint.secret());
        } catch (IOException e) {
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(target), group.name(), "open(ring)",
                    describe(group) + ": cannot connect " + purposeName(purpose) + " to " + role(group, target)
                            + " at " + address + ": " + e.getMessage(), e);
        }
    }

    /**
     * Takes group rank {@code sender}'s connection of {@code purpose} (the left neighbour's, or a
     * direct link) from the endpoint, once its handshake completed.
     */
    private static SocketChannel claim(GroupSpec group, RingEndpoint endpoint, int sender, short purpose,
                                       Settings settings, long deadline) throws InterruptedException {
        int n = group.size();
        RingEndpoint.Inbound in = endpoint.claim(group.jobToken(), group.name(), group.worldRank(sender),
                group.myWorldRank(), purpose, deadline);
        if (in == null) {
            throw new CommFailure(CommFailure.Kind.TIMEOUT, group.worldRank(sender), group.name(), "open(ring)",
                    describe(group) + ": " + role(group, sender) + " did not open its " + purposeName(purpose) + " within "
                            + TimeUnit.NANOSECONDS.toMillis(settings.timeoutNanos()) + " ms", null);
        }
        if (in.senderGroupRank() != sender || in.groupSize() != n) {
            RingEndpoint.closeQuietly(in.channel());
            throw new CommFailure(CommFailure.Kind.SETUP, group.worldRank(sender), group.name(), "open(ring)",
                    describe(group) + ": " + role(group, sender) + " claims group rank " + in.senderGroupRank() + " of "
                            + in.groupSize() + ", expected " + sender + " of " + n, null);
        }
        return in.channel();
    }

    /**
     * Group rank {@code sender}'s direct link to this rank, if it has connected (it does so when
     * it opens the group), else null; never waits.
     */
    private static SocketChannel claimDirectLink(GroupSpec group, RingEndpoint endpoint, int sender) {
        RingEndpoint.Inbound in = endpoint.poll(group.jobToken(), group.name(), group.worldRank(sender),
                group.myWorldRank(), HandshakeDescriptor.PURPOSE_DATA);
        if (in == null) return null;
        if (in.senderGroupRank() != sender || in.groupSize() != group.size()) {
            RingEndpoint.closeQuietly(in.channel());
            throw new CommFailure(CommFailure.Kind.SETUP, group.worldRank(sender), group.name(), "allReduce",
                    describe(group) + ": " + role(group, sender) + " claims group rank " + in.senderGroupRank() + " of "
                            + in.groupSize() + ", expected " + sender + " of " + group.size(), null);
        }
        return in.channel();
    }

    /** "right neighbour", "left neighbour" or "group rank q (direct link)", for setup failures. */
    private static String role(GroupSpec group, int q) {
        int r = group.myIndex();
        int n = group.size();
        if (q == (r + 1) % n) return "right neighbour";
        if (q == (r - 1 + n) % n) return "left neighbour";
        return "group rank " + q + " (direct link)";
    }

    /** The small-message bound in use: the setting, capped so that N blocks take at most 64 MiB. */
    private static long smallMessageBytes(Settings settings, int n) {
        // The small algorithm is only worth it while it fits one buffer of N blocks; beyond
        // 64 MiB of blocks the ring algorithm wins anyway, so cap the memory it may take.
        return Math.min(settings.smallMessageBytes(), (64L << 20) / n);
    }

    /**
     * The largest all-reduce run as an exchange by a group with direct links: every segment
     * (at most ceil(bytes / N) + one element) must fit a ring chunk, the frame size the pump stages.
     */
    static long exchangeMaxBytes(long chunkBytes, int n) {
        return Math.min(EXCHANGE_MAX_BYTES, (chunkBytes - 8) * n);
    }

    /** Whether a group of {@code n} ranks runs small all-reduces directly ({@link MeshLinks}). */
    static boolean usesDirectAllReduce(Settings settings, int n) {
        return n >= 3 && n <= MeshLinks.MAX_RANKS && smallMessageBytes(settings, n) > 0;
    }

    private static String purposeName(short purpose) {
        return purpose == HandshakeDescriptor.PURPOSE_HEARTBEAT ? "heartbeat connection" : "data connection";
    }

    private static String describe(GroupSpec group) {
        return "rank " + group.myIndex() + " (world " + group.myWorldRank() + ")";
    }

    private static void closeAll(Heartbeat heartbeat, SocketChannel... channels) {
        RingEndpoint.closeQuietly(heartbeat);
        if (channels == null) return;
        for (SocketChannel c : channels) {
            RingEndpoint.closeQuietly(c);
        }
    }

    @Override
    public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
        enter("allReduce");
        try {
            if (buf.byteSize() == 0) {
                return;
            }
            long bytes = buf.byteSize();
            long elements = bytes / type.byteSize();
            if (bytes > smallMessageBytes && bytes <= exchangeMaxBytes) {
                allReduceExchange(buf, type, op, elements);
                return;
            }
            if (bytes > smallMessageBytes) {
                reducing.armAllReduce(buf, type, op);
                run(reducing);
                return;
            }
            if (mesh != null) {
                // Every block at once, one frame from and to every rank (see MeshLinks); the ring
                // part is the first step of the gather.
                gathering.arm(FrameDescriptor.KIND_ALL_REDUCE_DIRECT, buf, smallBlocks, type, op, elements, 1);
                mesh.arm(gathering, buf);
                run(gathering, true);
            } else {
                gathering.arm(FrameDescriptor.KIND_ALL_REDUCE_GATHER, buf, smallBlocks, type, op, elements);
                run(gathering);
            }
            for (int i = 0; i < size; i++) {
                rankSources[i] = smallBlocks;
                rankOffsets[i] = i * bytes;
            }
            reducer.reduce(type, op, buf, 0, rankSources, rankOffsets, size, elements);
        } finally {
            exit();
        }
    }

    /**
     * Direct reduce-scatter then direct all-gather over the ring link and the direct links
     * ({@link ExchangePass}); a heap buffer goes through the working copy, whose views the
     * sockets read and write.
     */
    private void allReduceExchange(MemorySegment buf, ElementType type, Combiner op, long elements) {
        boolean inPlace = buf.isNative();
        MemorySegment work = inPlace ? buf : exchangeWork;
        if (!inPlace) MemorySegment.copy(buf, 0, work, 0, buf.byteSize());
        exchange.arm(work, exchangeSlots, exchangeSlotStride, type, op, elements, mesh);
        mesh.armExchange(exchange);
        run(exchange, true);
        if (!inPlace) MemorySegment.copy(work, 0, buf, 0, buf.byteSize());
    }

    /**
     * Pairwise in groups of 2 to {@link MeshLinks#MAX_RANKS} ranks up to
     * {@link #PAIRWISE_ALL_TO_ALL_MAX_BYTES} ({@link AllToAllPass}: every block sent once,
     * straight to its rank), except blocks under {@link #THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES} in
     * groups of 3; composed otherwise. Heap buffers go through native mirrors. The choice depends
     * on the group size, the message size and the settings only, as every rank must make it alike.
     */
    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        if (!runsPairwise(in.byteSize() / size)) {
            super.allToAll(in, out, type);
            return;
        }
        enter("allToAll");
        try {
            long bytes = in.byteSize();
            long block = bytes / size;
            MemorySegment src = in;
            MemorySegment dst = out;
            if (bytes == 0) {
                src = emptyNative;
                dst = emptyNative;
            } else if (!in.isNative() || !out.isNative()) {
                mirrors(bytes);
                if (!in.isNative()) {
                    MemorySegment.copy(in, 0, mirrorIn, 0, bytes);
                    src = mirrorIn;
                }
                if (!out.isNative()) dst = mirrorOut;
            }
            // This rank's own block never leaves it.
            MemorySegment.copy(in, rank * block, out, rank * block, block);
            pairwise.arm(src, dst, type, bytes / type.byteSize(), block);
            runPairwise();
            if (dst != out && bytes > 0) {
                for (int i = 0; i < size; i++) {
                    if (i != rank) MemorySegment.copy(dst, i * block, out, i * block, block);
                }
            }
        } finally {
            exit();
        }
    }

    /**
     * After the composed count step (every rank checks the whole count matrix), pairwise as
     * {@link #allToAll} when the largest pair is at least {@link #THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES}
     * in a group of 3 and N times it at most {@link #PAIRWISE_ALL_TO_ALL_MAX_BYTES}: the choice
     * is made from the shared matrix, alike on every rank. Otherwise the composed rounds.
     */
    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        if (pairwise == null) {
            super.allToAllV(in, sendCounts, out, recvCounts, type);
            return;
        }
        enter("allToAllV");
        try {
            long maxPair = compositions().allToAllVCounts(sendCounts, recvCounts, type);
            int es = type.byteSize();
            long maxPairBytes = maxPair * es;
            if (maxPairBytes == 0) {
                return;   // every block is empty, this rank's own too
            }
            if (!runsPairwise(maxPairBytes)) {
                compositions().allToAllVPieces(in, sendCounts, out, recvCounts, type, maxPair);
                return;
            }
            long sendTotal = 0;
            long recvTotal = 0;
            long selfSendAt = 0;
            long selfRecvAt = 0;
            for (int q = 0; q < size; q++) {
                if (q == rank) {
                    selfSendAt = sendTotal;
                    selfRecvAt = recvTotal;
                }
                sendTotal += sendCounts[q] * es;
                recvTotal += recvCounts[q] * es;
            }
            MemorySegment src = in;
            MemorySegment dst = out;
            if (!in.isNative() || !out.isNative()) {
                mirrors(Math.max(sendTotal, recvTotal));
                if (!in.isNative()) {
                    MemorySegment.copy(in, 0, mirrorIn, 0, sendTotal);
                    src = mirrorIn;
                }
                if (!out.isNative()) dst = mirrorOut;
            }
            // This rank's own block never leaves it (the matrix check made both counts equal).
            MemorySegment.copy(in, selfSendAt, out, selfRecvAt, recvCounts[rank] * es);
            pairwise.armV(src, sendCounts, dst, recvCounts, type);
            runPairwise();
            if (dst != out) {
                long at = 0;
                for (int q = 0; q < size; q++) {
                    long bytes = recvCounts[q] * es;
                    if (q != rank && bytes > 0) MemorySegment.copy(dst, at, out, at, bytes);
                    at += bytes;
                }
            }
        } finally {
            exit();
        }
    }

    /**
     * Passes this group has run (its call sequence number): a composed call runs several, the
     * pairwise all-to-all one (allToAllV two, with its count step). For tests.
     */
    int passesRun() {
        return sequence;
    }

    /**
     * Whether an all-to-all(v) whose largest block is {@code blockBytes} runs pairwise: in a group
     * with the pass, N blocks of it within {@link #PAIRWISE_ALL_TO_ALL_MAX_BYTES}, and in a group
     * of 3 at least {@link #THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES}. Inputs the same on every rank.
     */
    private boolean runsPairwise(long blockBytes) {
        return pairwise != null && blockBytes <= PAIRWISE_ALL_TO_ALL_MAX_BYTES / size
                && !(size == 3 && blockBytes < THREE_RANK_PAIRWISE_MIN_BLOCK_BYTES);
    }

    /** Runs the armed pairwise pass, with the direct links' share where the group has them. */
    private void runPairwise() {
        if (mesh != null) {
            mesh.armAllToAll(pairwise);
            run(pairwise, true);
        } else {
            run(pairwise);
        }
    }

    /**
     * Points {@link #mirrorIn} and {@link #mirrorOut} at native memory of at least {@code bytes}
     * each: the two halves of the grow-only mirror memory, the same instances while it does not
     * grow (the pass's socket views are cached per instance).
     */
    private void mirrors(long bytes) {
        long half = mirrorMemory.reserve(2 * bytes).byteSize() / 2;
        mirrorIn = mirrorMemory.slice(0, half);
        mirrorOut = mirrorMemory.slice(half, half);
    }

    @Override
    public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
        enter("allGather");
        try {
            gathering.arm(FrameDescriptor.KIND_ALL_GATHER, in, out, type, null, in.byteSize() / type.byteSize());
            run(gathering);
        } finally {
            exit();
        }
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        enter("reduceScatter");
        try {
            if (out.byteSize() == 0) {
                return;
            }
            reducing.armReduceScatter(in, out, type, op);
            run(reducing);
        } finally {
            exit();
        }
    }

    @Override
    public void broadcast(MemorySegment buf, int root) {
        enter("broadcast");
        try {
            broadcasting.arm(buf, root);
            run(broadcasting);
        } finally {
            exit();
        }
    }

    @Override
    public void barrier() {
        enter("barrier");
        try {
            if (mesh != null && size >= DISSEMINATION_MIN_RANKS) {
                // Dissemination over the ring link and the direct links: ceil(log2 N) rounds
                // instead of N-1, N*ceil(log2 N) frames instead of N*(N-1) (MeshLinks#armBarrier).
                gathering.arm(FrameDescriptor.KIND_BARRIER, null, null, null, null, 0, 1);
                mesh.armBarrier(gathering);
                run(gathering, true);
            } else {
                gathering.arm(FrameDescriptor.KIND_BARRIER, null, null, null, null, 0);
                run(gathering);
            }
        } finally {
            exit();
        }
    }

    /** Over the pair's own connection, opened on the first send to {@code peer} (see {@link PeerLinks}). */
    @Override
    public void send(MemorySegment buf, int peer) {
        checkPeer(peer);
        enter("send");
        try {
            peers.send(buf, peer);
        } catch (CommFailure f) {
            throw recordFailure(f);
        } finally {
            exit();
        }
    }

    /** Over the pair's own connection, claimed on the first recv from {@code peer} (see {@link PeerLinks}). */
    @Override
    public void recv(MemorySegment buf, int peer) {
        checkPeer(peer);
        enter("recv");
        try {
            peers.recv(buf, peer);
        } catch (CommFailure f) {
            throw recordFailure(f);
        } finally {
            exit();
        }
    }

    /**
     * Stops the heartbeat, closes all four connections and frees the buffers (at once, or when a
     * call in progress returns).
     */
    @Override
    protected void release() {
        RingEndpoint.closeQuietly(heartbeat);
        RingEndpoint.closeQuietly(toRight);
        RingEndpoint.closeQuietly(fromLeft);
        peers.close();
        pump.close();
        if (mesh != null) mesh.close();
        if (!busy) {
            freeBuffers();
        }
    }

    /**
     * Marks a call in progress, then checks the group is usable. busy is written before the
     * closed state is read, and close() writes that state before it reads busy, so whichever runs
     * second sees the other: the buffers are freed exactly once, and never under a running call.
     */
    private void enter(String operation) {
        depth++;
        busy = true;
        if (!usable()) {
            exit();
            throw refusal(operation);
        }
    }

    /*
     * All-to-all, gather, scatter and reduce are compositions of this ring's allGather,
     * broadcast and allReduce (ComposingCollective): correct, bounded in memory and covered by the
     * passes' framing, deadlines and failure reporting. A composed call is one call of the ring
     * (its buffers stay until it returns), and the passes it runs enter again as nested calls.
     */

    @Override
    protected void beginCall(String operation) {
        enter(operation);
    }

    @Override
    protected void endCall() {
        exit();
    }

    private void exit() {
        // A composed call (allToAll, ...) enters once more per pass it runs: only the outermost
        // exit ends the call.
        if (--depth > 0) return;
        busy = false;
        if (isClosed()) {
            freeBuffers();
        }
    }

    private void run(RingPass pass) {
        run(pass, false);
    }

    /** Runs {@code pass}, and the armed direct links if {@code direct}, as the group's next call. */
    private void run(RingPass pass, boolean direct) {
        long deadline = System.nanoTime() + settings.timeoutNanos();
        try {
            pump.run(pass, sequence++, deadline, direct);
        } catch (CommFailure f) {
            throw recordFailure(f);
        }
    }

    /** Tells the right neighbour (and so the whole ring) to stop waiting for this rank. */
    @Override
    protected void onFailure(CommFailure f) {
        pump.sendAbort(f, System.nanoTime() + ABORT_GRACE_NANOS);
    }

    private void freeBuffers() {
        if (released.compareAndSet(false, true)) {
            reducing.forget();
            gathering.forget();
            if (exchange != null) exchange.forget();
            if (pairwise != null) pairwise.forget();
            mirrorMemory.close();
            if (mesh != null) mesh.forget();
            broadcasting.forget();
            closeCompositions();
            arena.close();
        }
    }
}
