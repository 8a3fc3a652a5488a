package ds.comm.multiprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ds.comm.tool.LaunchResult;
import ds.comm.tool.Launcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Where rank output goes: prefixed lines, standard error merged or separate. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LauncherStreamsTest {

    private static final String SCRIPT = "echo out $RANK; echo err $RANK >&2";

    @Test
    void standardErrorGoesToItsOwnSinkWhenOneIsSet() {
        List<String> out = Collections.synchronizedList(new ArrayList<>());
        List<String> err = Collections.synchronizedList(new ArrayList<>());
        LaunchResult r = Launcher.builder().ranks(2).timeout(Duration.ofSeconds(30)).command("sh", "-c", SCRIPT)
                .output(out::add).errors(err::add).captureOutput(true).build().run();
        assertTrue(r.succeeded(), () -> String.valueOf(r.firstFailure()));
        assertEquals(List.of("[rank 0] out 0", "[rank 1] out 1"), out.stream().sorted().toList());
        assertEquals(List.of("[rank 0] err 0", "[rank 1] err 1"), err.stream().sorted().toList());
        assertEquals(List.of("err 1", "out 1"), r.outputOf(1).stream().sorted().toList(), "capture keeps both");
    }

    @Test
    void standardErrorIsMergedIntoTheOutputByDefault() {
        List<String> out = Collections.synchronizedList(new ArrayList<>());
        LaunchResult r = Launcher.builder().ranks(2).timeout(Duration.ofSeconds(30)).command("sh", "-c", SCRIPT)
                .output(out::add).build().run();
        assertTrue(r.succeeded());
        assertEquals(List.of("[rank 0] err 0", "[rank 0] out 0", "[rank 1] err 1", "[rank 1] out 1"),
                out.stream().sorted().toList());
        assertEquals(List.of(), r.outputOf(0), "nothing captured unless asked");
    }
}
