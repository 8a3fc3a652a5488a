package ds.comm.ring;

import java.nio.ByteBuffer;
import ds.comm.topology.JobSecret;

import java.nio.charset.StandardCharsets;

/**
 * Layout of the handshake that opens every ring connection. All fields big-endian.
 *
 * <p>The connecting rank (the left neighbour) sends a HELLO naming the job, the group, both ends
 * and the connection's purpose; the listening {@link RingEndpoint} validates it, answers ACK and
 * hands the connection to the {@link RingCollective} of that group. One listener thus serves the
 * world group and every split sub-group of a process. Each pair of ring neighbours has two
 * connections: {@link #PURPOSE_DATA} carries the frames of the collectives, and
 * {@link #PURPOSE_HEARTBEAT} carries only the one-byte beats of {@link Heartbeat}, both ways.
 * A third purpose, {@link #PURPOSE_PEER}, is a point-to-point connection between any two ranks.
 * The purpose is part of the HELLO, hence of both HMAC tags: a heartbeat connection is
 * authenticated exactly like a data connection and cannot be passed off as one.
 *
 * <pre>
 * HELLO, connector -> listener, 28 + tokenLength + nameLength bytes, every field big-endian:
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     magic 0x44535248 "DSRH"                   |  0
 *  +-------------------------------+-------------------------------+
 *  | protocol version (3)  | purpose (0 data, 1 heartbeat, 2 peer) |  4
 *  +-------------------------------+-------------------------------+
 *  |   job token length (1..128)   |   group name length (1..256)  |  8
 *  +-------------------------------+-------------------------------+
 *  |                  sender's rank in the group                   | 12
 *  +---------------------------------------------------------------+
 *  |                  sender's world rank                          | 16
 *  +---------------------------------------------------------------+
 *  |                  receiver's world rank                        | 20
 *  +---------------------------------------------------------------+
 *  |                  group size                                   | 24
 *  +---------------------------------------------------------------+
 *  |   job token (ASCII [0-9a-f]), then group name ([A-Za-z0-9.])  | 28
 *  +---------------------------------------------------------------+
 *
 * ACK, listener -> connector, 40 bytes:
 *  +---------------------------------------------------------------+
 *  |                     magic 0x44535241 "DSRA"                   |  0
 *  +-------------------------------+-------------------------------+
 *  |        protocol version       |      status (0 = accepted)    |  4
 *  +-------------------------------+-------------------------------+
 *  |   listener's tag, 32 bytes (below)                            |  8
 *  +---------------------------------------------------------------+
 *
 * CHALLENGE, listener -> connector, once the HELLO passed admission, 36 bytes:
 *   magic 0x44535243 "DSRC" | listener nonce, 32 random bytes
 *
 * RESPONSE, connector -> listener, 68 bytes:
 *   magic 0x44535252 "DSRR" | connector nonce, 32 bytes | tag, 32 bytes
 *   tag = HMAC-SHA256(secret, "ds-comm ring connector", listener nonce, connector nonce, HELLO)
 *
 * listener's tag in the ACK:
 *   HMAC-SHA256(secret, "ds-comm ring listener", connector nonce, listener nonce, HELLO)
 *
 * After the ACK, a data connection carries frames (FrameDescriptor) from connector to listener;
 * a heartbeat connection carries single bytes 0x42 ("B", Heartbeat.BEAT) in both directions.
 * </pre>
 *
 * <p><b>Authentication.</b> The secret is the job's {@code JobSecret} (DSCOMM_JOB_SECRET). The
 * listener parks a connection only after the RESPONSE verified (constant-time comparison); the
 * connector uses it only after the ACK's tag verified, so neither side can be fooled by a
 * process that does not know the secret, and a replayed HELLO is useless against a fresh nonce.
 * Every read has a deadline and a fixed length.
 */
final class HandshakeDescriptor {

    static final int HELLO_MAGIC = 0x44535248;
    static final int ACK_MAGIC = 0x44535241;
    static final int CHALLENGE_MAGIC = 0x44535243;
    static final int RESPONSE_MAGIC = 0x44535252;
    /** 2: challenge-response and the ACK's tag; 3: the purpose field (was flags, always 0). */
    static final short VERSION = 3;
    /** Purpose of a connection that carries collective frames ({@link FrameDescriptor}). */
    static final short PURPOSE_DATA = 0;
    /** Purpose of a connection that carries only heartbeats ({@link Heartbeat}). */
    static final short PURPOSE_HEARTBEAT = 1;
    /**
     * Purpose of a point-to-point connection ({@link PeerLinks}), opened on demand between any two
     * ranks of a group by the sender; carries messages to the listener and acknowledgements back.
     */
    static final short PURPOSE_PEER = 2;
    static final short STATUS_ACCEPTED = 0;

    static final int MAGIC_OFFSET = 0;
    static final int VERSION_OFFSET = 4;
    static final int PURPOSE_OFFSET = 6;
    static final int TOKEN_LENGTH_OFFSET = 8;
    static final int NAME_LENGTH_OFFSET = 10;
    static final int SENDER_GROUP_RANK_OFFSET = 12;
    static final int SENDER_WORLD_RANK_OFFSET = 16;
    static final int RECEIVER_WORLD_RANK_OFFSET = 20;
    static final int GROUP_SIZE_OFFSET = 24;
    /** Bytes of the fixed part of HELLO; the token and then the group name follow. */
    static final int HELLO_FIXED_LENGTH = 28;

    static final int MAX_TOKEN_LENGTH = 128;
    static final int MAX_NAME_LENGTH = 256;
    static final int MAX_HELLO_LENGTH = HELLO_FIXED_LENGTH + MAX_TOKEN_LENGTH + MAX_NAME_LENGTH;

    static final int ACK_STATUS_OFFSET = 6;
    /** ACK: magic, version, status, then the listener's tag. */
    static final int ACK_LENGTH = 8 + JobSecret.TAG_BYTES;
    static final int CHALLENGE_LENGTH = 4 + JobSecret.NONCE_BYTES;
    static final int RESPONSE_LENGTH = 4 + JobSecret.NONCE_BYTES + JobSecret.TAG_BYTES;


    private HandshakeDescriptor() {
    }

    /** Encodes a HELLO for a data connection, ready to write (position 0, limit its length). */
    static ByteBuffer hello(String jobToken, String group, int senderGroupRank, int senderWorldRank,
                            int receiverWorldRank, int groupSize) {
        return hello(jobToken, group, senderGroupRank, senderWorldRank, receiverWorldRank, groupSize, PURPOSE_DATA);
    }

    /** Encodes a HELLO for a connection of {@code purpose}, ready to write (position 0, limit its length). */
    static ByteBuffer hello(String jobToken, String group, int senderGroupRank, int senderWorldRank,
                            int receiverWorldRank, int groupSize, short purpose) {
        if (purpose != PURPOSE_DATA && purpose != PURPOSE_HEARTBEAT && purpose != PURPOSE_PEER) {
            throw new IllegalArgumentException("unknown connection purpose " + purpose);
        }
        byte[] token = jobToken.getBytes(StandardCharsets.US_ASCII);
        byte[] name = group.getBytes(StandardCharsets.US_ASCII);
        if (token.length < 1 || token.length > MAX_TOKEN_LENGTH || name.length < 1 || name.length > MAX_NAME_LENGTH) {
            throw new IllegalArgumentException("job token (" + token.length + " bytes) or group name (" + name.length
                    + " bytes) outside 1.." + MAX_TOKEN_LENGTH + " / 1.." + MAX_NAME_LENGTH);
        }
        ByteBuffer b = ByteBuffer.allocate(HELLO_FIXED_LENGTH + token.length + name.length);
        b.putInt(MAGIC_OFFSET, HELLO_MAGIC)
                .putShort(VERSION_OFFSET, VERSION)
                .putShort(PURPOSE_OFFSET, purpose)
                .putShort(TOKEN_LENGTH_OFFSET, (short) token.length)
                .putShort(NAME_LENGTH_OFFSET, (short) name.length)
                .putInt(SENDER_GROUP_RANK_OFFSET, senderGroupRank)
                .putInt(SENDER_WORLD_RANK_OFFSET, senderWorldRank)
                .putInt(RECEIVER_WORLD_RANK_OFFSET, receiverWorldRank)
                .putInt(GROUP_SIZE_OFFSET, groupSize)
                .put(HELLO_FIXED_LENGTH, token)
                .put(HELLO_FIXED_LENGTH + token.length, name);
        return b;
    }

    /** Encodes an ACK with the listener's tag, ready to write. */
    static ByteBuffer ack(short status, byte[] tag) {
        return ByteBuffer.allocate(ACK_LENGTH).putInt(MAGIC_OFFSET, ACK_MAGIC).putShort(VERSION_OFFSET, VERSION)
                .putShort(ACK_STATUS_OFFSET, status).put(8, tag);
    }

    /** Encodes a CHALLENGE, ready to write. */
    static ByteBuffer challenge(byte[] nonce) {
        return ByteBuffer.allocate(CHALLENGE_LENGTH).putInt(0, CHALLENGE_MAGIC).put(4, nonce);
    }

    /** Encodes a RESPONSE, ready to write. */
    static ByteBuffer response(byte[] nonce, byte[] tag) {
        return ByteBuffer.allocate(RESPONSE_LENGTH).putInt(0, RESPONSE_MAGIC).put(4, nonce)
                .put(4 + JobSecret.NONCE_BYTES, tag);
    }

    /** The bytes of a HELLO buffer, 0..limit, for the tags. */
    static byte[] bytes(ByteBuffer hello) {
        byte[] b = new byte[hello.limit()];
        hello.get(0, b);
        return b;
    }

    /** True if {@code s} is 1..max characters of [0-9a-f] ({@code hexOnly}) or [A-Za-z0-9.]. */
    static boolean isAscii(byte[] s, int max, boolean hexOnly) {
        if (s.length < 1 || s.length > max) {
            return false;
        }
        for (byte c : s) {
            boolean ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                    || (!hexOnly && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.'));
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
