package ds.comm.portability;

import ds.comm.lanes.Reducers;
import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bin/dscomm doctor} names the platform a portability leg runs on: ISA, byte order and
 * the vector width in use (test-harness/portability.sh checks these lines against each leg).
 */
class DoctorPlatformTest {

    private static List<String> doctor(String vectorBits) {
        return doctor(vectorBits, 0);
    }

    /** Runs doctor as rank 0 of a one-rank job; an unusable setting must exit 2 (and say why). */
    private static List<String> doctor(String vectorBits, int expectedExit) {
        List<String> lines = new ArrayList<>();
        LaunchResult r = Launcher.builder().ranks(1).timeout(Duration.ofSeconds(50))
                .jvmOptions(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"))
                .captureOutput(true).output(lines::add).diagnostics(lines::add)
                .env("DSCOMM_VECTOR_BITS", vectorBits).command("ds.comm.tool.Main", "doctor")
                .build().run();
        assertEquals(expectedExit, r.exitCodes()[0], () -> "doctor exit code:\n" + String.join("\n", lines));
        return r.outputOf(0);
    }

    private static boolean has(List<String> out, String prefix, String content) {
        return out.stream().anyMatch(l -> l.startsWith(prefix) && l.contains(content));
    }

    @Test
    @Timeout(60)
    void doctorPrintsIsaByteOrderAndTheVectorWidthInUse() {
        List<String> out = doctor("");
        assertTrue(has(out, "isa:", System.getProperty("os.arch")), () -> String.join("\n", out));
        assertTrue(has(out, "byte order:", ByteOrder.nativeOrder().toString()), () -> String.join("\n", out));
        int bits = Reducers.preferredBits();
        assertTrue(has(out, "vectors:", bits == 0 ? "scalar in use" : bits + "-bit in use"), () -> String.join("\n", out));
    }

    @Test
    @Timeout(60)
    void doctorShowsAForcedWidthAndExplainsAnUnusableOne() {
        List<String> scalar = doctor("0");
        assertTrue(has(scalar, "vectors:", "scalar in use") && has(scalar, "vectors:", "DSCOMM_VECTOR_BITS=0"),
                () -> String.join("\n", scalar));
        List<String> bad = doctor("96", 2);
        assertTrue(has(bad, "vectors:", "unusable") && has(bad, "vectors:", "'96'"), () -> String.join("\n", bad));
    }
}
