package ds.comm.topology;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Builds the verified {@link Topology}: every rank tells rank 0 who and where it is, rank 0
 * answers all of them with the same table. Wire format: {@link RendezvousDescriptor}.
 *
 * <p>Rank 0 listens on MASTER_ADDR:MASTER_PORT in a background thread and joins through its own
 * listener like every other rank, so that all ranks, rank 0 included, announce the address they
 * use towards rank 0. Failure modes, each reported on every rank within the timeout:
 * <ul>
 *   <li>a rank arrives twice, or with another world size: rank 0 fails at once and sends the
 *       reason to every connected rank;</li>
 *   <li>a rank never arrives: rank 0 gives up a little before the timeout (an eighth
 *       of it, at most one second) and sends every connected rank the list of missing ranks;</li>
 *   <li>rank 0 never listens or never answers: each rank fails at its own deadline.</li>
 * </ul>
 * The listener is closed as soon as all ranks have arrived, or on failure.
 */
public final class Rendezvous {

    private Rendezvous() {
    }

    /**
     * Joins the job's rendezvous, every connection authenticated with {@code secret}.
     *
     * @param env          this process's launch environment
     * @param nodeId       this node's identity ({@link NodeIdentity#detect})
     * @param ringPort     port of this rank's ring listener, announced to the others (0 for none)
     * @param timeoutNanos bound on the whole rendezvous
     * @param secret       the job's secret (the same on every rank)
     * @return the topology, identical on every rank except for {@link Topology#rank()}
     * @throws RendezvousException when the rendezvous fails; the message says which ranks and why
     */
    public static Topology join(LaunchEnv env, String nodeId, int ringPort, long timeoutNanos, JobSecret secret) {
        return join(env, nodeId, ringPort, timeoutNanos, secret, LaunchLedger.none());
    }

    /**
     * As {@link #join(LaunchEnv, String, int, long, JobSecret)}, also reading the launcher's
     * record of exited ranks: a rank that died before it reached rank 0 (or a rank 0 that died
     * before it listened) is then named within ~100 ms instead of after the timeout.
     */
    public static Topology join(LaunchEnv env, String nodeId, int ringPort, long timeoutNanos, JobSecret secret,
                                LaunchLedger ledger) {
        return join(env, nodeId, ringPort, ShmView.NONE, timeoutNanos, secret, ledger);
    }

    /**
     * As {@link #join(LaunchEnv, String, int, long, JobSecret, LaunchLedger)}, announcing what this
     * rank sees of its shared-memory directory, so that every rank can make the same SHM decision
     * from everybody's view ({@link RankRecord#shmView()}).
     */
    public static Topology join(LaunchEnv env, String nodeId, int ringPort, ShmView shmView, long timeoutNanos,
                                JobSecret secret, LaunchLedger ledger) {
        Objects.requireNonNull(env, "env");
        Objects.requireNonNull(shmView, "shmView");
        Objects.requireNonNull(ledger, "ledger");
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(nodeId, "nodeId");
        if (ringPort < 0 || ringPort > 65_535) {
            throw new IllegalArgumentException("ring port " + ringPort + " is outside 0..65535");
        }
        if (timeoutNanos <= 0) {
            throw new IllegalArgumentException("timeout must be positive: " + timeoutNanos + " ns");
        }
        if (env.worldSize() == 1) {
            return Topology.single(nodeId, ringPort);
        }
        if (env.masterPort() == 0) {
            throw new IllegalArgumentException("MASTER_PORT is not set; a rendezvous of " + env.worldSize()
                    + " ranks needs rank 0's MASTER_ADDR and MASTER_PORT");
        }
        long deadline = System.nanoTime() + timeoutNanos;
        if (env.rank() != 0) {
            return RendezvousClient.exchange(env, nodeId, ringPort, deadline, secret, ledger, ByteOrder.nativeOrder(),
                    shmView);
        }
        return joinAsRankZero(env, nodeId, ringPort, shmView, timeoutNanos, deadline, secret, ledger, null);
    }

    /**
     * Rank 0's listener, opened on a port the operating system chooses before the other ranks
     * know where it is: for a job whose ranks learn rank 0's address through another channel
     * (an MPI broadcast) rather than from MASTER_ADDR/MASTER_PORT. Holding the bound socket
     * from the start leaves no window in which another process could take the port.
     */
    public static final class Listener implements AutoCloseable {
        private final RendezvousServer server;
        private final JobSecret secret;
        private final int worldSize;

        private Listener(RendezvousServer server, JobSecret secret, int worldSize) {
            this.server = server;
            this.secret = secret;
            this.worldSize = worldSize;
        }

        /** The port rank 0 listens on. */
        public int port() {
            return server.port();
        }

        /** Closes the listener; harmless after the rendezvous it served. */
        @Override
        public void close() {
            server.close();
        }
    }

    /**
     * Opens rank 0's listener on every interface and an ephemeral port, for
     * {@link #join(LaunchEnv, String, int, long, Listener)}.
     *
     * @param worldSize the number of ranks that will join
     * @param secret    the job's secret
     * @return the open listener
     * @throws RendezvousException when no port can be bound
     */
    public static Listener listen(int worldSize, JobSecret secret) {
        Objects.requireNonNull(secret, "secret");
        try {
            return new Listener(RendezvousServer.open(new InetSocketAddress(0), worldSize, secret, LaunchLedger.none()),
                    secret, worldSize);
        } catch (IOException e) {
            throw new RendezvousException("rank 0 cannot open a rendezvous listener: " + e.getMessage(), e);
        }
    }

    /**
     * Joins as rank 0 through a listener opened by {@link #listen}; {@code env} must name the
     * listener's port as MASTER_PORT and an address of this host the other ranks can reach.
     *
     * @param env          rank 0's launch environment
     * @param nodeId       this node's identity
     * @param ringPort     port of this rank's ring listener (0 for none)
     * @param timeoutNanos bound on the whole rendezvous
     * @param listener     the listener, consumed (closed) by the rendezvous
     * @return the topology
     * @throws RendezvousException when the rendezvous fails
     */
    public static Topology join(LaunchEnv env, String nodeId, int ringPort, long timeoutNanos, Listener listener) {
        return join(env, nodeId, ringPort, ShmView.NONE, timeoutNanos, listener);
    }

    /**
     * As {@link #join(LaunchEnv, String, int, long, Listener)}, announcing this rank's view of
     * its shared-memory directory ({@link RankRecord#shmView()}).
     */
    public static Topology join(LaunchEnv env, String nodeId, int ringPort, ShmView shmView, long timeoutNanos,
                                Listener listener) {
        Objects.requireNonNull(listener, "listener");
        Objects.requireNonNull(shmView, "shmView");
        if (env.rank() != 0 || env.worldSize() != listener.worldSize || env.masterPort() != listener.port()) {
            listener.close();
            throw new IllegalArgumentException("a pre-opened listener serves rank 0 of " + listener.worldSize
                    + " ranks on port " + listener.port() + ", not rank " + env.rank() + " of " + env.worldSize()
                    + " on port " + env.masterPort());
        }
        return joinAsRankZero(env, nodeId, ringPort, shmView, timeoutNanos, System.nanoTime() + timeoutNanos,
                listener.secret, LaunchLedger.none(), listener.server);
    }


    private static Topology joinAsRankZero(LaunchEnv env, String nodeId, int ringPort, ShmView shmView,
                                           long timeoutNanos, long deadline, JobSecret secret, LaunchLedger ledger,
                                           RendezvousServer preopened) {
        RendezvousServer server = preopened;
        if (server == null) {
            InetSocketAddress bind = bindAddress(env);
            try {
                server = RendezvousServer.open(bind, env.worldSize(), secret, ledger);
            } catch (IOException e) {
                long holder = SocketOwner.listenerOwner(env.masterPort());
                String who = holder < 0 ? " (port in use by another job?)"
                        : holder == SocketOwner.ownUid() ? " (port in use by another job of this user?)"
                        : ": MASTER_PORT is held by a process of " + SocketOwner.describeUid(holder)
                        + ", another user (an impostor waiting for this job's ranks; they refuse it)";
                throw new RendezvousException("rank 0 cannot listen for the rendezvous on " + bind + " (MASTER_ADDR="
                        + env.masterAddr() + ", MASTER_PORT=" + env.masterPort() + "): " + e.getMessage() + who, e);
            }
        }
        RendezvousServer listening = server;
        long arrivalDeadline = deadline - serverMarginNanos(timeoutNanos);
        CompletableFuture<Void> served = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("dscomm-rendezvous-" + env.masterPort()).start(() -> {
            try {
                listening.serve(arrivalDeadline, deadline);
                served.complete(null);
            } catch (Throwable t) {
                served.completeExceptionally(t);
            }
        });
        Topology topology = null;
        RendezvousException own = null;
        try {
            topology = RendezvousClient.exchange(env, nodeId, ringPort, deadline, secret, LaunchLedger.none(),
                    ByteOrder.nativeOrder(), shmView, served::isDone);
        } catch (RendezvousException e) {
            own = e;
        }
        // Rank 0 returns only once every rank has its table (or failed), so that the listener is
        // closed and no rank is left waiting on a server whose process moved on.
        try {
            served.get(Math.max(0, deadline - System.nanoTime()) + TimeUnit.SECONDS.toNanos(1), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RendezvousException r) {
                throw new RendezvousException(r.kind(), r.rank(), "rank 0: " + r.getMessage(), r);
            }
            throw new RendezvousException("rank 0's rendezvous failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            server.close();
            throw new RendezvousException(RendezvousException.Cause.TIMEOUT, -1,
                    "rank 0's rendezvous did not finish within the timeout", null);
        } catch (InterruptedException e) {
            server.close();
            Thread.currentThread().interrupt();
            throw new RendezvousException("rank 0 was interrupted during the rendezvous", e);
        }
        if (own != null) {
            throw own;
        }
        return topology;
    }

    /**
     * How much earlier than the ranks rank 0 gives up waiting for arrivals: long enough for its
     * ERROR to reach ranks that started at about the same time, so that they fail with the reason
     * rather than with a bare timeout. An eighth of the timeout, at most one second.
     */
    static long serverMarginNanos(long timeoutNanos) {
        return Math.min(timeoutNanos / 8, TimeUnit.SECONDS.toNanos(1));
    }

    /**
     * Where rank 0 listens. A loopback MASTER_ADDR given as a literal ("127.0.0.1", "::1") or as
     * "localhost" means a single-host job: listen on loopback only, not exposed to the network.
     * Anything else means the wildcard address: a host name may resolve differently here than on
     * the other nodes (Debian maps the own host name to 127.0.1.1), and a NAT address may not be
     * bindable at all, while the wildcard accepts the ranks whichever route they take.
     */
    static InetSocketAddress bindAddress(LaunchEnv env) {
        String a = env.masterAddr();
        boolean literal = a.equals("localhost") || a.indexOf(':') >= 0 || a.matches("[0-9.]+");
        if (literal) {
            try {
                InetAddress addr = InetAddress.getByName(a);
                if (addr.isLoopbackAddress()) {
                    return new InetSocketAddress(addr, env.masterPort());
                }
            } catch (UnknownHostException e) {
                // fall through to the wildcard: the connect step reports an unresolvable MASTER_ADDR
            }
        }
        return new InetSocketAddress(env.masterPort());
    }
}
