package ds.comm.topology;

import java.nio.charset.StandardCharsets;

/**
 * The one challenge-response both handshakes use (the rendezvous and the ring's connections):
 * each side proves it knows the job's secret by an HMAC over the other side's fresh nonce, its
 * own nonce and the message it vouches for.
 *
 * <pre>
 *   listener -> connector   its nonce Nl                      (CHALLENGE, or in the rendezvous the first bytes)
 *   connector -> listener   Nc, tag(connectorLabel, Nl, Nc, message)
 *   listener -> connector   tag(listenerLabel, Nc, Nl, message')
 * </pre>
 *
 * <p>Labels keep a tag of one protocol or direction from being replayed as another; the nonces
 * keep it from being replayed at all. Every method takes the nonces in the same order
 * (connector's, then listener's), so callers cannot swap them: the order inside the tag is this
 * class's business.
 */
public final class MutualProof {

    /** The rendezvous: ranks connect to rank 0. */
    public static final MutualProof RENDEZVOUS = new MutualProof("ds-comm rendezvous client", "ds-comm rendezvous server");
    /** The ring's data and heartbeat connections. */
    public static final MutualProof RING = new MutualProof("ds-comm ring connector", "ds-comm ring listener");

    private final byte[] connectorLabel;
    private final byte[] listenerLabel;

    private MutualProof(String connectorLabel, String listenerLabel) {
        this.connectorLabel = connectorLabel.getBytes(StandardCharsets.US_ASCII);
        this.listenerLabel = listenerLabel.getBytes(StandardCharsets.US_ASCII);
    }

    /** The connecting side's proof for {@code message}. */
    public byte[] connectorTag(JobSecret secret, byte[] connectorNonce, byte[] listenerNonce, byte[] message) {
        return secret.tag(connectorLabel, listenerNonce, connectorNonce, message);
    }

    /** Constant-time check of a connecting side's proof. */
    public boolean verifyConnector(JobSecret secret, byte[] tag, byte[] connectorNonce, byte[] listenerNonce,
                                   byte[] message) {
        return secret.verify(tag, connectorLabel, listenerNonce, connectorNonce, message);
    }

    /** The listening side's proof for {@code message}. */
    public byte[] listenerTag(JobSecret secret, byte[] connectorNonce, byte[] listenerNonce, byte[] message) {
        return secret.tag(listenerLabel, connectorNonce, listenerNonce, message);
    }

    /** Constant-time check of a listening side's proof. */
    public boolean verifyListener(JobSecret secret, byte[] tag, byte[] connectorNonce, byte[] listenerNonce,
                                  byte[] message) {
        return secret.verify(tag, listenerLabel, connectorNonce, listenerNonce, message);
    }
}
