package ds.comm.topology;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The same-user rule for every connection of a job (rendezvous and ring, both directions): a
 * peer on this node must be a process of this user, proven by the kernel's socket tables
 * ({@link SocketOwner}), with or without {@code DSCOMM_JOB_SECRET}. A peer of another uid is
 * refused whatever it sends. A peer that is not on this node can only be proven by the secret;
 * without one that is said once per process, loudly, since nothing then keeps a host that can
 * reach the port out.
 */
public final class PeerCheck {

    private static final System.Logger LOG = System.getLogger("ds.comm");
    private static final AtomicBoolean WARNED_UNPROVEN = new AtomicBoolean();

    private PeerCheck() {
    }

    /** What the socket tables say about a peer. */
    public enum Verdict {
        /** A process of this user on this node. */
        SAME_USER,
        /** A process of another user on this node: refused. */
        OTHER_USER,
        /** Not on this node (or another network namespace): only the secret proves it. */
        NOT_LOCAL,
        /** The tables cannot be read: only the secret proves it. */
        UNPROVABLE
    }

    /** The verdict for a peer whose socket owner is {@code owner} ({@link SocketOwner} values). */
    public static Verdict verdict(long owner) {
        if (owner == SocketOwner.NOT_LOCAL) return Verdict.NOT_LOCAL;
        if (owner < 0 || SocketOwner.ownUid() < 0) return Verdict.UNPROVABLE;
        return owner == SocketOwner.ownUid() ? Verdict.SAME_USER : Verdict.OTHER_USER;
    }

    /** Why a peer owned by {@code owner} is refused, for the WARNING and the errors. */
    public static String otherUser(String who, long owner) {
        return who + " belongs to " + SocketOwner.describeUid(owner) + ", not to this job's user ("
                + SocketOwner.describeUid(SocketOwner.ownUid()) + "): refused as an impostor";
    }

    /**
     * Says once per process that {@code who} was accepted without proof: it is not on this node
     * and no {@code DSCOMM_JOB_SECRET} is set. Nothing when the secret is set or the peer was proven.
     */
    public static void noteUnproven(Verdict verdict, String who, JobSecret secret) {
        noteUnproven(verdict, who, secret, WARNED_UNPROVEN, LOG);
    }

    /** {@link #noteUnproven(Verdict, String, JobSecret)} with its once-flag and logger given (tests). */
    static void noteUnproven(Verdict verdict, String who, JobSecret secret, AtomicBoolean once, System.Logger log) {
        if (secret.authenticated() || verdict == Verdict.SAME_USER || verdict == Verdict.OTHER_USER) return;
        if (once.compareAndSet(false, true)) {
            log.log(System.Logger.Level.WARNING, "ds-comm: " + who + (verdict == Verdict.NOT_LOCAL
                    ? " is on another node (or network namespace)" : " could not be checked (/proc/net/tcp unreadable)")
                    + " and " + JobSecret.ENV + " is not set: nothing proves that it belongs to this job. Any host"
                    + " that can reach MASTER_PORT or a ring port could join, read tensors and corrupt sums. Export"
                    + " the same random value as " + JobSecret.ENV + " to every rank (bin/dscomm launch does;"
                    + " with torchrun or srun: export " + JobSecret.ENV + "=$(openssl rand -hex 32) before launching)");
        }
    }
}
