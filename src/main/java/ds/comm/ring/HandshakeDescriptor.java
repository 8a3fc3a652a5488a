package ds.comm.ring;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Layout of the handshake that opens every ring connection. All fields big-endian.
 *
 * <p>The connecting rank (the left neighbour) sends a HELLO naming the job, the group and both
 * ends; the listening {@link RingEndpoint} validates it, answers ACK and hands the connection to
 * the {@link RingCollective} of that group. One listener thus serves the world group and every
 * split sub-group of a process.
 *
 * <pre>
 * HELLO, connector -> listener, 28 + tokenLength + nameLength bytes:
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     magic 0x44535248 "DSRH"                   |  0
 *  +-------------------------------+-------------------------------+
 *  |        protocol version       |         flags (0)             |  4
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
 * ACK, listener -> connector, 8 bytes:
 *  +---------------------------------------------------------------+
 *  |                     magic 0x44535241 "DSRA"                   |  0
 *  +-------------------------------+-------------------------------+
 *  |        protocol version       |      status (0 = accepted)    |  4
 *  +-------------------------------+-------------------------------+
 * </pre>
 *
 * <p><b>Where authentication goes.</b> The listener answers only after it validated the HELLO,
 * and the connector sends nothing but the HELLO before it reads the answer. An HMAC
 * challenge-response therefore slots in between without touching the data path: the listener
 * sends CHALLENGE (magic "DSRC", 32-byte random nonce) instead of ACK, the connector replies
 * RESPONSE (magic "DSRR", HMAC-SHA256 over nonce || HELLO with the job secret), and the listener
 * verifies it before the ACK; a flag bit in HELLO announces it. Both sides read with deadlines
 * and bound every length they read, as now.
 */
final class HandshakeDescriptor {

    static final int HELLO_MAGIC = 0x44535248;
    static final int ACK_MAGIC = 0x44535241;
    static final short VERSION = 1;
    static final short STATUS_ACCEPTED = 0;

    static final int MAGIC_OFFSET = 0;
    static final int VERSION_OFFSET = 4;
    static final int FLAGS_OFFSET = 6;
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
    static final int ACK_LENGTH = 8;

    private HandshakeDescriptor() {
    }

    /** Encodes a HELLO, ready to write (position 0, limit its length). */
    static ByteBuffer hello(String jobToken, String group, int senderGroupRank, int senderWorldRank,
                            int receiverWorldRank, int groupSize) {
        byte[] token = jobToken.getBytes(StandardCharsets.US_ASCII);
        byte[] name = group.getBytes(StandardCharsets.US_ASCII);
        if (token.length < 1 || token.length > MAX_TOKEN_LENGTH || name.length < 1 || name.length > MAX_NAME_LENGTH) {
            throw new IllegalArgumentException("job token (" + token.length + " bytes) or group name (" + name.length
                    + " bytes) outside 1.." + MAX_TOKEN_LENGTH + " / 1.." + MAX_NAME_LENGTH);
        }
        ByteBuffer b = ByteBuffer.allocate(HELLO_FIXED_LENGTH + token.length + name.length);
        b.putInt(MAGIC_OFFSET, HELLO_MAGIC)
                .putShort(VERSION_OFFSET, VERSION)
                .putShort(FLAGS_OFFSET, (short) 0)
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

    /** Encodes an ACK, ready to write. */
    static ByteBuffer ack(short status) {
        return ByteBuffer.allocate(ACK_LENGTH).putInt(MAGIC_OFFSET, ACK_MAGIC).putShort(VERSION_OFFSET, VERSION)
                .putShort(ACK_STATUS_OFFSET, status);
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
