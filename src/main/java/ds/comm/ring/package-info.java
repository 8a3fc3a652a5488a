/**
 * Socket ring: {@code java.nio} ring collectives for groups whose ranks span nodes.
 *
 * <p>Depends on {@code spi} and {@code lanes}; never on shared memory.
 *
 * <h2>Pieces</h2>
 * <ul>
 *   <li>{@link ds.comm.ring.RingEndpoint}: one TCP listener per process, bound before rendezvous;
 *       a selector thread runs inbound handshakes ({@code HandshakeDescriptor}) with deadlines and
 *       routes each accepted connection to its group by (job, group, sender, receiver).</li>
 *   <li>{@link ds.comm.ring.RingCollective}: one group's ring, one data connection to the right
 *       neighbour and one from the left; implements every {@link ds.comm.spi.Collective} call.</li>
 *   <li>{@code Heartbeat}: per group and rank, a second connection to each neighbour (handshake
 *       purpose HEARTBEAT) and a daemon thread, {@code dscomm-heartbeat-<group>-r<rank>}, that
 *       exchanges 1-byte beats on them whatever the application thread does and declares a
 *       neighbour silent for {@link ds.comm.spi.Settings#peerLostNanos()} lost.</li>
 *   <li>{@code FramePump}: the single non-blocking loop that writes what it can and reads what it
 *       can, so sending and receiving overlap and the ring cannot deadlock on full socket buffers;
 *       {@code RingPass} subclasses describe each collective as two frame streams.</li>
 *   <li>{@code MeshLinks}: the direct small all-reduce of groups of 3 to 8 ranks, every rank's
 *       buffer sent to every other rank at once (one latency instead of N-1), over one
 *       connection per ordered pair that is not a ring link, driven by the same
 *       {@code FramePump} loop; and the dissemination barrier of groups of 4 to 8 ranks
 *       (ceil(log2 N) rounds, round k to rank r + 2^k, instead of N-1 around the ring); and, with
 *       {@code ExchangePass}, their all-reduces above the small limit up to
 *       {@code RingCollective.EXCHANGE_MAX_BYTES} (2 MiB): a direct reduce-scatter of segments
 *       then a direct all-gather, two dependent phases instead of the ring's 2(N-1) steps; and,
 *       with {@code AllToAllPass}, the pairwise all-to-all(v) (block q straight to rank q, in one
 *       step; groups of 2 use the ring link alone). Calls whose frames differ per link describe
 *       them as a {@code DirectSchedule}.</li>
 *   <li>{@link ds.comm.ring.PeerLinks}: point-to-point send/recv, one connection per ordered pair
 *       opened on the first send (handshake purpose PEER), for the ring's groups and for HIER's
 *       transfers between nodes.</li>
 *   <li>{@code FrameDescriptor}: the 32-byte big-endian frame header; payloads in native order.</li>
 *   <li>{@code HandshakeDescriptor}: the authenticated HELLO/CHALLENGE/RESPONSE/ACK that opens
 *       every data and heartbeat connection.</li>
 * </ul>
 *
 * <h2>Determinism</h2>
 * Large all-reduces (groups of 2 or more than 8 ranks, and above 2 MiB) use ring reduce-scatter +
 * all-gather: each segment is reduced in ring order
 * starting at a segment-specific rank (documented in {@code ReducingPass}), so float results are
 * deterministic for a given N and size and bit-identical on every rank, but may differ in the
 * last bits from the shared-memory backend's rank-order reduction. All-reduces of at most
 * {@link ds.comm.spi.Settings#smallMessageBytes()} gather every buffer (directly in groups of 3
 * to 8 ranks, around the ring otherwise) and reduce locally in rank order, exactly like the
 * shared-memory small algorithm; so does the exchange of groups of 3 to 8 ranks up to 2 MiB (each
 * segment's owner reduces the N contributions in rank order). BF16/FP16 partial sums travel as
 * fp32 and are rounded once; the exchange moves 16-bit values only and rounds once as well.
 *
 * <h2>Failures</h2>
 * A peer that closes or resets its connection is {@code PEER_LOST} (naming its world rank), so
 * is a neighbour whose heartbeat fell silent for the peer-lost bound (a node gone without
 * FIN/RST, a frozen process: detected within the bound whether or not a call runs), a
 * frame for another collective is {@code MISMATCH} (naming the peer and the differing field), no
 * progress until the deadline is {@code TIMEOUT}. A failing rank sends an abort frame to its right
 * neighbour, so the failure and its culprit travel around the ring and every survivor reports it
 * promptly instead of waiting for its own timeout; in groups with direct links it sends the
 * abort over each of them too, since a rank in a direct all-reduce may wait on any peer.
 */
package ds.comm.ring;
