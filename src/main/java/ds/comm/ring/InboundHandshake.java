package ds.comm.ring;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

import ds.comm.topology.JobSecret;
import ds.comm.topology.MutualProof;
import ds.comm.topology.PeerCheck;

import static ds.comm.ring.HandshakeDescriptor.*;

/**
 * The listener's side of one connection's handshake, driven by the endpoint's selector thread
 * whenever the socket is ready. Reads the HELLO in two bounded steps (fixed part, then exactly
 * the announced token and name lengths, both checked against their maxima first), then writes
 * the endpoint's admission, a CHALLENGE, the connector's RESPONSE (verified against the job
 * secret), then the ACK with the listener's own tag.
 */
final class InboundHandshake {

    enum State {
        /** Reading the 28-byte fixed part of HELLO. */
        READ_FIXED,
        /** Reading the token and group name. */
        READ_NAMES,
        /** HELLO is well-formed; the endpoint decides whether it serves this job and rank. */
        ADMISSION,
        /** Admitted and challenged; reading the connector's RESPONSE. */
        READ_RESPONSE,
        /** Writing the ACK. */
        WRITE_ACK,
        /** Handshake complete; the connection belongs to its group now. */
        DONE,
        /** Malformed or rejected; {@link #reason()} says why. */
        FAILED
    }

    final SocketChannel channel;
    /** nanoTime by which the handshake must complete. */
    final long deadline;
    /** Where the connection comes from: handshakes per source are bounded. */
    final InetAddress source;
    /** What the socket tables say about the connecting process. */
    final PeerCheck.Verdict verdict;
    private final JobSecret secret;
    private final byte[] nonce = JobSecret.nonce();
    private final ByteBuffer in = ByteBuffer.allocate(MAX_HELLO_LENGTH);
    private final ByteBuffer response = ByteBuffer.allocate(RESPONSE_LENGTH);
    private byte[] hello;
    private ByteBuffer out;
    private State state = State.READ_FIXED;
    private String reason;

    private int tokenLength;
    private int nameLength;
    private String jobToken;
    private String group;
    private int senderGroupRank;
    private int senderWorldRank;
    private int receiverWorldRank;
    private int groupSize;
    private short purpose;

    InboundHandshake(SocketChannel channel, long deadline, JobSecret secret, InetAddress source,
                     PeerCheck.Verdict verdict) {
        this.channel = channel;
        this.deadline = deadline;
        this.source = source;
        this.verdict = verdict;
        this.secret = secret;
        in.limit(HELLO_FIXED_LENGTH);
    }

    /** Does what the socket allows now; returns the new state. End of stream fails the handshake. */
    State advance() throws IOException {
        if (state == State.READ_FIXED) {
            if (channel.read(in) < 0) {
                return fail("connection closed after " + in.position() + " bytes of HELLO");
            }
            if (in.hasRemaining()) {
                return state;
            }
            if (!parseFixed()) {
                return state;
            }
            in.limit(HELLO_FIXED_LENGTH + tokenLength + nameLength);
            state = State.READ_NAMES;
        }
        if (state == State.READ_NAMES) {
            if (channel.read(in) < 0) {
                return fail("connection closed after " + in.position() + " bytes of HELLO");
            }
            if (in.hasRemaining()) {
                return state;
            }
            byte[] token = new byte[tokenLength];
            byte[] name = new byte[nameLength];
            in.get(HELLO_FIXED_LENGTH, token).get(HELLO_FIXED_LENGTH + tokenLength, name);
            if (!isAscii(token, MAX_TOKEN_LENGTH, true)) {
                return fail("job token is not lower-case hex");
            }
            if (!isAscii(name, MAX_NAME_LENGTH, false)) {
                return fail("group name is not [A-Za-z0-9.]+");
            }
            jobToken = new String(token, StandardCharsets.US_ASCII);
            group = new String(name, StandardCharsets.US_ASCII);
            hello = new byte[in.limit()];
            in.get(0, hello);
            state = State.ADMISSION;
            return state;
        }
        if (state == State.READ_RESPONSE) {
            if (channel.read(response) < 0) {
                return fail("connection closed after " + response.position() + " bytes of RESPONSE");
            }
            if (response.hasRemaining()) {
                return state;
            }
            if (response.getInt(0) != RESPONSE_MAGIC) {
                return fail("bad RESPONSE magic 0x" + Integer.toHexString(response.getInt(0)));
            }
            byte[] theirNonce = new byte[JobSecret.NONCE_BYTES];
            byte[] tag = new byte[JobSecret.TAG_BYTES];
            response.get(4, theirNonce).get(4 + JobSecret.NONCE_BYTES, tag);
            if (!MutualProof.RING.verifyConnector(secret, tag, theirNonce, nonce, hello)) {
                return fail("failed authentication (wrong or missing DSCOMM_JOB_SECRET, or not a rank of this job)");
            }
            out = ack(STATUS_ACCEPTED, MutualProof.RING.listenerTag(secret, theirNonce, nonce, hello));
            state = State.WRITE_ACK;
        }
        if (state == State.WRITE_ACK) {
            channel.write(out);
            if (!out.hasRemaining()) {
                state = State.DONE;
            }
        }
        return state;
    }

    /**
     * Called by the endpoint after admission: sends the CHALLENGE (36 bytes into a socket that
     * has sent nothing yet, so it goes at once); the RESPONSE is read by the next advances.
     */
    State admit() throws IOException {
        ByteBuffer c = challenge(nonce);
        channel.write(c);
        if (c.hasRemaining()) {
            return fail("CHALLENGE could not be sent at once");
        }
        state = State.READ_RESPONSE;
        return state;
    }

    /** Marks the handshake failed with {@code why}. */
    State fail(String why) {
        reason = why;
        state = State.FAILED;
        return state;
    }

    private boolean parseFixed() {
        int magic = in.getInt(MAGIC_OFFSET);
        if (magic != HELLO_MAGIC) {
            fail("bad magic 0x" + Integer.toHexString(magic));
            return false;
        }
        short version = in.getShort(VERSION_OFFSET);
        if (version != VERSION) {
            fail("unsupported protocol version " + version + " (this side speaks " + VERSION + ")");
            return false;
        }
        tokenLength = Short.toUnsignedInt(in.getShort(TOKEN_LENGTH_OFFSET));
        nameLength = Short.toUnsignedInt(in.getShort(NAME_LENGTH_OFFSET));
        if (tokenLength < 1 || tokenLength > MAX_TOKEN_LENGTH || nameLength < 1 || nameLength > MAX_NAME_LENGTH) {
            fail("token length " + tokenLength + " or group name length " + nameLength + " outside 1.."
                    + MAX_TOKEN_LENGTH + " / 1.." + MAX_NAME_LENGTH);
            return false;
        }
        purpose = in.getShort(PURPOSE_OFFSET);
        if (purpose != PURPOSE_DATA && purpose != PURPOSE_HEARTBEAT && purpose != PURPOSE_PEER) {
            fail("unknown connection purpose " + purpose);
            return false;
        }
        senderGroupRank = in.getInt(SENDER_GROUP_RANK_OFFSET);
        senderWorldRank = in.getInt(SENDER_WORLD_RANK_OFFSET);
        receiverWorldRank = in.getInt(RECEIVER_WORLD_RANK_OFFSET);
        groupSize = in.getInt(GROUP_SIZE_OFFSET);
        if (senderGroupRank < 0 || senderWorldRank < 0 || receiverWorldRank < 0 || groupSize < 2
                || senderGroupRank >= groupSize) {
            fail("impossible ranks: group rank " + senderGroupRank + " of " + groupSize + ", world "
                    + senderWorldRank + " -> " + receiverWorldRank);
            return false;
        }
        return true;
    }

    State state() {
        return state;
    }

    String reason() {
        return reason;
    }

    String jobToken() {
        return jobToken;
    }

    String group() {
        return group;
    }

    int senderGroupRank() {
        return senderGroupRank;
    }

    int senderWorldRank() {
        return senderWorldRank;
    }

    int receiverWorldRank() {
        return receiverWorldRank;
    }

    int groupSize() {
        return groupSize;
    }

    /** {@link HandshakeDescriptor#PURPOSE_DATA} or {@link HandshakeDescriptor#PURPOSE_HEARTBEAT}. */
    short purpose() {
        return purpose;
    }

    /** For log lines: who this claims to be. */
    String describe() {
        return jobToken == null ? "connection" : (purpose == PURPOSE_HEARTBEAT ? "heartbeat from " : "")
                + "world rank " + senderWorldRank + " (group " + group + " rank " + senderGroupRank + ") -> world rank "
                + receiverWorldRank;
    }
}
