package ds.comm.topology;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where nothing proves a peer (another node, no DSCOMM_JOB_SECRET) that is said once, loudly,
 * with what to do; a proven peer or a job with a secret says nothing.
 */
class PeerCheckTest {

    private static final class Recorder implements System.Logger {
        final List<String> lines = new ArrayList<>();

        @Override
        public String getName() {
            return "test";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            lines.add(level + " " + msg);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            lines.add(level + " " + format);
        }

        @Override
        public void log(Level level, Supplier<String> msgSupplier) {
            lines.add(level + " " + msgSupplier.get());
        }
    }

    @Test
    void aPeerFromAnotherNodeWithoutASecretIsWarnedAboutOncePerProcess() {
        Recorder log = new Recorder();
        AtomicBoolean once = new AtomicBoolean();
        PeerCheck.noteUnproven(PeerCheck.Verdict.NOT_LOCAL, "rank 1 from 10.0.0.2", JobSecret.unauthenticated(), once, log);
        PeerCheck.noteUnproven(PeerCheck.Verdict.NOT_LOCAL, "rank 2 from 10.0.0.3", JobSecret.unauthenticated(), once, log);
        assertEquals(1, log.lines.size(), log.lines.toString());
        String w = log.lines.getFirst();
        assertTrue(w.startsWith("WARNING") && w.contains("rank 1 from 10.0.0.2") && w.contains("another node")
                && w.contains(JobSecret.ENV + "=$(openssl rand -hex 32)"), w);
    }

    @Test
    void aProvenPeerOrAJobWithASecretSaysNothing() {
        Recorder log = new Recorder();
        AtomicBoolean once = new AtomicBoolean();
        PeerCheck.noteUnproven(PeerCheck.Verdict.SAME_USER, "rank 1", JobSecret.unauthenticated(), once, log);
        PeerCheck.noteUnproven(PeerCheck.Verdict.NOT_LOCAL, "rank 1", JobSecret.of("s3cret"), once, log);
        PeerCheck.noteUnproven(PeerCheck.Verdict.UNPROVABLE, "rank 1", JobSecret.of("s3cret"), once, log);
        assertEquals(List.of(), log.lines);
    }

    @Test
    void unreadableSocketTablesAreSaidToBeUnprovable() {
        Recorder log = new Recorder();
        PeerCheck.noteUnproven(PeerCheck.Verdict.UNPROVABLE, "rank 1", JobSecret.unauthenticated(), new AtomicBoolean(), log);
        assertTrue(log.lines.getFirst().contains("could not be checked"), log.lines.toString());
        assertEquals(PeerCheck.Verdict.UNPROVABLE, PeerCheck.verdict(SocketOwner.UNREADABLE));
    }
}
