package ds.comm.mpi;

import ds.comm.spi.CommFailure;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The installed MPI library, opened through FFM: symbol lookup, downcall handles, and the
 * process-wide MPI lifecycle (init on first communicator, finalize after the last one closes).
 *
 * <p>Loading order: the explicit library (from {@code DSCOMM_MPI_LIB}, passed in by the caller;
 * this class never reads the environment) when given, and then only that one; otherwise the
 * libraries of the launcher's {@link MpiImplementation} (MPICH's under Hydra's mpiexec, Open MPI's
 * under mpirun), and when the launcher is not an MPI's, Open MPI's soname {@code libmpi.so.40},
 * then the MPICH ABI's {@code libmpich.so.12} and {@code libmpi.so.12}. The family is detected
 * from the symbols the library exports, not from its name.
 *
 * <p>One MPI per process: the first successful {@link #load} is kept for the life of the process
 * and returned by later calls. The library is never unloaded, because MPI cannot be initialised
 * again after {@code MPI_Finalize} anyway and unloading a library whose progress threads may still
 * exist would crash the JVM.
 *
 * <p>Threads: MPI is initialised with {@code MPI_THREAD_MULTIPLE}, or on request
 * ({@link Threads#SINGLE}) with {@code MPI_THREAD_SINGLE}. Below {@code MPI_THREAD_MULTIPLE}
 * every MPI call made by ds-comm holds one process-wide lock, so MPI sees one call at a time. At
 * the single level ds-comm asked for itself, calls may come from any thread under that lock (Open
 * MPI takes its own locks at every level above single, the reason to ask for it); when a host
 * program initialised MPI first with less than {@code MPI_THREAD_SERIALIZED}, calls must come
 * from the thread that initialised MPI and others are refused with a clear error.
 * {@link #describe} names the level once MPI is initialised.
 */
public final class MpiLibrary {

    /** Tried in order when no explicit library is given. */
    static final List<String> DEFAULT_CANDIDATES = List.of("libmpi.so.40", "libmpich.so.12", "libmpi.so.12");

    /** Name of the environment variable the caller reads to choose the library (for messages). */
    public static final String LIBRARY_VARIABLE = "DSCOMM_MPI_LIB";

    static final int MPI_SUCCESS = 0;

    /** The thread level ds-comm asks for when it initialises MPI itself (the host's level wins otherwise). */
    public enum Threads {
        /**
         * {@code MPI_THREAD_SINGLE}: Open MPI without its internal locks. ds-comm serialises its own
         * calls with the process-wide lock and allows them from any thread.
         */
        SINGLE,
        /** {@code MPI_THREAD_MULTIPLE}: calls from several threads run concurrently. */
        MULTIPLE
    }

    private static MpiLibrary loaded; // guarded by MpiLibrary.class

    private final String name;
    private final MpiAbi abi;
    private final String version;

    final MethodHandle initialized;
    final MethodHandle finalized;
    final MethodHandle initThread;
    final MethodHandle queryThread;
    final MethodHandle finalizeMpi;
    final MethodHandle abort;
    final MethodHandle errorString;
    final MethodHandle errorClass;
    final MethodHandle commRank;
    final MethodHandle commSize;
    final MethodHandle commDup;
    final MethodHandle commSplit;
    final MethodHandle commFree;
    final MethodHandle commSetErrhandler;
    final MethodHandle opCreate;
    final MethodHandle opFree;
    final MethodHandle allreduce;
    final MethodHandle allgather;
    final MethodHandle reduceScatterBlock;
    final MethodHandle bcast;
    final MethodHandle barrier;
    final MethodHandle send;
    final MethodHandle recv;
    final MethodHandle alltoall;
    final MethodHandle alltoallv;
    final MethodHandle gather;
    final MethodHandle scatter;
    final MethodHandle gatherv;
    final MethodHandle scatterv;
    final MethodHandle reduce;
    final MpiWatchdog watchdog = new MpiWatchdog(this);

    // Lifecycle, guarded by this.
    private int users;
    private boolean weInitialised;
    private boolean finalizedByUs;
    private boolean broken;
    private int provided = -1;
    private int worldRank = -1;
    private int worldSize = -1;
    private Thread initThreadOwner;
    /** Non-null when MPI gave less than MPI_THREAD_MULTIPLE: every call holds it. Written once in acquire. */
    private volatile ReentrantLock serial;
    /**
     * True when a host program gave MPI less than SERIALIZED: calls must come from the
     * initialising thread. (At the single level ds-comm asked for itself, the lock suffices.)
     */
    private volatile boolean funneled;

    private MpiLibrary(String name, SymbolLookup lookup, MpiAbi abi) {
        this.name = name;
        this.abi = abi;
        var d = new Downcalls(lookup, name, abi);
        initialized = d.fn("MPI_Initialized", "P");
        finalized = d.fn("MPI_Finalized", "P");
        initThread = d.fn("MPI_Init_thread", "PPIP");
        queryThread = d.fn("MPI_Query_thread", "P");
        finalizeMpi = d.fn("MPI_Finalize", "");
        abort = d.fn("MPI_Abort", "HI");
        errorString = d.fn("MPI_Error_string", "IPP");
        errorClass = d.fn("MPI_Error_class", "IP");
        commRank = d.fn("MPI_Comm_rank", "HP");
        commSize = d.fn("MPI_Comm_size", "HP");
        commDup = d.fn("MPI_Comm_dup", "HP");
        commSplit = d.fn("MPI_Comm_split", "HIIP");
        commFree = d.fn("MPI_Comm_free", "P");
        commSetErrhandler = d.fn("MPI_Comm_set_errhandler", "HH");
        opCreate = d.fn("MPI_Op_create", "PIP");
        opFree = d.fn("MPI_Op_free", "P");
        allreduce = d.fn("MPI_Allreduce", "PPIHHH");
        allgather = d.fn("MPI_Allgather", "PIHPIHH");
        reduceScatterBlock = d.fn("MPI_Reduce_scatter_block", "PPIHHH");
        bcast = d.fn("MPI_Bcast", "PIHIH");
        barrier = d.fn("MPI_Barrier", "H");
        send = d.fn("MPI_Send", "PIHIIH");
        recv = d.fn("MPI_Recv", "PIHIIHP");
        alltoall = d.fn("MPI_Alltoall", "PIHPIHH");
        alltoallv = d.fn("MPI_Alltoallv", "PPPHPPPHH");
        gather = d.fn("MPI_Gather", "PIHPIHIH");
        scatter = d.fn("MPI_Scatter", "PIHPIHIH");
        gatherv = d.fn("MPI_Gatherv", "PIHPPPHIH");
        scatterv = d.fn("MPI_Scatterv", "PPPHPIHIH");
        reduce = d.fn("MPI_Reduce", "PPIHHIH");
        MethodHandle libraryVersion = d.fn("MPI_Get_library_version", "PP");
        // MPI-3 allows MPI_Get_library_version before MPI_Init, so describe() works unopened.
        this.version = readLibraryVersion(libraryVersion, abi.maxLibraryVersionString());
    }

    /**
     * Opens the MPI library, or returns the one this process already opened.
     *
     * @param explicitLib file name or path of the library to use (the value of
     *                    {@code DSCOMM_MPI_LIB}), or null/blank to try the standard sonames
     * @return the library, not yet initialised (that happens when the first communicator opens)
     * @throws CommFailure of kind SETUP listing every name tried when none loads
     */
    public static MpiLibrary load(String explicitLib) {
        return load(explicitLib, MpiImplementation.UNKNOWN, Map.of());
    }

    /**
     * Opens the MPI library of the launcher's implementation, or returns the one this process
     * already opened.
     *
     * @param explicitLib    the value of {@code DSCOMM_MPI_LIB}, or null/blank; when given it is the
     *                       only library tried, whatever the launcher
     * @param implementation the MPI the launcher belongs to ({@link MpiImplementation#UNKNOWN}
     *                       when it is not an MPI's)
     * @param env            the process environment, for the implementation's install layout
     * @return the library, not yet initialised
     * @throws CommFailure of kind SETUP listing every name tried when none loads
     */
    public static MpiLibrary load(String explicitLib, MpiImplementation implementation, Map<String, String> env) {
        boolean explicit = explicitLib != null && !explicitLib.isBlank();
        return load(explicit ? List.of(explicitLib.strip()) : implementation.libraries(env), explicit);
    }

    @SuppressWarnings("restricted") // dlopen of the MPI library is the point of this backend
    static MpiLibrary load(List<String> candidates, boolean explicit) {
        synchronized (MpiLibrary.class) {
            if (loaded != null) {
                if (!explicit || candidates.contains(loaded.name)) return loaded;
                throw setupFailure("this process already uses " + loaded.describe() + "; cannot also load "
                        + candidates.getFirst() + " (one MPI per process)", null);
            }
            JvmSignalSafety.beforeLoadingMpi();
            List<String> tried = new ArrayList<>();
            for (String candidate : candidates) {
                // Each attempt gets its own arena so a failed one leaves nothing mapped. The arena
                // of the library that loads is never closed (see class comment).
                Arena arena = Arena.ofShared();
                SymbolLookup lookup;
                try {
                    lookup = SymbolLookup.libraryLookup(candidate, arena);
                } catch (IllegalArgumentException | IllegalCallerException e) {
                    arena.close();
                    tried.add(candidate + " (" + e.getMessage() + ")");
                    continue;
                }
                MpiAbi abi;
                if (lookup.find(OpenMpiAbi.MARKER).isPresent()) {
                    abi = OpenMpiAbi.abi(lookup, candidate);
                } else if (lookup.find(MpichAbi.MARKER).isPresent()) {
                    abi = MpichAbi.abi();
                } else {
                    // Do not close: dlclose of an MPI library can be unsafe; it is merely unused.
                    tried.add(candidate + " (loaded, but exports neither " + OpenMpiAbi.MARKER + " (Open MPI) nor "
                            + MpichAbi.MARKER + " (MPICH ABI))");
                    continue;
                }
                loaded = new MpiLibrary(candidate, lookup, abi);
                return loaded;
            }
            throw setupFailure("no MPI library could be loaded; tried " + String.join(", ", tried)
                    + ". Point " + LIBRARY_VARIABLE + " at the MPI library of the launcher you use (e.g. "
                    + LIBRARY_VARIABLE + "=/usr/lib/x86_64-linux-gnu/libmpi.so.40 for Open MPI's mpirun, "
                    + "libmpich.so.12 for MPICH's mpiexec)", null);
        }
    }

    static CommFailure setupFailure(String detail, Throwable cause) {
        return new CommFailure(CommFailure.Kind.SETUP, -1, "w", "open(mpi)", detail, cause);
    }

    /** The name the library was loaded by, e.g. "libmpi.so.40". */
    public String libraryName() {
        return name;
    }

    /** Implementation family: "Open MPI" or "MPICH". */
    public String family() {
        return abi.family();
    }

    /** First line of {@code MPI_Get_library_version}, e.g. "Open MPI v4.1.4". */
    public String version() {
        return version;
    }

    /** E.g. "mpi: Open MPI v4.1.4 (libmpi.so.40)". */
    public String describe() {
        int level;
        synchronized (this) {
            level = provided;
        }
        ReentrantLock l = serial;
        return "mpi: " + version + " (" + name + ")" + (level < 0 ? "" : ", " + threadLevelName(level))
                + (l != null ? ", calls serialised by ds-comm" : "");
    }

    /** The standard name of an MPI thread level (the values 0..3 are the same in every ABI). */
    static String threadLevelName(int level) {
        return switch (level) {
            case 0 -> "MPI_THREAD_SINGLE";
            case 1 -> "MPI_THREAD_FUNNELED";
            case 2 -> "MPI_THREAD_SERIALIZED";
            case 3 -> "MPI_THREAD_MULTIPLE";
            default -> "thread level " + level;
        };
    }

    @Override
    public String toString() {
        return describe();
    }

    MpiAbi abi() {
        return abi;
    }

    /** Rank in MPI_COMM_WORLD; valid once a communicator is open. */
    synchronized int worldRank() {
        return worldRank;
    }

    /** Size of MPI_COMM_WORLD; valid once a communicator is open. */
    synchronized int worldSize() {
        return worldSize;
    }

    /** Thread level MPI provided, or -1 before initialisation. */
    public synchronized int threadLevel() {
        return provided;
    }

    /**
     * Registers one more communicator; initialises MPI at the multiple level on the first, unless
     * the host program already did.
     */
    void acquire() {
        acquire(Threads.MULTIPLE);
    }

    /**
     * Registers one more communicator; initialises MPI on the first, unless the host program
     * already did.
     *
     * @param requested the level to initialise MPI with; ignored once MPI is initialised (by
     *                  ds-comm or by the host)
     */
    synchronized void acquire(Threads requested) {
        if (finalizedByUs) {
            throw setupFailure("MPI was finalised when the last ds-comm communicator closed; MPI cannot be "
                    + "initialised twice in one process", null);
        }
        if (provided < 0) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
                checkSetup((int) finalized.invokeExact(flag), "MPI_Finalized");
                if (flag.get(ValueLayout.JAVA_INT, 0) != 0) {
                    throw setupFailure("MPI was already finalised by the host program", null);
                }
                checkSetup((int) initialized.invokeExact(flag), "MPI_Initialized");
                MemorySegment level = a.allocate(ValueLayout.JAVA_INT);
                if (flag.get(ValueLayout.JAVA_INT, 0) != 0) {
                    checkSetup((int) queryThread.invokeExact(level), "MPI_Query_thread");
                } else {
                    // Init errors go to MPI_ERRORS_ARE_FATAL (no communicator exists yet to carry
                    // another handler), so a broken MPI aborts here with MPI's own message.
                    int ask = requested == Threads.SINGLE ? abi.threadSingle() : abi.threadMultiple();
                    checkSetup((int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                            ask, level), "MPI_Init_thread");
                    weInitialised = true;
                }
                provided = level.get(ValueLayout.JAVA_INT, 0);
                initThreadOwner = Thread.currentThread();
                if (provided < abi.threadMultiple()) serial = new ReentrantLock();
                // Asked for single by ds-comm: the lock is all that MPI needs (one call at a time,
                // each after the last one's effects, whichever thread makes it).
                funneled = provided < abi.threadSerialized() && !(weInitialised && requested == Threads.SINGLE);
                checkSetup((int) commRank.invokeExact(abi.commWorld(), flag), "MPI_Comm_rank");
                worldRank = flag.get(ValueLayout.JAVA_INT, 0);
                checkSetup((int) commSize.invokeExact(abi.commWorld(), flag), "MPI_Comm_size");
                worldSize = flag.get(ValueLayout.JAVA_INT, 0);
            } catch (CommFailure f) {
                throw f;
            } catch (Throwable t) {
                throw setupFailure("MPI initialisation failed in " + name + ": " + t, t);
            }
        }
        users++;
    }

    /**
     * Unregisters a communicator; after the last one, finalises MPI if ds-comm initialised it
     * and no communication failure left MPI in an unknown state (MPI_Finalize is collective and
     * would hang on a job whose peers are gone; process exit then ends MPI).
     */
    synchronized void release() {
        if (users <= 0) return;
        if (--users > 0 || !weInitialised || broken) return;
        try {
            int rc = (int) finalizeMpi.invokeExact();
            finalizedByUs = true;
            if (rc != MPI_SUCCESS) {
                System.getLogger(MpiLibrary.class.getName()).log(System.Logger.Level.WARNING,
                        "MPI_Finalize returned " + rc + ": " + errorText(rc));
            }
        } catch (Throwable t) {
            finalizedByUs = true;
            System.getLogger(MpiLibrary.class.getName()).log(System.Logger.Level.WARNING, "MPI_Finalize failed", t);
        }
    }

    /** Remembers that MPI may be unusable (a communication failure), so close skips MPI_Finalize. */
    synchronized void markBroken() {
        broken = true;
    }

    /**
     * Enters an MPI call: takes the process-wide lock when MPI is not thread-multiple, and
     * refuses calls from other threads when MPI is merely funneled. Pair with {@link #exit()}.
     */
    void enter(String group) {
        if (funneled && Thread.currentThread() != initThreadOwner) {
            throw new CommFailure(CommFailure.Kind.SETUP, -1, group, "enter",
                    "MPI provides thread level " + provided + " (below MPI_THREAD_SERIALIZED): ds-comm may call MPI only "
                            + "from the thread that initialised it (" + initThreadOwner.getName() + "), not from "
                            + Thread.currentThread().getName(), null);
        }
        ReentrantLock l = serial;
        if (l != null) l.lock();
    }

    /** Leaves an MPI call. */
    void exit() {
        ReentrantLock l = serial;
        if (l != null) l.unlock();
    }

    /** Whether every MPI call holds the process-wide lock (MPI below MPI_THREAD_MULTIPLE). */
    boolean callsSerialised() {
        return serial != null;
    }

    /**
     * For the watchdog's message: how many threads wait for the process-wide lock (0 when MPI is
     * thread-multiple). Threads waiting while a collective overran mean groups were used from
     * several threads at once, which a level below multiple cannot run concurrently.
     */
    int threadsWaitingToCallMpi() {
        ReentrantLock l = serial;
        return l == null ? 0 : l.getQueueLength();
    }

    /**
     * {@code MPI_Abort(MPI_COMM_WORLD, code)} without the serialising lock: called by the
     * watchdog while another thread is stuck inside MPI holding it. Normally does not return.
     */
    void abortJob(int code) {
        try {
            int ignoredRc = (int) abort.invokeExact(abi.commWorld(), code);
        } catch (Throwable ignored) {
            // The caller halts the process next.
        }
    }

    /**
     * Turns a non-zero MPI return code into a failure carrying MPI_Error_string's text.
     *
     * @param rc        the MPI return code, not MPI_SUCCESS
     * @param function  the MPI function, e.g. "MPI_Allreduce"
     * @param rank      the caller's group rank
     * @param group     the group name
     * @param operation the collective, e.g. "allReduce(fp32,sum,4096)"
     */
    CommFailure failure(int rc, String function, int rank, String group, String operation) {
        int cls = errorClassOf(rc);
        CommFailure.Kind kind = cls < 0 ? CommFailure.Kind.SETUP : abi.kindOf(cls);
        if (kind != CommFailure.Kind.MISMATCH) markBroken();
        return new CommFailure(kind, -1, group, operation, "rank " + rank + ": " + function + " returned " + rc
                + " (error class " + cls + "): " + errorText(rc), null);
    }

    private int errorClassOf(int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cls = a.allocate(ValueLayout.JAVA_INT);
            return (int) errorClass.invokeExact(rc, cls) == MPI_SUCCESS ? cls.get(ValueLayout.JAVA_INT, 0) : -1;
        } catch (Throwable t) {
            return -1;
        }
    }

    /** MPI_Error_string's text for {@code rc}, or a note that MPI could not describe it. */
    String errorText(int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment text = a.allocate(abi.maxErrorString());
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            int erc = (int) errorString.invokeExact(rc, text, len);
            if (erc != MPI_SUCCESS) return "(MPI_Error_string failed with " + erc + ")";
            return text.getString(0, StandardCharsets.UTF_8).strip();
        } catch (Throwable t) {
            return "(MPI_Error_string failed: " + t + ")";
        }
    }

    private void checkSetup(int rc, String function) {
        if (rc != MPI_SUCCESS) {
            throw setupFailure(function + " returned " + rc + ": " + errorText(rc), null);
        }
    }

    private static String readLibraryVersion(MethodHandle getLibraryVersion, int max) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment text = a.allocate(max);
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            if ((int) getLibraryVersion.invokeExact(text, len) != MPI_SUCCESS) return "unknown MPI version";
            // "Open MPI v4.1.4, package: ..." or "MPICH Version:\t4.0.2\nMPICH Release date: ...".
            String first = text.getString(0, StandardCharsets.UTF_8).strip().lines().findFirst().orElse("");
            int comma = first.indexOf(',');
            if (comma > 0) first = first.substring(0, comma);
            return first.replaceAll("\\s+", " ").replace("Version: ", "").strip();
        } catch (Throwable t) {
            return "unknown MPI version (" + t + ")";
        }
    }

    /**
     * Builds downcall handles from a compact signature: {@code H} an MPI handle (Java {@code long},
     * passed as the family's carrier), {@code P} a pointer ({@link MemorySegment}), {@code I} a
     * C int. Every MPI function returns an int error code.
     */
    private static final class Downcalls {
        private final Linker linker = Linker.nativeLinker();
        private final SymbolLookup lookup;
        private final String libName;
        private final MpiAbi abi;

        Downcalls(SymbolLookup lookup, String libName, MpiAbi abi) {
            this.lookup = lookup;
            this.libName = libName;
            this.abi = abi;
        }

        @SuppressWarnings("restricted") // every MPI entry point is a downcall
        MethodHandle fn(String function, String signature) {
            MemorySegment symbol = lookup.find(function).orElseThrow(() -> setupFailure(
                    libName + " (" + abi.family() + ") does not export " + function, null));
            MemoryLayout[] args = new MemoryLayout[signature.length()];
            for (int i = 0; i < args.length; i++) {
                args[i] = switch (signature.charAt(i)) {
                    case 'H' -> abi.handleLayout();
                    case 'P' -> ValueLayout.ADDRESS;
                    case 'I' -> ValueLayout.JAVA_INT;
                    default -> throw new IllegalArgumentException("bad signature " + signature);
                };
            }
            MethodHandle mh = linker.downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT, args));
            for (int i = 0; i < args.length; i++) {
                if (signature.charAt(i) == 'H') mh = MethodHandles.filterArguments(mh, i, abi.handleToCarrier());
            }
            return mh;
        }
    }
}
