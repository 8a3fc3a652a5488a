package ds.comm.topology;

import static ds.comm.topology.RendezvousDescriptor.*;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Encodes and decodes the frames of {@link RendezvousDescriptor}. Decoding never trusts a length:
 * each is checked against its bound before use, and a body must be consumed exactly.
 */
final class RendezvousCodec {

    /** A frame that does not follow the protocol. */
    static final class MalformedFrameException extends Exception {
        private static final long serialVersionUID = 1L;
        /** True when the bytes are not a ds-comm frame at all (wrong magic): a stray client. */
        final boolean foreign;

        MalformedFrameException(String message, boolean foreign) {
            super(message);
            this.foreign = foreign;
        }
    }

    /** A decoded frame header. */
    record Header(short type, int bodyLength) {
    }

    /** A decoded HELLO. */
    record Hello(int worldSize, RankRecord record) {
    }

    /** A decoded ERROR: cause code, the rank it names (-1 none), the reason. */
    record Error(byte cause, int rank, String reason) {
    }

    /** A decoded PROOF. */
    record Proof(byte[] nonce, byte[] tag) {
    }

    /** A decoded TABLE. */
    record Table(byte[] token, List<RankRecord> records) {
    }

    private RendezvousCodec() {
    }

    static ByteBuffer hello(int worldSize, RankRecord self) {
        ByteBuffer b = frame(TYPE_HELLO, MAX_HELLO_BYTES);
        b.putInt(worldSize).putInt(self.rank());
        putEntry(b, self);
        return seal(b);
    }

    static ByteBuffer table(byte[] token, List<RankRecord> records) {
        if (token.length != TOKEN_BYTES) {
            throw new IllegalArgumentException("token must have " + TOKEN_BYTES + " bytes");
        }
        ByteBuffer b = frame(TYPE_TABLE, Math.toIntExact(maxTableBytes(records.size())));
        b.putInt(records.size()).put(token);
        for (RankRecord r : records) {
            putEntry(b, r);
        }
        return seal(b);
    }

    static ByteBuffer error(String reason) {
        return error(CAUSE_SETUP, -1, reason);
    }

    static ByteBuffer error(byte cause, int rank, String reason) {
        byte[] bytes = reason.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(bytes.length, MAX_REASON_BYTES);
        // Cut at a character boundary so the receiver's strict decoder accepts it.
        while (n > 0 && n < bytes.length && (bytes[n] & 0xC0) == 0x80) {
            n--;
        }
        ByteBuffer b = frame(TYPE_ERROR, 1 + 4 + 2 + n);
        b.put(cause).putInt(rank).putShort((short) n).put(bytes, 0, n);
        return seal(b);
    }

    static ByteBuffer challenge(byte[] nonce) {
        ByteBuffer b = frame(TYPE_CHALLENGE, CHALLENGE_BYTES);
        b.put(nonce);
        return seal(b);
    }

    static ByteBuffer proof(byte[] nonce, byte[] tag) {
        ByteBuffer b = frame(TYPE_PROOF, PROOF_BYTES);
        b.put(nonce).put(tag);
        return seal(b);
    }

    /** The body of a CHALLENGE: exactly one nonce. */
    static byte[] decodeChallenge(ByteBuffer body) throws MalformedFrameException {
        if (body.remaining() != CHALLENGE_BYTES) {
            throw new MalformedFrameException("CHALLENGE of " + body.remaining() + " bytes", false);
        }
        byte[] n = new byte[CHALLENGE_BYTES];
        body.get(n);
        return n;
    }

    /** The body of a PROOF: a nonce and a tag. */
    static Proof decodeProof(ByteBuffer body) throws MalformedFrameException {
        if (body.remaining() != PROOF_BYTES) {
            throw new MalformedFrameException("PROOF of " + body.remaining() + " bytes", false);
        }
        byte[] n = new byte[JobSecret.NONCE_BYTES];
        byte[] t = new byte[JobSecret.TAG_BYTES];
        body.get(n).get(t);
        return new Proof(n, t);
    }

    /**
     * @param h a buffer holding exactly {@link RendezvousDescriptor#HEADER_BYTES} bytes
     * @param maxBody the largest body the reader is prepared to accept for any type
     */
    static Header header(ByteBuffer h, long maxBody) throws MalformedFrameException {
        h.order(ByteOrder.BIG_ENDIAN);
        int magic = h.getInt(MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new MalformedFrameException("not a ds-comm rendezvous frame (magic 0x" + Integer.toHexString(magic)
                    + ", expected 0x" + Integer.toHexString(MAGIC) + ")", true);
        }
        short version = h.getShort(VERSION_OFFSET);
        if (version != VERSION) {
            throw new MalformedFrameException("rendezvous protocol version " + version + ", this ds-comm speaks "
                    + VERSION + " (mixed ds-comm versions in one job?)", false);
        }
        short type = h.getShort(TYPE_OFFSET);
        int length = h.getInt(BODY_LENGTH_OFFSET);
        long bound = switch (type) {
            case TYPE_HELLO -> MAX_HELLO_BYTES;
            case TYPE_TABLE -> maxTableBytes(LaunchEnv.MAX_WORLD_SIZE);
            case TYPE_ERROR -> MAX_ERROR_BYTES;
            case TYPE_CHALLENGE -> CHALLENGE_BYTES;
            case TYPE_PROOF -> PROOF_BYTES;
            default -> throw new MalformedFrameException("unknown frame type " + type, false);
        };
        if (length < 0 || length > Math.min(bound, maxBody)) {
            throw new MalformedFrameException("frame type " + type + " with body length " + length + " (at most "
                    + Math.min(bound, maxBody) + " allowed)", false);
        }
        return new Header(type, length);
    }

    static Hello decodeHello(ByteBuffer body) throws MalformedFrameException {
        try {
            body.order(ByteOrder.BIG_ENDIAN);
            int worldSize = body.getInt();
            if (worldSize < 1 || worldSize > LaunchEnv.MAX_WORLD_SIZE) {
                throw new MalformedFrameException("HELLO with world size " + worldSize + " (1.."
                        + LaunchEnv.MAX_WORLD_SIZE + " allowed)", false);
            }
            int rank = body.getInt();
            if (rank < 0 || rank >= worldSize) {
                throw new MalformedFrameException("HELLO with rank " + rank + " outside 0.." + (worldSize - 1)
                        + " of its world size " + worldSize, false);
            }
            RankRecord rec = getEntry(body, rank, worldSize);
            requireConsumed(body, "HELLO");
            return new Hello(worldSize, rec);
        } catch (BufferUnderflowException e) {
            throw new MalformedFrameException("HELLO body ends early", false);
        }
    }

    static Table decodeTable(ByteBuffer body, int expectedWorldSize) throws MalformedFrameException {
        try {
            body.order(ByteOrder.BIG_ENDIAN);
            int worldSize = body.getInt();
            if (worldSize != expectedWorldSize) {
                throw new MalformedFrameException("TABLE of " + worldSize + " ranks, expected " + expectedWorldSize,
                        false);
            }
            byte[] token = new byte[TOKEN_BYTES];
            body.get(token);
            List<RankRecord> records = new ArrayList<>(worldSize);
            for (int r = 0; r < worldSize; r++) {
                records.add(getEntry(body, r, worldSize));
            }
            requireConsumed(body, "TABLE");
            return new Table(token, records);
        } catch (BufferUnderflowException e) {
            throw new MalformedFrameException("TABLE body ends early", false);
        }
    }

    static String decodeError(ByteBuffer body) throws MalformedFrameException {
        return decodeErrorFrame(body).reason();
    }

    static Error decodeErrorFrame(ByteBuffer body) throws MalformedFrameException {
        try {
            body.order(ByteOrder.BIG_ENDIAN);
            byte cause = body.get();
            if (cause != CAUSE_SETUP && cause != CAUSE_LOST && cause != CAUSE_TIMEOUT) {
                throw new MalformedFrameException("ERROR with cause code " + cause, false);
            }
            int rank = body.getInt();
            if (rank < -1 || rank >= LaunchEnv.MAX_WORLD_SIZE) {
                throw new MalformedFrameException("ERROR naming rank " + rank, false);
            }
            String s = getString(body, 0, MAX_REASON_BYTES, "ERROR reason");
            requireConsumed(body, "ERROR");
            return new Error(cause, rank, s);
        } catch (BufferUnderflowException e) {
            throw new MalformedFrameException("ERROR body ends early", false);
        }
    }

    private static ByteBuffer frame(short type, int maxBody) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES + maxBody).order(ByteOrder.BIG_ENDIAN);
        b.putInt(MAGIC).putShort(VERSION).putShort(type).putInt(0);
        return b;
    }

    private static ByteBuffer seal(ByteBuffer b) {
        b.putInt(BODY_LENGTH_OFFSET, b.position() - HEADER_BYTES);
        return b.flip();
    }

    private static void putEntry(ByteBuffer b, RankRecord r) {
        b.putLong(r.pid()).putLong(r.process().startMillis()).putLong(r.process().pidNamespace())
                .putInt(r.localSizeHint()).put((byte) (r.byteOrder() == ByteOrder.LITTLE_ENDIAN ? 1 : 0));
        byte[] addr = r.ringAddress().getAddress().getAddress();
        b.put((byte) addr.length).put(addr).putInt(r.ringAddress().getPort());
        byte[] id = r.nodeId().getBytes(StandardCharsets.UTF_8);
        b.putShort((short) id.length).put(id);
        b.putLong(r.shmView().freeBytes()).putLong(r.shmView().segmentBytes());
    }

    private static RankRecord getEntry(ByteBuffer b, int rank, int worldSize) throws MalformedFrameException {
        long pid = b.getLong();
        if (pid < 0) {
            throw new MalformedFrameException("rank " + rank + " has negative pid " + pid, false);
        }
        long startMillis = b.getLong();
        long pidNamespace = b.getLong();
        if (startMillis < 0 || pidNamespace < 0) {
            throw new MalformedFrameException("rank " + rank + " has a negative start time or pid namespace", false);
        }
        int hint = b.getInt();
        if (hint < -1 || hint > worldSize) {
            throw new MalformedFrameException("rank " + rank + " has local size hint " + hint + " outside -1.."
                    + worldSize, false);
        }
        byte order = b.get();
        if (order != 0 && order != 1) {
            throw new MalformedFrameException("rank " + rank + " has byte order code " + order, false);
        }
        int addrLen = b.get();
        if (addrLen != 4 && addrLen != 16) {
            throw new MalformedFrameException("rank " + rank + " has an address of " + addrLen + " bytes", false);
        }
        byte[] addr = new byte[addrLen];
        b.get(addr);
        int port = b.getInt();
        if (port < 0 || port > 65_535) {
            throw new MalformedFrameException("rank " + rank + " has ring port " + port, false);
        }
        String nodeId = getString(b, 1, MAX_STRING_BYTES, "node id of rank " + rank);
        long shmFree = b.getLong();
        long shmSegment = b.getLong();
        if (shmFree < ShmView.UNKNOWN || shmSegment < 0 || shmSegment > ShmView.MAX_SEGMENT_BYTES) {
            throw new MalformedFrameException("rank " + rank + " has shared-memory view " + shmFree + "/" + shmSegment,
                    false);
        }
        InetAddress ip;
        try {
            ip = InetAddress.getByAddress(addr);
        } catch (UnknownHostException e) {
            throw new MalformedFrameException("rank " + rank + " has a bad address", false);
        }
        return new RankRecord(rank, nodeId, new InetSocketAddress(ip, port),
                new ProcessIdentity(pid, startMillis, pidNamespace),
                order == 1 ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN, hint, new ShmView(shmFree, shmSegment));
    }

    private static String getString(ByteBuffer b, int min, int max, String what) throws MalformedFrameException {
        int len = Short.toUnsignedInt(b.getShort());
        if (len < min || len > max) {
            throw new MalformedFrameException(what + " has " + len + " bytes (" + min + ".." + max + " allowed)", false);
        }
        if (len > b.remaining()) {
            throw new BufferUnderflowException();
        }
        ByteBuffer slice = b.slice(b.position(), len);
        b.position(b.position() + len);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            throw new MalformedFrameException(what + " is not valid UTF-8", false);
        }
    }

    private static void requireConsumed(ByteBuffer b, String what) throws MalformedFrameException {
        if (b.hasRemaining()) {
            throw new MalformedFrameException(what + " body has " + b.remaining() + " trailing bytes", false);
        }
    }
}
