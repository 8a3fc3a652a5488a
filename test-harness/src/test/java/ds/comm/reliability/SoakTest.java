package ds.comm.reliability;

import ds.comm.tool.LaunchResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A short {@code bin/dscomm soak}: random verified collectives on sub-groups, over SHM and over HIER/ring. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@Tag("multiprocess")
class SoakTest {

    @ParameterizedTest(name = "{0} ranks on {1} node(s)")
    @CsvSource({"3, 1", "4, 2"})
    void aShortSoakVerifiesEveryResultAndFindsNoneWrong(int ranks, int nodes) {
        LaunchResult r = ds.comm.tool.Launcher.builder().ranks(ranks).nodes(nodes).timeout(Duration.ofSeconds(90))
                .jvmOptions(List.of("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx128m")).captureOutput(true)
                .killGrace(Duration.ofSeconds(1)).output(System.out::println).env("DSCOMM_TIMEOUT", "20s")
                .command("ds.comm.tool.Main", "soak", "--duration", "3s", "--max-bytes", "64K", "--seed", "7")
                .build().run();
        assertTrue(r.succeeded(), "soak failed: " + r.firstFailure() + "\n" + r.outputOf(0));
        List<String> out = r.outputOf(0);
        assertTrue(out.contains("soak: PASS"), out.toString());
        String total = out.stream().filter(l -> l.trim().startsWith("total")).findFirst().orElseThrow();
        String[] f = total.trim().split("\\s+");
        assertTrue(Long.parseLong(f[1]) > 10, "barely any calls: " + total);
        assertEquals("0", f[3], total);
    }
}
