package ds.comm.topology;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A proof verifies only for its own protocol, direction, nonces, message and secret. */
class MutualProofTest {

    private static final JobSecret SECRET = JobSecret.of("s3cret");
    private static final byte[] MESSAGE = "hello".getBytes(StandardCharsets.US_ASCII);

    @Test
    void eachSideVerifiesTheOthersProof() {
        byte[] nc = JobSecret.nonce();
        byte[] nl = JobSecret.nonce();
        for (MutualProof p : new MutualProof[]{MutualProof.RENDEZVOUS, MutualProof.RING}) {
            assertTrue(p.verifyConnector(SECRET, p.connectorTag(SECRET, nc, nl, MESSAGE), nc, nl, MESSAGE));
            assertTrue(p.verifyListener(SECRET, p.listenerTag(SECRET, nc, nl, MESSAGE), nc, nl, MESSAGE));
        }
    }

    @Test
    void aProofIsNotValidForAnotherDirectionProtocolNonceMessageOrSecret() {
        byte[] nc = JobSecret.nonce();
        byte[] nl = JobSecret.nonce();
        byte[] tag = MutualProof.RING.connectorTag(SECRET, nc, nl, MESSAGE);
        assertFalse(MutualProof.RING.verifyListener(SECRET, tag, nc, nl, MESSAGE), "reflected to the other direction");
        assertFalse(MutualProof.RENDEZVOUS.verifyConnector(SECRET, tag, nc, nl, MESSAGE), "replayed in the rendezvous");
        assertFalse(MutualProof.RING.verifyConnector(SECRET, tag, nl, nc, MESSAGE), "nonces swapped");
        assertFalse(MutualProof.RING.verifyConnector(SECRET, tag, nc, JobSecret.nonce(), MESSAGE), "another challenge");
        assertFalse(MutualProof.RING.verifyConnector(SECRET, tag, nc, nl, "hellO".getBytes(StandardCharsets.US_ASCII)));
        assertFalse(MutualProof.RING.verifyConnector(JobSecret.of("other"), tag, nc, nl, MESSAGE), "another secret");
    }
}
