package ds.comm.topology;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The shared secret that lets a connection prove it belongs to the job: HMAC-SHA256
 * challenge-response on the rendezvous (and on the ring handshake), compared in constant time.
 *
 * <p>The secret comes from {@code DSCOMM_JOB_SECRET}, which {@code bin/dscomm launch} fills with
 * 32 random bytes in hex for every job. Any string is accepted; its UTF-8 bytes are the HMAC
 * key, so a hex string and the same text typed by hand are the same key on every rank. Without
 * the variable (torchrun, mpirun, srun jobs) the job still runs: the same challenge-response is
 * computed with a fixed, public key, and what keeps strangers out is then the same-user rule of
 * {@link PeerCheck}: a peer on this node must be a process of this user. A peer on another node
 * cannot be proven that way; {@link PeerCheck#noteUnproven} says so once, loudly, when one joins.
 */
public final class JobSecret {

    /** The environment variable the secret is read from. */
    public static final String ENV = "DSCOMM_JOB_SECRET";
    /** Bytes of a nonce and of an HMAC-SHA256 tag. */
    public static final int NONCE_BYTES = 32;
    /** Bytes of an HMAC-SHA256 tag. */
    public static final int TAG_BYTES = 32;

    private static final byte[] PUBLIC_KEY = "ds-comm unauthenticated job".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final SecretKeySpec key;
    private final boolean authenticated;

    private JobSecret(byte[] key, boolean authenticated) {
        this.key = new SecretKeySpec(key, "HmacSHA256");
        this.authenticated = authenticated;
    }

    /**
     * The secret of {@code DSCOMM_JOB_SECRET} in {@code env}; without one, the public key (the
     * warning comes only when a peer that nothing else proves joins: {@link PeerCheck}).
     */
    public static JobSecret fromEnvironment(Map<String, String> env) {
        String s = env.get(ENV);
        if (s == null || s.isEmpty()) {
            return unauthenticated();
        }
        return of(s);
    }

    /** A secret from its text (hex or any string; its UTF-8 bytes are the key). */
    public static JobSecret of(String secret) {
        if (secret.isEmpty()) throw new IllegalArgumentException(ENV + " is empty");
        return new JobSecret(secret.getBytes(StandardCharsets.UTF_8), true);
    }

    /** The fixed public key: same protocol, no protection against intent. */
    public static JobSecret unauthenticated() {
        return new JobSecret(PUBLIC_KEY, false);
    }

    /** 32 random bytes in hex: what a launcher hands its ranks. */
    public static String generate() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** A fresh random nonce. */
    public static byte[] nonce() {
        byte[] n = new byte[NONCE_BYTES];
        RANDOM.nextBytes(n);
        return n;
    }

    /** Whether a real secret (not the public key) is in use. */
    public boolean authenticated() {
        return authenticated;
    }

    /**
     * HMAC-SHA256 over the concatenation of {@code parts}. Each part's length goes in first, so
     * that no two different sequences of parts give the same input.
     */
    public byte[] tag(byte[]... parts) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            for (byte[] p : parts) {
                mac.update(new byte[] {(byte) (p.length >>> 24), (byte) (p.length >>> 16), (byte) (p.length >>> 8),
                        (byte) p.length});
                mac.update(p);
            }
            return mac.doFinal();
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /** Constant-time check of {@code tag} against the tag of {@code parts}. */
    public boolean verify(byte[] tag, byte[]... parts) {
        // MessageDigest.isEqual takes time independent of where the first difference is.
        return MessageDigest.isEqual(tag(parts), tag);
    }

    @Override
    public String toString() {
        return authenticated ? "JobSecret[set]" : "JobSecret[none]";
    }
}
