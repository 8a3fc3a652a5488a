package ds.comm.mpi;

import ds.comm.lanes.Combiner;
import ds.comm.lanes.ElementType;
import ds.comm.lanes.HalfFloats;
import ds.comm.lanes.Reducer;
import ds.comm.spi.BackendCollective;
import ds.comm.spi.CommFailure;
import ds.comm.spi.Compositions;
import ds.comm.spi.Settings;
import ds.comm.spi.WaitMeter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.Objects;

/**
 * Collectives of one MPI communicator: each call is one (or, for huge or heap buffers, a few)
 * blocking MPI collectives on a private communicator with {@code MPI_ERRORS_RETURN}.
 *
 * <pre>
 *   allReduce      MPI_Allreduce(MPI_IN_PLACE, buf)       reduceScatter  MPI_Reduce_scatter_block
 *   allGather      MPI_Allgather (as MPI_BYTE)            broadcast      MPI_Bcast (as MPI_BYTE)
 *   barrier        MPI_Barrier                            split          MPI_Comm_split
 *   send / recv    MPI_Send / MPI_Recv: a size header, the receiver's answer, then the payload
 *   allToAll       MPI_Alltoall (as MPI_BYTE)             allToAllV      MPI_Allgather of the counts, MPI_Alltoallv
 *   gather         MPI_Gather (as MPI_BYTE)               scatter        MPI_Scatter (as MPI_BYTE)
 *   reduce         MPI_Reduce (the root sends a copy of its buffer: MPICH reads MPI_IN_PLACE as an address here)
 * </pre>
 *
 * <p><b>Point-to-point.</b> A send is three messages on the private communicator (tags
 * {@link #TAG_HEADER}, {@link #TAG_ANSWER}, {@link #TAG_PAYLOAD}): the sender's size (one
 * {@code long}), the receiver's size back, and, only when they agree, the payload as MPI_BYTE in
 * pieces of {@link #P2P_PIECE_BYTES} (a function of the size alone, so both sides cut alike
 * whatever their memory). A size mismatch thus fails on both sides, naming both ranks and sizes,
 * without MPI ever truncating; and the sender returns only after the receiver has answered, so a
 * send nobody receives is caught by the watchdog like a stuck collective. The status of
 * {@code MPI_Recv} is written into a private 64-byte slot (larger than either family's
 * {@code MPI_Status}) and not read.
 *
 * <p><b>Same calls on every rank.</b> The new collectives (all-to-all, gather, scatter, reduce)
 * choose between one MPI call and a chunked sequence from quantities every rank shares (sizes,
 * element type, chunk setting), never from whether this rank's segment is native or heap: a
 * heap segment is staged but makes the same MPI calls, so ranks with different memory can never
 * issue different call sequences. allToAllV's counts travel first in an MPI_Allgather (MPI
 * itself does not compare them) so that every rank checks every pair and a disagreement fails
 * every rank alike; its byte counts and displacements are C ints, so a call whose bytes exceed
 * 2^31-1 runs in rounds of per-pair pieces instead.
 *
 * <p><b>Types and ops.</b> FP32, FP64, INT32 and INT64 SUM/PROD, and integer MIN/MAX, use MPI's
 * built-in datatypes and ops. Integer SUM/PROD wrap: signed overflow is undefined in C, but Open
 * MPI and MPICH compile it to wrapping machine arithmetic, and the scenario checks full-range
 * values on every run. Floating-point MIN/MAX use a user op that runs the
 * {@link Reducer} ({@link MpiUserOp} explains why). BF16 and FP16 are widened to fp32, reduced by
 * MPI as MPI_FLOAT and rounded once ({@link HalfFloats#widen}, {@link HalfFloats#narrow}): with
 * a 16-bit MPI type every application of the op would round to 16 bits, so the result would
 * depend on MPI's reduction tree and accumulate rounding error with the rank count. Widened, MPI
 * accumulates in fp32 and the result is rounded exactly once, as {@link Reducer} specifies; the
 * price is twice the bytes on the wire.
 *
 * <p><b>Bit-identity across ranks.</b> MPI chooses the reduction order, so a floating-point sum
 * may differ in the last bit from the {@link Reducer}'s rank order. We rely on the MPI
 * implementation returning the same bits on every rank of an allreduce, which the MPI standard
 * recommends ("advice to implementors") and both Open MPI and MPICH deliver: their algorithms
 * either reduce each element once and distribute it (ring, reduce-scatter + allgather,
 * reduce + bcast) or combine the same two partials on both partners (recursive doubling, where
 * IEEE addition and multiplication are commutative). The MPI scenario checks this on every run.
 *
 * <p><b>Memory.</b> Native segments go to MPI directly, in one call (up to 2^31-1 elements). Heap segments (and 16-bit
 * floats, which need widening anyway) pass through a pooled {@link StagingBuffer}, one
 * {@link Settings#chunkBytes()} piece per rank block at a time (capped at
 * {@link StagingBuffer#MAX_BYTES}): copy in, MPI call, copy out, so the pool stays small and the
 * copies stay in cache.
 *
 * <p><b>Deadlines.</b> MPI's blocking collectives cannot be cancelled, so a call that overruns
 * {@link Settings#timeoutNanos()} cannot return a TIMEOUT failure: the {@link MpiWatchdog}
 * reports it on stderr and aborts the MPI job instead of letting it hang. A rank that dies is
 * detected by the MPI runtime, which (Open MPI's mpirun, MPICH's hydra) aborts the whole job.
 *
 * <p><b>Waiting.</b> {@link Settings#idle()} is not used: ranks wait inside MPI's own progress
 * engine, which busy-polls by default. On oversubscribed nodes use the MPI's knobs (Open MPI:
 * {@code --mca mpi_yield_when_idle 1}; MPICH/UCX: {@code UCX_*} progress settings).
 *
 * <p><b>Failures.</b> Every non-zero MPI return code becomes a {@link CommFailure} carrying
 * MPI_Error_string's text and naming the rank, group and operation. After any failure the
 * communicator is aborted (MPI leaves its state undefined after an error): later calls throw at
 * once, {@link #close()} still releases everything.
 *
 * <p>Not thread-safe: one thread at a time per instance, as {@link Collective} specifies.
 */
public final class MpiCollective extends BackendCollective {

    /** Tag of a send's size header. */
    static final int TAG_HEADER = 0x5031;
    /** Tag of a receiver's answer: its own size. */
    static final int TAG_ANSWER = 0x5032;
    /** Tag of a payload piece. */
    static final int TAG_PAYLOAD = 0x5033;
    /** Bytes per payload message (the last may be shorter). */
    static final long P2P_PIECE_BYTES = 4L << 20;

    /** MPI counts are C ints. */
    private static final long MAX_CALL_COUNT = Integer.MAX_VALUE;
    /** Largest broadcast per MPI_Bcast; a power of two below MAX_CALL_COUNT. */
    private static final long MAX_BCAST_BYTES = 1L << 30;

    private final MpiLibrary lib;
    private final MpiAbi abi;
    private final Settings settings;
    private final Reducer reducer;
    private final String name;
    private final long comm;
    private final int rank;
    private final int size;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment intSlot;
    private final MemorySegment handleSlot;
    private final MemorySegment inPlace;
    /** MPI_Recv's status (never read; 64 bytes cover Open MPI's 24 and MPICH's 20). */
    private final MemorySegment statusSlot;
    /** The size header sent, and the answer received (one long each). */
    private final MemorySegment p2pOut;
    private final MemorySegment p2pIn;
    private final StagingBuffer staging = new StagingBuffer();
    /**
     * The root's own contribution to MPI_Reduce, copied out of its buffer: MPICH 4.0 reads
     * MPI_IN_PLACE ((void *) -1) as a source address in MPI_Reduce on the root and crashes, so
     * the root passes a real send buffer, like every other rank.
     */
    private final StagingBuffer reduceSend = new StagingBuffer();
    private final MpiCallClock clock;
    /** Bytes per rank block staged per MPI call. */
    private final long chunkBytes;
    private final MpiUserOp[] userOps = new MpiUserOp[ElementType.values().length * Combiner.values().length];
    private int splits;
    /**
     * The v-collectives' int counts and displacements (bytes), four quarters of N ints: send
     * counts, send displs, recv counts, recv displs (gatherv/scatterv use the first two).
     */
    private final MemorySegment vectorInts;
    /** The second, third and fourth quarter of {@link #vectorInts}, sliced once: the calls allocate nothing. */
    private final MemorySegment sendDisplInts;
    private final MemorySegment recvCountInts;
    private final MemorySegment recvDisplInts;
    /** allToAllV's count exchange: this rank's 2N counts, then every rank's; allocated on first use. */
    private MemorySegment countMatrix;
    /** The two parts of {@link #countMatrix}, sliced once with it. */
    private MemorySegment myCounts;
    private MemorySegment allCounts;

    /**
     * Opens the world group: initialises MPI if needed and duplicates MPI_COMM_WORLD, so that
     * ds-comm's traffic and error handler never touch the host program's world communicator.
     *
     * @param lib      the MPI library (see {@link MpiLibrary#load})
     * @param settings resolved settings of the job
     * @param reducer  kernels that run inside MPI user ops (floating-point MIN/MAX)
     * @return the world communicator, group name "w"
     */
    public static MpiCollective world(MpiLibrary lib, Settings settings, Reducer reducer) {
        return world(lib, settings, reducer, MpiLibrary.Threads.MULTIPLE);
    }

    /**
     * Opens the world group (see {@link #world(MpiLibrary, Settings, Reducer)}), initialising MPI
     * at {@code threads} if it is not yet initialised.
     *
     * @param threads the thread level to ask MPI for; ignored when MPI is already initialised
     */
    public static MpiCollective world(MpiLibrary lib, Settings settings, Reducer reducer, MpiLibrary.Threads threads) {
        Objects.requireNonNull(lib, "lib");
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(reducer, "reducer");
        lib.acquire(Objects.requireNonNull(threads, "threads"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ValueLayout.ADDRESS);
            int rc;
            // Duplicating the world is collective: a rank that never opens would hang the others.
            MpiCallClock setup = new MpiCallClock("w", lib.worldRank(), settings.timeoutNanos(), new WaitMeter());
            lib.watchdog.watch(setup);
            try {
                lib.enter("w");
                try {
                    setup.start("open(mpi): MPI_Comm_dup", null, null, -1);
                    rc = (int) lib.commDup.invokeExact(lib.abi().commWorld(), slot);
                } finally {
                    setup.stop();
                    lib.exit();
                }
            } finally {
                lib.watchdog.unwatch(setup);
            }
            if (rc != MpiLibrary.MPI_SUCCESS) throw lib.failure(rc, "MPI_Comm_dup", lib.worldRank(), "w", "open(mpi)");
            return adopt(lib, settings, reducer, "w", lib.abi().readHandle(slot));
        } catch (Throwable t) {
            lib.release();
            throw rethrow(t, "w", "open(mpi)");
        }
    }

    /**
     * Takes ownership of {@code comm} (an acquired library reference): sets its error handler,
     * learns this rank's place in it, and frees it on failure.
     */
    private static MpiCollective adopt(MpiLibrary lib, Settings settings, Reducer reducer, String name, long comm) {
        int r;
        int s;
        lib.enter(name);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ValueLayout.JAVA_INT);
            checkOpen(lib, name, (int) lib.commSetErrhandler.invokeExact(comm, lib.abi().errorsReturn()),
                    "MPI_Comm_set_errhandler");
            checkOpen(lib, name, (int) lib.commRank.invokeExact(comm, slot), "MPI_Comm_rank");
            r = slot.get(ValueLayout.JAVA_INT, 0);
            checkOpen(lib, name, (int) lib.commSize.invokeExact(comm, slot), "MPI_Comm_size");
            s = slot.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            freeComm(lib, name, comm);
            throw rethrow(t, name, "open(mpi)");
        } finally {
            lib.exit();
        }
        try {
            return new MpiCollective(lib, settings, reducer, name, comm, r, s);
        } catch (RuntimeException e) {
            freeComm(lib, name, comm);
            throw e;
        }
    }

    private MpiCollective(MpiLibrary lib, Settings settings, Reducer reducer, String name, long comm, int rank, int size) {
        super("mpi", name, rank, size);
        this.lib = lib;
        this.abi = lib.abi();
        this.settings = settings;
        this.reducer = reducer;
        this.name = name;
        this.comm = comm;
        this.rank = rank;
        this.size = size;
        this.chunkBytes = Math.min(settings.chunkBytes(), StagingBuffer.MAX_BYTES);
        this.intSlot = arena.allocate(ValueLayout.JAVA_INT);
        this.handleSlot = arena.allocate(ValueLayout.ADDRESS);
        this.inPlace = MemorySegment.ofAddress(abi.inPlace());
        this.statusSlot = arena.allocate(64, 8);
        this.p2pOut = arena.allocate(ValueLayout.JAVA_LONG);
        this.p2pIn = arena.allocate(ValueLayout.JAVA_LONG);
        this.vectorInts = arena.allocate(ValueLayout.JAVA_INT, 4L * size);
        this.sendDisplInts = vectorInts.asSlice(4L * size);
        this.recvCountInts = vectorInts.asSlice(8L * size);
        this.recvDisplInts = vectorInts.asSlice(12L * size);
        // Peer waits are the whole time inside the MPI library: it does not say how much of a call was waiting.
        this.clock = new MpiCallClock(name, rank, settings.timeoutNanos(), waits);
        lib.watchdog.watch(clock);
    }

    /**
     * Splits this group ({@code MPI_Comm_split}); collective over every rank of this group.
     *
     * @param color ranks with the same color form one new group; must be {@code >= 0}
     * @param key   orders the ranks of a new group (ties broken by rank in this group)
     * @return this rank's new group, named {@code <this name>.s<n>c<color>}
     */
    public MpiCollective split(int color, int key) {
        if (color < 0) throw new IllegalArgumentException("color must be >= 0: " + color);
        String operation = "split(" + color + "," + key + ")";
        checkUsable(operation);
        int rc;
        enterCall("split", null, null, color);
        try {
            rc = (int) lib.commSplit.invokeExact(comm, color, key, handleSlot);
        } catch (Throwable t) {
            throw rethrow(t, name, operation);
        } finally {
            exitCall();
        }
        check(rc, "MPI_Comm_split", operation);
        long child = abi.readHandle(handleSlot);
        splits++;
        lib.acquire();
        try {
            return adopt(lib, settings, reducer, name + ".s" + splits + "c" + color, child);
        } catch (RuntimeException e) {
            lib.release();
            throw e;
        }
    }

    /**
     * One more owner of this communicator ({@link #retain()}, typed): a group's MPI communicator
     * serves both as its backend and as the parent of its splits, and each owner closes its own
     * hold; MPI_Comm_free runs when the last one does.
     */
    public MpiCollective hold() {
        retain();
        return this;
    }

    /** This process's rank in MPI_COMM_WORLD, to cross-check with the launcher's environment. */
    public int worldRank() {
        return lib.worldRank();
    }

    /** Size of MPI_COMM_WORLD, to cross-check with the launcher's environment. */
    public int worldSize() {
        return lib.worldSize();
    }

    /** The group's name: "w" for the world, "w.s1c0" for the first split's color 0, … */
    public String name() {
        return name;
    }

    /**
     * Whether MPI runs one call at a time in this process (initialised below
     * MPI_THREAD_MULTIPLE): ds-comm then holds a process-wide lock around every call, and a
     * blocking collective holds it until its peers join.
     */
    public boolean callsSerialised() {
        return lib.callsSerialised();
    }

    /** E.g. "mpi: Open MPI v4.1.4 (libmpi.so.40)". */
    public String describe() {
        return lib.describe();
    }

    @Override
    public void allReduce(MemorySegment buf, ElementType type, Combiner op) {
        long count = buf.byteSize() / type.byteSize();
        checkUsable("allReduce");
        if (count == 0) return;
        // The common case, one MPI call on the caller's native memory, stays a small method so
        // that the JIT inlines it into the caller's compilation: at 328 bytecodes with the rare
        // cases below inline, it was over C2's FreqInlineSize (325) and waited for a compilation
        // of its own, so a 4 KiB all-reduce ran C1 code for thousands of calls (docs/performance.md).
        if (buf.isNative() && count <= MAX_CALL_COUNT && type != ElementType.BF16 && type != ElementType.FP16) {
            MpiUserOp user = userOp(type, op);
            allreduceInPlace(buf, count, abi.datatype(type), user != null ? user.handle() : abi.op(op), user, type, op);
            return;
        }
        allReduceRare(buf, type, op, count);
    }

    /** 16-bit floats (widened), heap segments (staged), and native segments of more than 2^31-1 elements. */
    private void allReduceRare(MemorySegment buf, ElementType type, Combiner op, long count) {
        if (type == ElementType.BF16 || type == ElementType.FP16) {
            allReduceWidened(buf, type, op, count);
            return;
        }
        int es = type.byteSize();
        long datatype = abi.datatype(type);
        MpiUserOp user = userOp(type, op);
        long mpiOp = user != null ? user.handle() : abi.op(op);
        if (buf.isNative()) { // more than MAX_CALL_COUNT elements: the single call is allReduce's
            for (long done = 0; done < count; done += MAX_CALL_COUNT) {
                long n = Math.min(MAX_CALL_COUNT, count - done);
                allreduceInPlace(buf.asSlice(done * es, n * es), n, datatype, mpiOp, user, type, op);
            }
            return;
        }
        long step = Math.max(1, chunkBytes / es);
        MemorySegment stage = staging.ensure(Math.min(count, step) * es);
        for (long done = 0; done < count; done += step) {
            long n = Math.min(step, count - done);
            MemorySegment.copy(buf, done * es, stage, 0, n * es);
            allreduceInPlace(stage, n, datatype, mpiOp, user, type, op);
            MemorySegment.copy(stage, 0, buf, done * es, n * es);
        }
    }

    private void allReduceWidened(MemorySegment buf, ElementType type, Combiner op, long count) {
        long datatype = abi.datatype(ElementType.FP32);
        MpiUserOp user = userOp(ElementType.FP32, op);
        long mpiOp = user != null ? user.handle() : abi.op(op);
        long step = Math.max(1, chunkBytes / Float.BYTES);
        MemorySegment stage = staging.ensure(Math.min(count, step) * Float.BYTES);
        for (long done = 0; done < count; done += step) {
            long n = Math.min(step, count - done);
            HalfFloats.widen(type, buf, done * 2, stage, 0, n);
            allreduceInPlace(stage, n, datatype, mpiOp, user, type, op);
            HalfFloats.narrow(type, stage, 0, buf, done * 2, n);
        }
    }

    private void allreduceInPlace(MemorySegment buf, long n, long datatype, long mpiOp, MpiUserOp user,
                                  ElementType type, Combiner op) {
        int rc;
        enterCall("allReduce", type, op, n);
        try {
            rc = (int) lib.allreduce.invokeExact(inPlace, buf, (int) n, datatype, mpiOp, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation("allReduce", type, op, n));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Allreduce", operation("allReduce", type, op, n));
        if (user != null) checkKernel(user, "allReduce", type, op, n);
    }

    @Override
    public void allGather(MemorySegment in, MemorySegment out, ElementType type) {
        long bytes = in.byteSize();
        checkUsable("allGather");
        if (bytes == 0) return;
        if (in.isNative() && out.isNative() && bytes <= MAX_CALL_COUNT) {
            allgatherBytes(in, out, bytes, type);
            return;
        }
        // Chunk c of every rank's block lands at stage[step + r*n]; copy each to out[r*bytes + off].
        int es = type.byteSize();
        long step = Math.max(es, Math.min(bytes, chunkBytes) / es * es);
        MemorySegment stage = staging.ensure(step * (size + 1));
        MemorySegment gathered = stage.asSlice(step);
        for (long off = 0; off < bytes; off += step) {
            long n = Math.min(step, bytes - off);
            MemorySegment.copy(in, off, stage, 0, n);
            allgatherBytes(stage, gathered, n, type);
            for (int r = 0; r < size; r++) {
                MemorySegment.copy(gathered, r * n, out, r * bytes + off, n);
            }
        }
    }

    private void allgatherBytes(MemorySegment in, MemorySegment out, long n, ElementType type) {
        int rc;
        long byteType = abi.byteType();
        enterCall("allGather", type, null, n / type.byteSize());
        try {
            rc = (int) lib.allgather.invokeExact(in, (int) n, byteType, out, (int) n, byteType, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation("allGather", type, null, n / type.byteSize()));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Allgather", operation("allGather", type, null, n / type.byteSize()));
    }

    @Override
    public void reduceScatter(MemorySegment in, MemorySegment out, ElementType type, Combiner op) {
        int es = type.byteSize();
        long block = out.byteSize();
        long count = block / es;
        checkUsable("reduceScatter");
        if (count == 0) return;
        boolean half = type == ElementType.BF16 || type == ElementType.FP16;
        ElementType wire = half ? ElementType.FP32 : type;
        long datatype = abi.datatype(wire);
        MpiUserOp user = userOp(wire, op);
        long mpiOp = user != null ? user.handle() : abi.op(op);
        if (!half && in.isNative() && out.isNative() && count <= MAX_CALL_COUNT) {
            reduceScatterBlock(in, out, count, datatype, mpiOp, user, type, op);
            return;
        }
        // Chunk c of every block r is packed at stage[r*n*ws]; the result lands after all blocks.
        int ws = wire.byteSize();
        long step = Math.max(1, Math.min(count, chunkBytes / ws));
        MemorySegment stage = staging.ensure(step * (size + 1) * ws);
        for (long done = 0; done < count; done += step) {
            long n = Math.min(step, count - done);
            for (int r = 0; r < size; r++) {
                if (half) {
                    HalfFloats.widen(type, in, r * block + done * es, stage, r * n * ws, n);
                } else {
                    MemorySegment.copy(in, r * block + done * es, stage, r * n * ws, n * es);
                }
            }
            long result = size * n * ws;
            reduceScatterBlock(stage, stage.asSlice(result, n * ws), n, datatype, mpiOp, user, type, op);
            if (half) {
                HalfFloats.narrow(type, stage, result, out, done * es, n);
            } else {
                MemorySegment.copy(stage, result, out, done * es, n * es);
            }
        }
    }

    private void reduceScatterBlock(MemorySegment in, MemorySegment out, long n, long datatype, long mpiOp,
                                    MpiUserOp user, ElementType type, Combiner op) {
        int rc;
        enterCall("reduceScatter", type, op, n);
        try {
            rc = (int) lib.reduceScatterBlock.invokeExact(in, out, (int) n, datatype, mpiOp, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation("reduceScatter", type, op, n));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Reduce_scatter_block", operation("reduceScatter", type, op, n));
        if (user != null) checkKernel(user, "reduceScatter", type, op, n);
    }

    @Override
    public void broadcast(MemorySegment buf, int root) {
        long bytes = buf.byteSize();
        checkUsable("broadcast");
        if (bytes == 0) return;
        if (buf.isNative()) {
            if (bytes <= MAX_BCAST_BYTES) {
                bcastBytes(buf, bytes, root);
                return;
            }
            for (long off = 0; off < bytes; off += MAX_BCAST_BYTES) {
                long n = Math.min(MAX_BCAST_BYTES, bytes - off);
                bcastBytes(buf.asSlice(off, n), n, root);
            }
            return;
        }
        long step = Math.min(bytes, chunkBytes);
        MemorySegment stage = staging.ensure(step);
        for (long off = 0; off < bytes; off += step) {
            long n = Math.min(step, bytes - off);
            if (rank == root) MemorySegment.copy(buf, off, stage, 0, n);
            bcastBytes(stage, n, root);
            if (rank != root) MemorySegment.copy(stage, 0, buf, off, n);
        }
    }

    private void bcastBytes(MemorySegment buf, long n, int root) {
        int rc;
        long byteType = abi.byteType();
        enterCall("broadcast", null, null, n);
        try {
            rc = (int) lib.bcast.invokeExact(buf, (int) n, byteType, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, rooted("broadcast", n, root));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Bcast", rooted("broadcast", n, root));
    }

    /** See the class comment: header, answer, payload. */
    @Override
    public void send(MemorySegment buf, int peer) {
        checkPeer(peer);
        long bytes = buf.byteSize();
        String op = ds.comm.spi.PointToPoint.describe(true, bytes, rank, peer);
        checkUsable(op);
        p2pOut.set(ValueLayout.JAVA_LONG, 0, bytes);
        p2pSend(p2pOut, 8, peer, TAG_HEADER, op);
        p2pRecv(p2pIn, 8, peer, TAG_ANSWER, op);
        long theirs = p2pIn.get(ValueLayout.JAVA_LONG, 0);
        if (theirs != bytes) {
            throw abort(new CommFailure(CommFailure.Kind.MISMATCH, peer, name, op, "group rank " + rank + " sent " + bytes
                    + " bytes but group rank " + peer + " posted a recv of " + theirs + " bytes", null));
        }
        for (long off = 0; off < bytes; off += P2P_PIECE_BYTES) {
            long n = Math.min(P2P_PIECE_BYTES, bytes - off);
            if (buf.isNative()) {
                p2pSend(buf.asSlice(off, n), n, peer, TAG_PAYLOAD, op);
            } else {
                MemorySegment stage = staging.ensure(n);
                MemorySegment.copy(buf, off, stage, 0, n);
                p2pSend(stage, n, peer, TAG_PAYLOAD, op);
            }
        }
    }

    /** See the class comment: header, answer, payload. */
    @Override
    public void recv(MemorySegment buf, int peer) {
        checkPeer(peer);
        long bytes = buf.byteSize();
        String op = ds.comm.spi.PointToPoint.describe(false, bytes, peer, rank);
        checkUsable(op);
        p2pRecv(p2pIn, 8, peer, TAG_HEADER, op);
        long theirs = p2pIn.get(ValueLayout.JAVA_LONG, 0);
        p2pOut.set(ValueLayout.JAVA_LONG, 0, bytes);
        p2pSend(p2pOut, 8, peer, TAG_ANSWER, op);
        if (theirs != bytes) {
            throw abort(new CommFailure(CommFailure.Kind.MISMATCH, peer, name, op, "group rank " + peer + " sent " + theirs
                    + " bytes but group rank " + rank + " posted a recv of " + bytes + " bytes", null));
        }
        for (long off = 0; off < bytes; off += P2P_PIECE_BYTES) {
            long n = Math.min(P2P_PIECE_BYTES, bytes - off);
            if (buf.isNative()) {
                p2pRecv(buf.asSlice(off, n), n, peer, TAG_PAYLOAD, op);
            } else {
                MemorySegment stage = staging.ensure(n);
                p2pRecv(stage, n, peer, TAG_PAYLOAD, op);
                MemorySegment.copy(stage, 0, buf, off, n);
            }
        }
    }

    private void p2pSend(MemorySegment from, long n, int peer, int tag, String op) {
        int rc;
        enterCall(op, null, null, n);
        try {
            rc = (int) lib.send.invokeExact(from, (int) n, abi.byteType(), peer, tag, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, op);
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Send", op);
    }

    private void p2pRecv(MemorySegment into, long n, int peer, int tag, String op) {
        int rc;
        enterCall(op, null, null, n);
        try {
            rc = (int) lib.recv.invokeExact(into, (int) n, abi.byteType(), peer, tag, comm, statusSlot);
        } catch (Throwable t) {
            throw rethrow(t, name, op);
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Recv", op);
    }

    @Override
    public void barrier() {
        checkUsable("barrier");
        int rc;
        enterCall("barrier", null, null, -1);
        try {
            rc = (int) lib.barrier.invokeExact(comm);
        } catch (Throwable t) {
            throw rethrow(t, name, "barrier");
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Barrier", "barrier");
    }

    // ---- all-to-all, gather, scatter, reduce (issue 18)

    /** Bytes per rank block that one all-to-all, gather or scatter call moves at most; the same on every rank. */
    private long blockStep() {
        return Math.max(64, Math.min(chunkBytes, MAX_CALL_COUNT) / size & -8L);
    }

    @Override
    public void allToAll(MemorySegment in, MemorySegment out, ElementType type) {
        long block = in.byteSize() / size;
        checkUsable("allToAll");
        if (block == 0) return;
        long step = blockStep();
        if (block <= step) {
            // One call on every rank (the decision depends on sizes only); native segments go
            // to MPI directly, heap ones through the staging buffer.
            if (in.isNative() && out.isNative()) {
                alltoallBytes(in, out, block, type);
            } else {
                MemorySegment stage = staging.ensure(2 * block * size);
                MemorySegment send = stage.asSlice(0, block * size);
                MemorySegment recv = stage.asSlice(block * size, block * size);
                MemorySegment.copy(in, 0, send, 0, block * size);
                alltoallBytes(send, recv, block, type);
                MemorySegment.copy(recv, 0, out, 0, block * size);
            }
            return;
        }
        // Blocks larger than a step: every rank makes one MPI_Alltoallv per step (the same calls
        // on every rank, since they depend on sizes only), each moving piece [off, off + n) of
        // every block. Native buffers whose offsets fit MPI's int displacements are read and
        // written in place (the displacements pick the pieces out of the blocks); others go
        // through the staging buffer, pieces side by side. A staged MPI_Alltoall per step cost
        // two extra copies of the whole message: 3x C's MPI_Alltoall with 1 MiB blocks.
        boolean inPlace = in.isNative() && out.isNative() && in.byteSize() <= MAX_CALL_COUNT;
        MemorySegment send = in;
        MemorySegment recv = out;
        if (!inPlace) {
            MemorySegment stage = staging.ensure(2 * step * size);
            send = stage.asSlice(0, step * size);
            recv = stage.asSlice(step * size, step * size);
        }
        for (long off = 0; off < block; off += step) {
            long n = Math.min(step, block - off);
            if (inPlace) {
                fillStridedVector(n, block, off);
            } else {
                for (int j = 0; j < size; j++) MemorySegment.copy(in, j * block + off, send, j * n, n);
                fillStridedVector(n, n, 0);
            }
            alltoallvBytes(send, recv, "allToAll", type);
            if (!inPlace) {
                for (int i = 0; i < size; i++) MemorySegment.copy(recv, i * n, out, i * block + off, n);
            }
        }
    }

    /** Counts {@code n} to and from every rank, displacements {@code j * stride + off}, both directions. */
    private void fillStridedVector(long n, long stride, long off) {
        for (int j = 0; j < size; j++) {
            for (int quarter = 0; quarter < 4; quarter += 2) {
                vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) quarter * size + j, (int) n);
                vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) (quarter + 1) * size + j, (int) (j * stride + off));
            }
        }
    }

    private void alltoallBytes(MemorySegment in, MemorySegment out, long n, ElementType type) {
        int rc;
        long byteType = abi.byteType();
        enterCall("allToAll", type, null, n / type.byteSize());
        try {
            rc = (int) lib.alltoall.invokeExact(in, (int) n, byteType, out, (int) n, byteType, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation("allToAll", type, null, n / type.byteSize()));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Alltoall", operation("allToAll", type, null, n / type.byteSize()));
    }

    @Override
    public void allToAllV(MemorySegment in, long[] sendCounts, MemorySegment out, long[] recvCounts, ElementType type) {
        checkUsable("allToAllV");
        int es = type.byteSize();
        long rowBytes = 16L * size;
        if (countMatrix == null) {
            countMatrix = arena.allocate(rowBytes * (size + 1), 8);
            myCounts = countMatrix.asSlice(0, rowBytes);
            allCounts = countMatrix.asSlice(rowBytes);
        }
        MemorySegment mine = myCounts;
        MemorySegment all = allCounts;
        for (int j = 0; j < size; j++) {
            mine.setAtIndex(ValueLayout.JAVA_LONG, j, sendCounts[j]);
            mine.setAtIndex(ValueLayout.JAVA_LONG, size + j, recvCounts[j]);
        }
        allgatherBytes(mine, all, rowBytes, ElementType.INT64);
        long maxPair;
        try {
            maxPair = Compositions.checkCountMatrix(all, 0, rowBytes, size, rank, r -> r, name, "allToAllV", type);
        } catch (CommFailure f) {
            throw abort(f);
        }
        long sendTotal = 0;
        long recvTotal = 0;
        for (int j = 0; j < size; j++) {
            sendTotal += sendCounts[j] * es;
            recvTotal += recvCounts[j] * es;
        }
        // Whether one MPI_Alltoallv can carry it must be the same answer on every rank: the
        // largest pair is shared, the totals are not, so test the worst case of any rank.
        boolean oneCall = maxPair * es * size <= MAX_CALL_COUNT;
        if (oneCall && in.isNative() && out.isNative()) {
            fillVector(sendCounts, es, 0);
            fillVector(recvCounts, es, 2);
            alltoallvBytes(in, out, type);
            return;
        }
        if (oneCall) {
            MemorySegment stage = staging.ensure(Math.max(1, sendTotal + recvTotal));
            MemorySegment send = stage.asSlice(0, sendTotal);
            MemorySegment recv = stage.asSlice(sendTotal, recvTotal);
            MemorySegment.copy(in, 0, send, 0, sendTotal);
            fillVector(sendCounts, es, 0);
            fillVector(recvCounts, es, 2);
            alltoallvBytes(send, recv, type);
            MemorySegment.copy(recv, 0, out, 0, recvTotal);
            return;
        }
        // Rounds of at most one piece per pair: int counts whatever the sizes.
        long piece = blockStep();
        long rounds = (maxPair * es + piece - 1) / piece;
        MemorySegment stage = staging.ensure(2 * piece * size);
        MemorySegment send = stage.asSlice(0, piece * size);
        MemorySegment recv = stage.asSlice(piece * size, piece * size);
        for (long k = 0; k < rounds; k++) {
            long off = k * piece;
            Compositions.packPieces(in, sendCounts, es, off, piece, send, -1);
            fillPieceVector(sendCounts, es, off, piece, 0);
            fillPieceVector(recvCounts, es, off, piece, 2);
            alltoallvBytes(send, recv, type);
            Compositions.unpackPieces(recv, 0, piece, recvCounts, es, off, piece, out, -1);
        }
    }

    /** Piece lengths of a round and slot displacements ({@code j * piece}) into quarter {@code quarter} and the next. */
    private void fillPieceVector(long[] counts, int es, long off, long piece, int quarter) {
        for (int j = 0; j < size; j++) {
            vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) quarter * size + j, (int) Compositions.pieceLength(counts[j], es, off, piece));
            vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) (quarter + 1) * size + j, (int) (j * piece));
        }
    }

    /** Byte counts and prefix-sum displacements into quarter {@code quarter} and the next of {@link #vectorInts}. */
    private void fillVector(long[] counts, int es, int quarter) {
        long at = 0;
        for (int j = 0; j < size; j++) {
            long bytes = counts[j] * es;
            vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) quarter * size + j, (int) bytes);
            vectorInts.setAtIndex(ValueLayout.JAVA_INT, (long) (quarter + 1) * size + j, (int) at);
            at += bytes;
        }
    }

    private void alltoallvBytes(MemorySegment in, MemorySegment out, ElementType type) {
        alltoallvBytes(in, out, "allToAllV", type);
    }

    /** MPI_Alltoallv of bytes with the counts and displacements in {@link #vectorInts}, for {@code operation}. */
    private void alltoallvBytes(MemorySegment in, MemorySegment out, String operation, ElementType type) {
        int rc;
        long byteType = abi.byteType();
        enterCall(operation, type, null, -1);
        try {
            rc = (int) lib.alltoallv.invokeExact(in, vectorInts, sendDisplInts, byteType, out, recvCountInts, recvDisplInts, byteType,
                    comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation + "(" + lower(type) + ")");
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Alltoallv", operation + "(" + lower(type) + ")");
    }

    @Override
    public void gather(MemorySegment in, MemorySegment out, int root) {
        long bytes = in.byteSize();
        checkUsable("gather");
        if (bytes == 0) return;
        boolean isRoot = rank == root;
        long step = blockStep();
        if (bytes <= step) {
            boolean direct = in.isNative() && (!isRoot || out.isNative());
            if (direct) {
                gatherBytes(in, isRoot ? out : MemorySegment.NULL, bytes, root);
            } else {
                MemorySegment stage = staging.ensure(bytes * (size + 1));
                MemorySegment.copy(in, 0, stage, 0, bytes);
                gatherBytes(stage.asSlice(0, bytes), isRoot ? stage.asSlice(bytes) : MemorySegment.NULL, bytes, root);
                if (isRoot) MemorySegment.copy(stage, bytes, out, 0, bytes * size);
            }
            return;
        }
        // Larger than a step: one MPI_Gatherv per step on every rank (sizes decide, as above).
        // Native memory is used in place: a sender's piece is a slice of its input, and the root's
        // displacements put every rank's piece at its place in the output. Heap memory, or a
        // root output beyond MPI's int displacements, goes through the staging buffer.
        boolean sendInPlace = in.isNative();
        boolean recvInPlace = !isRoot || (out.isNative() && out.byteSize() <= MAX_CALL_COUNT);
        MemorySegment stage = sendInPlace && recvInPlace ? MemorySegment.NULL : staging.ensure(step * (size + 1));
        for (long off = 0; off < bytes; off += step) {
            long n = Math.min(step, bytes - off);
            MemorySegment piece;
            if (sendInPlace) {
                piece = in.asSlice(off, n);
            } else {
                MemorySegment.copy(in, off, stage, 0, n);
                piece = stage.asSlice(0, n);
            }
            if (isRoot) {
                if (recvInPlace) fillStridedVector(n, bytes, off);
                else fillStridedVector(n, n, 0);
            }
            gathervBytes(piece, !isRoot ? MemorySegment.NULL : recvInPlace ? out : stage.asSlice(step), n, root);
            if (isRoot && !recvInPlace) {
                for (int r = 0; r < size; r++) MemorySegment.copy(stage, step + r * n, out, r * bytes + off, n);
            }
        }
    }

    private void gatherBytes(MemorySegment in, MemorySegment out, long n, int root) {
        int rc;
        long byteType = abi.byteType();
        enterCall("gather", null, null, n);
        try {
            rc = (int) lib.gather.invokeExact(in, (int) n, byteType, out, (int) n, byteType, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, rooted("gather", n, root));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Gather", rooted("gather", n, root));
    }

    @Override
    public void scatter(MemorySegment in, MemorySegment out, int root) {
        long bytes = out.byteSize();
        checkUsable("scatter");
        if (bytes == 0) return;
        boolean isRoot = rank == root;
        long step = blockStep();
        if (bytes <= step) {
            boolean direct = out.isNative() && (!isRoot || in.isNative());
            if (direct) {
                scatterBytes(isRoot ? in : MemorySegment.NULL, out, bytes, root);
            } else {
                MemorySegment stage = staging.ensure(bytes * (size + 1));
                if (isRoot) MemorySegment.copy(in, 0, stage, bytes, bytes * size);
                scatterBytes(isRoot ? stage.asSlice(bytes) : MemorySegment.NULL, stage.asSlice(0, bytes), bytes, root);
                MemorySegment.copy(stage, 0, out, 0, bytes);
            }
            return;
        }
        // Larger than a step: one MPI_Scatterv per step on every rank, native memory in place
        // (the mirror of gather's).
        boolean recvInPlace = out.isNative();
        boolean sendInPlace = !isRoot || (in.isNative() && in.byteSize() <= MAX_CALL_COUNT);
        MemorySegment stage = sendInPlace && recvInPlace ? MemorySegment.NULL : staging.ensure(step * (size + 1));
        for (long off = 0; off < bytes; off += step) {
            long n = Math.min(step, bytes - off);
            if (isRoot) {
                if (sendInPlace) {
                    fillStridedVector(n, bytes, off);
                } else {
                    for (int r = 0; r < size; r++) MemorySegment.copy(in, r * bytes + off, stage, step + r * n, n);
                    fillStridedVector(n, n, 0);
                }
            }
            MemorySegment piece = recvInPlace ? out.asSlice(off, n) : stage.asSlice(0, n);
            scattervBytes(!isRoot ? MemorySegment.NULL : sendInPlace ? in : stage.asSlice(step), piece, n, root);
            if (!recvInPlace) MemorySegment.copy(stage, 0, out, off, n);
        }
    }

    /** MPI_Gatherv of {@code n} bytes from every rank, the root's counts and displacements in {@link #vectorInts}' first half. */
    private void gathervBytes(MemorySegment in, MemorySegment out, long n, int root) {
        int rc;
        long byteType = abi.byteType();
        enterCall("gather", null, null, n);
        try {
            rc = (int) lib.gatherv.invokeExact(in, (int) n, byteType, out, vectorInts, sendDisplInts, byteType, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, rooted("gather", n, root));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Gatherv", rooted("gather", n, root));
    }

    /** MPI_Scatterv of {@code n} bytes to every rank, the root's counts and displacements in {@link #vectorInts}' first half. */
    private void scattervBytes(MemorySegment in, MemorySegment out, long n, int root) {
        int rc;
        long byteType = abi.byteType();
        enterCall("scatter", null, null, n);
        try {
            rc = (int) lib.scatterv.invokeExact(in, vectorInts, sendDisplInts, byteType, out, (int) n, byteType, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, rooted("scatter", n, root));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Scatterv", rooted("scatter", n, root));
    }

    private void scatterBytes(MemorySegment in, MemorySegment out, long n, int root) {
        int rc;
        long byteType = abi.byteType();
        enterCall("scatter", null, null, n);
        try {
            rc = (int) lib.scatter.invokeExact(in, (int) n, byteType, out, (int) n, byteType, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, rooted("scatter", n, root));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Scatter", rooted("scatter", n, root));
    }

    /**
     * MPI_Reduce, in place on the root. BF16/FP16 widen to fp32 like allReduce (rounded once on
     * the root). Pieces are the same on every rank: elements of {@code chunkBytes} for staged
     * (heap or 16-bit) buffers, whole native buffers up to 2^31-1 elements.
     */
    @Override
    public void reduce(MemorySegment buf, ElementType type, Combiner op, int root) {
        long count = buf.byteSize() / type.byteSize();
        checkUsable("reduce");
        if (count == 0) return;
        boolean isRoot = rank == root;
        boolean half = type == ElementType.BF16 || type == ElementType.FP16;
        ElementType wire = half ? ElementType.FP32 : type;
        long datatype = abi.datatype(wire);
        MpiUserOp user = userOp(wire, op);
        long mpiOp = user != null ? user.handle() : abi.op(op);
        int es = type.byteSize();
        int ws = wire.byteSize();
        // The piece size depends on the type and settings only: the same calls on every rank.
        long step = Math.max(1, chunkBytes / ws);
        for (long done = 0; done < count; done += step) {
            long n = Math.min(step, count - done);
            if (!half && buf.isNative()) {
                reduceInPlace(buf.asSlice(done * es, n * es), n, datatype, mpiOp, user, type, op, root);
                continue;
            }
            MemorySegment stage = staging.ensure(n * ws);
            if (half) {
                HalfFloats.widen(type, buf, done * es, stage, 0, n);
            } else {
                MemorySegment.copy(buf, done * es, stage, 0, n * es);
            }
            reduceInPlace(stage, n, datatype, mpiOp, user, type, op, root);
            if (!isRoot) continue;
            if (half) {
                HalfFloats.narrow(type, stage, 0, buf, done * es, n);
            } else {
                MemorySegment.copy(stage, 0, buf, done * es, n * es);
            }
        }
    }

    private void reduceInPlace(MemorySegment buf, long n, long datatype, long mpiOp, MpiUserOp user,
                               ElementType type, Combiner op, int root) {
        int rc;
        // Plain locals: a conditional expression passed to invokeExact would be typed Object.
        MemorySegment send = buf;
        MemorySegment recv = MemorySegment.NULL;
        if (rank == root) {
            send = reduceSend.ensure(buf.byteSize());
            MemorySegment.copy(buf, 0, send, 0, buf.byteSize());
            recv = buf;
        }
        enterCall("reduce", type, op, n);
        try {
            rc = (int) lib.reduce.invokeExact(send, recv, (int) n, datatype, mpiOp, root, comm);
        } catch (Throwable t) {
            throw rethrow(t, name, operation("reduce", type, op, n));
        } finally {
            exitCall();
        }
        if (rc != MpiLibrary.MPI_SUCCESS) check(rc, "MPI_Reduce", operation("reduce", type, op, n));
        if (user != null) checkKernel(user, "reduce", type, op, n);
    }

    /**
     * Frees the user ops and the communicator, then releases the library (which finalises MPI
     * after the last communicator if ds-comm initialised it). Never throws.
     */
    @Override
    protected void release() {
        try {
            lib.enter(name);
            try {
                for (MpiUserOp user : userOps) {
                    if (user != null) user.free(lib, handleSlot);
                }
                freeComm(lib, name, comm);
            } finally {
                lib.exit();
            }
        } catch (RuntimeException e) {
            System.getLogger(MpiCollective.class.getName()).log(System.Logger.Level.WARNING,
                    "closing MPI group " + name + " on rank " + rank, e);
        } finally {
            lib.watchdog.unwatch(clock);
            staging.close();
            reduceSend.close();
            arena.close();
            lib.release();
        }
    }

    private static void freeComm(MpiLibrary lib, String name, long comm) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ValueLayout.ADDRESS);
            lib.abi().writeHandle(slot, comm);
            int rc = (int) lib.commFree.invokeExact(slot);
            if (rc != MpiLibrary.MPI_SUCCESS) {
                System.getLogger(MpiCollective.class.getName()).log(System.Logger.Level.WARNING,
                        "MPI_Comm_free of group " + name + " returned " + rc + ": " + lib.errorText(rc));
            }
        } catch (Throwable t) {
            System.getLogger(MpiCollective.class.getName()).log(System.Logger.Level.WARNING,
                    "MPI_Comm_free of group " + name + " failed", t);
        }
    }

    @Override
    public String toString() {
        return super.toString() + " on " + lib.describe();
    }

    /** The user op for floating-point MIN/MAX (created on first use), else null for a built-in op. */
    private MpiUserOp userOp(ElementType type, Combiner op) {
        boolean floating = type == ElementType.FP32 || type == ElementType.FP64;
        if (!floating || (op != Combiner.MIN && op != Combiner.MAX)) return null;
        int slot = type.ordinal() * Combiner.values().length + op.ordinal();
        MpiUserOp user = userOps[slot];
        if (user == null) {
            user = new MpiUserOp(type, op, reducer, arena);
            int rc;
            lib.enter(name);
            try {
                rc = user.create(lib, handleSlot);
            } catch (Throwable t) {
                throw rethrow(t, name, "MPI_Op_create(" + user + ")");
            } finally {
                lib.exit();
            }
            check(rc, "MPI_Op_create", "allReduce(" + lower(type) + "," + lower(op) + ")");
            userOps[slot] = user;
        }
        return user;
    }

    private void checkKernel(MpiUserOp user, String collective, ElementType type, Combiner op, long n) {
        Throwable t = user.takeFailure();
        if (t != null) {
            throw abort(new CommFailure(CommFailure.Kind.SETUP, -1, name, operation(collective, type, op, n),
                    "rank " + rank + ": the reduction kernel failed inside MPI's user op: " + t, t));
        }
    }

    /**
     * Before a downcall: holds the library for this thread ({@link MpiLibrary#enter}) and starts the
     * watchdog's clock with the call's description. Pair with {@link #exitCall()} in a finally.
     */
    private void enterCall(String collective, ElementType type, Combiner op, long count) {
        lib.enter(name);
        clock.start(collective, type, op, count);
    }

    /** After the downcall, however it ended. */
    private void exitCall() {
        clock.stop();
        lib.exit();
    }

    /** During construction, before the group rank is known: the rank named is the world rank. */
    private static void checkOpen(MpiLibrary lib, String name, int rc, String function) {
        if (rc != MpiLibrary.MPI_SUCCESS) {
            throw lib.failure(rc, function, lib.worldRank(), name, "open(mpi)");
        }
    }

    private void check(int rc, String function, String operation) {
        if (rc != MpiLibrary.MPI_SUCCESS) throw abort(lib.failure(rc, function, rank, name, operation));
    }

    /** MPI leaves a communicator's state undefined after an error: no later call may use it. */
    private CommFailure abort(CommFailure f) {
        return recordFailure(f);
    }

    private static RuntimeException rethrow(Throwable t, String group, String operation) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new CommFailure(CommFailure.Kind.SETUP, -1, group, operation, "unexpected " + t, t);
    }

    /** E.g. "gather(4096 B,root 0)": built only when the call failed, like every operation text of a call. */
    private static String rooted(String collective, long bytes, int root) {
        return collective + "(" + bytes + " B,root " + root + ")";
    }

    private static String operation(String collective, ElementType type, Combiner op, long count) {
        return collective + "(" + lower(type) + (op == null ? "" : "," + lower(op)) + "," + count + ")";
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
