package ds.comm.topology;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Where and how to meet, as rank 0 broadcasts it over MPI to a job that then runs its own socket
 * rendezvous (the ring under mpirun without MASTER_PORT). Big-endian.
 *
 * <pre>
 *   offset  size  field
 *        0   128  job secret, UTF-8, NUL-padded
 *      128     4  rendezvous port, 1..65535
 *      132     4  address length A, 1..256
 *      136   256  rank 0's address, UTF-8 (first A bytes)
 *      392        (BYTES)
 * </pre>
 *
 * @param secret  the job secret every rank authenticates with
 * @param address rank 0's rendezvous address
 * @param port    rank 0's rendezvous port
 */
public record MeetingRecord(String secret, String address, int port) {

    /** Bytes of the broadcast record. */
    public static final int BYTES = 128 + 4 + 4 + 256;

    private static final int MAX_SECRET_BYTES = 128;
    private static final int MAX_ADDRESS_BYTES = 256;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** Checks both strings fit the record. */
    public MeetingRecord {
        requireFits(secret, address);
    }

    /**
     * Throws unless {@code secret} and {@code address} fit the record: checked by rank 0 before it
     * opens its listener, so a bad value never leaves a listener behind.
     */
    public static void requireFits(String secret, String address) {
        int s = secret.getBytes(StandardCharsets.UTF_8).length;
        int a = address.getBytes(StandardCharsets.UTF_8).length;
        if (s > MAX_SECRET_BYTES || a < 1 || a > MAX_ADDRESS_BYTES) {
            throw new IllegalStateException("DSCOMM_JOB_SECRET (at most 128 bytes) or rank 0's address (1 to"
                    + " 256 bytes) cannot be shared over MPI: " + s + ", " + a + " bytes");
        }
    }

    /** This record written into a new segment of {@link #BYTES} in {@code arena}. */
    public MemorySegment encode(Arena arena) {
        byte[] s = secret.getBytes(StandardCharsets.UTF_8);
        byte[] a = address.getBytes(StandardCharsets.UTF_8);
        MemorySegment record = arena.allocate(BYTES);
        MemorySegment.copy(s, 0, record, ValueLayout.JAVA_BYTE, 0, s.length);
        record.set(INT, 128, port);
        record.set(INT, 132, a.length);
        MemorySegment.copy(a, 0, record, ValueLayout.JAVA_BYTE, 136, a.length);
        return record;
    }

    /**
     * Reads a broadcast record, range-checking every field.
     *
     * @throws IllegalStateException for a malformed record
     */
    public static MeetingRecord decode(MemorySegment record) {
        if (record.byteSize() != BYTES) throw new IllegalArgumentException("a meeting record is " + BYTES + " bytes");
        int port = record.get(INT, 128);
        int addrLen = record.get(INT, 132);
        if (port < 1 || port > 65_535 || addrLen < 1 || addrLen > MAX_ADDRESS_BYTES) {
            throw new IllegalStateException("rank 0's rendezvous record over MPI is malformed: port " + port
                    + ", address length " + addrLen);
        }
        byte[] secretBytes = record.asSlice(0, MAX_SECRET_BYTES).toArray(ValueLayout.JAVA_BYTE);
        int secretLen = 0;
        while (secretLen < MAX_SECRET_BYTES && secretBytes[secretLen] != 0) secretLen++;
        String address = new String(record.asSlice(136, addrLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        return new MeetingRecord(new String(secretBytes, 0, secretLen, StandardCharsets.UTF_8), address, port);
    }
}
