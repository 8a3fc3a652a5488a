package ds.comm.topology;

/**
 * Wire format of the rendezvous. All integers are big-endian (network order) regardless of the
 * ranks' native byte order; strings are UTF-8 with a length prefix. Every length, count and rank
 * read from a socket is checked against the bounds below before anything is allocated.
 *
 * <p>Every message is one frame: a fixed header followed by a typed body.
 * <pre>
 *   Frame
 *    0               4       6       8               12
 *   +---------------+-------+-------+---------------+--------------------------+
 *   | magic  int32  | ver   | type  | bodyLength    | body (bodyLength bytes)  |
 *   | 0x44535256    | int16 | int16 | int32         |                          |
 *   | "DSRV"        | = 1   |       | 0..bound(type)|                          |
 *   +---------------+-------+-------+---------------+--------------------------+
 *
 *   type 1 HELLO   rank -&gt; rank 0, once per connection
 *    0               4               8                               16
 *   +---------------+---------------+-------------------------------+
 *   | worldSize     | rank          | pid int64                     |
 *   | int32         | int32         |                               |
 *   +---------------+---------------+-------------------------------+
 *    16                              24                              32
 *   +-------------------------------+-------------------------------+
 *   | start int64 (epoch ms, 0 = ?) | pid namespace int64 (0 = ?)   |
 *   +---------------+-------+-------+-------------------------------+
 *    32              36      37
 *   +---------------+-------+---------------------------------------+
 *   | localSizeHint | order | Endpoint (ring), 6 or 18 bytes, then  |
 *   | int32, -1 = ? | int8  | String (node id), 3..1026 bytes, then |
 *   |               |       | shm free int64 (&lt; 0: ShmView code),  |
 *   |               |       | shm segment bytes int64               |
 *   +---------------+-------+---------------------------------------+
 *
 *   type 2 TABLE   rank 0 -&gt; every rank, after all worldSize HELLOs arrived
 *    0               4                                             20
 *   +---------------+---------------------------------------------+
 *   | worldSize     | job token, 16 random bytes (TOKEN_BYTES)   |
 *   +---------------+---------------------------------------------+
 *   | worldSize x Entry, in rank order:                           |
 *   |   pid int64 | start int64 | pid namespace int64 |          |
 *   |   localSizeHint int32 | order int8 |                       |
 *   |   Endpoint (ring) | String (node id)                       |
 *   |   shm free int64 | shm segment bytes int64                 |
 *   +-------------------------------------------------------------+
 *
 *   type 3 ERROR   rank 0 -&gt; every authenticated rank, when the rendezvous failed
 *   +--------+---------------+------------------------------------+
 *   | cause  | rank int32    | String (reason, at most 4096 bytes)|
 *   | int8   | -1 = none     |                                    |
 *   +--------+---------------+------------------------------------+
 *   cause: 0 = setup/protocol, 1 = rank lost (died, hung up, never arrived), 2 = timeout
 *
 *   type 4 CHALLENGE  rank 0 -&gt; a connection, at once on accept
 *   +-------------------------------------------------------------+
 *   | server nonce, 32 random bytes                                |
 *   +-------------------------------------------------------------+
 *
 *   type 5 PROOF   follows every HELLO (client) and every TABLE/ERROR (rank 0)
 *   +-------------------------------+-----------------------------+
 *   | nonce, 32 bytes (the sender's)| HMAC-SHA256 tag, 32 bytes   |
 *   +-------------------------------+-----------------------------+
 *   client tag = HMAC(secret, "client", serverNonce, clientNonce, HELLO frame)
 *   server tag = HMAC(secret, "server", clientNonce, serverNonce, TABLE or ERROR frame)
 *
 *   Endpoint: addrLen int8 (4 or 16) | address bytes | port int32 (0..65535)
 *   String:   length int16 (unsigned) | UTF-8 bytes
 *   order:    0 = BIG_ENDIAN, 1 = LITTLE_ENDIAN
 * </pre>
 * Authentication (see {@link JobSecret}): rank 0 sends a fresh CHALLENGE on every connection;
 * a HELLO counts only once its PROOF verifies (constant-time comparison). Anything wrong before
 * that point (another protocol, a bad header, a bad tag, silence past the authentication
 * window) drops that connection with a warning and the job carries on; only authenticated ranks
 * can fail the rendezvous. Rank 0's answer is authenticated the same way, so a rank never
 * takes a table from an impostor that listens on MASTER_PORT first.
 *
 * <p>The ring endpoint's address is not what the rank believes its own address to be but the
 * local address of its TCP connection to rank 0: that interface is routable to rank 0, which
 * matters when ranks sit in different network namespaces or have several interfaces. In the
 * TABLE, rank 0 replaces the loopback ring addresses of ranks on its own node by the address at
 * which ranks of other nodes reached it (see RendezvousServer), so that every address in the
 * table is reachable from every node.
 */
public final class RendezvousDescriptor {

    /** "DSRV" in ASCII. */
    public static final int MAGIC = 0x4453_5256;
    /** Protocol version; ranks of different versions refuse each other. */
    public static final short VERSION = 4;

    /** A rank introduces itself. */
    public static final short TYPE_HELLO = 1;
    /** Rank 0 answers with the full table and the job token. */
    public static final short TYPE_TABLE = 2;
    /** Rank 0 explains why the rendezvous failed. */
    public static final short TYPE_ERROR = 3;
    /** Rank 0 challenges a new connection. */
    public static final short TYPE_CHALLENGE = 4;
    /** HMAC proof after a HELLO, TABLE or ERROR. */
    public static final short TYPE_PROOF = 5;

    /** ERROR cause: setup or protocol problem. */
    public static final byte CAUSE_SETUP = 0;
    /** ERROR cause: the named rank died, hung up or never arrived. */
    public static final byte CAUSE_LOST = 1;
    /** ERROR cause: the rendezvous ran out of time. */
    public static final byte CAUSE_TIMEOUT = 2;

    /** Bytes of the frame header. */
    public static final int HEADER_BYTES = 12;
    /** Offset of the magic in the header. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the version in the header. */
    public static final int VERSION_OFFSET = 4;
    /** Offset of the type in the header. */
    public static final int TYPE_OFFSET = 6;
    /** Offset of the body length in the header. */
    public static final int BODY_LENGTH_OFFSET = 8;

    /** Bytes of the random job token. */
    public static final int TOKEN_BYTES = 16;
    /** Longest string (node id) accepted, in UTF-8 bytes. */
    public static final int MAX_STRING_BYTES = 1024;
    /** Longest error reason sent; longer reasons are cut. */
    public static final int MAX_REASON_BYTES = 4096;

    /** Largest encoded endpoint: length byte, IPv6 address, port. */
    public static final int MAX_ENDPOINT_BYTES = 1 + 16 + 4;
    /**
     * Largest encoded per-rank entry: pid, start, pid namespace, local size hint, order, endpoint,
     * node id, shared-memory view (free bytes, segment bytes).
     */
    public static final int MAX_ENTRY_BYTES = 8 + 8 + 8 + 4 + 1 + MAX_ENDPOINT_BYTES + 2 + MAX_STRING_BYTES + 8 + 8;
    /** Largest HELLO body: world size, rank, entry. */
    public static final int MAX_HELLO_BYTES = 4 + 4 + MAX_ENTRY_BYTES;
    /** Largest ERROR body. */
    public static final int MAX_ERROR_BYTES = 1 + 4 + 2 + MAX_REASON_BYTES;
    /** CHALLENGE body. */
    public static final int CHALLENGE_BYTES = JobSecret.NONCE_BYTES;
    /** PROOF body. */
    public static final int PROOF_BYTES = JobSecret.NONCE_BYTES + JobSecret.TAG_BYTES;

    private RendezvousDescriptor() {
    }

    /** Largest TABLE body for a world of {@code worldSize} ranks. */
    public static long maxTableBytes(int worldSize) {
        return 4L + TOKEN_BYTES + (long) worldSize * MAX_ENTRY_BYTES;
    }
}
