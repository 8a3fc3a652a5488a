package ds.comm;

import ds.comm.spi.ConfigVariable;
import ds.comm.spi.Settings;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one list of settings is what the resolver, the test defaults and both tables say. */
class ConfigVariableTest {

    @Test
    void commConfigsJavadocTableIsTheListOfSettings() throws IOException {
        String source = Files.readString(projectFile("src/main/java/ds/comm/CommConfig.java"));
        String rows = Arrays.stream(source.split("\n")).filter(l -> l.startsWith(" * <tr><td>"))
                .collect(Collectors.joining("\n"));
        assertEquals(ConfigVariable.javadocTable(), rows, "regenerate CommConfig's table from ConfigVariable.javadocTable()");
    }

    @Test
    void theReadmesTableIsTheListOfSettings() throws IOException {
        String readme = Files.readString(projectFile("README.md"));
        assertTrue(readme.contains(ConfigVariable.markdownTable() + "\n"),
                "README.md must hold ConfigVariable.markdownTable():\n" + ConfigVariable.markdownTable());
    }

    @Test
    void theTestDefaultsAreTheProductionDefaults() {
        Settings production = Resolved.of(CommConfig.builder().environment(Map.of()).build()).settings();
        Settings tests = Settings.defaults();
        assertEquals(production.timeoutNanos(), tests.timeoutNanos());
        assertEquals(production.peerLostNanos(), tests.peerLostNanos());
        assertEquals(production.shmDir(), tests.shmDir());
        assertEquals(production.shmBytes(), tests.shmBytes());
        assertEquals(production.smallMessageBytes(), tests.smallMessageBytes());
        assertEquals(production.chunkBytes(), tests.chunkBytes());
        assertEquals(production.idle().get().getClass(), tests.idle().get().getClass());
        assertEquals(production.idle().get().toString(), tests.idle().get().toString());
    }

    @Test
    void everyNumericDefaultLiesInItsRangeAndTheRangesAreEnforced() {
        for (ConfigVariable v : ConfigVariable.values()) {
            if (v.unit == ConfigVariable.Unit.NONE) continue;
            assertTrue(v.min <= v.defaultValue && v.defaultValue <= v.max, v.variable);
            if (v.unit == ConfigVariable.Unit.BYTES && v.min > 0) {
                String below = Long.toString(v.min - 1);
                IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> Resolved.of(CommConfig.builder().environment(Map.of(v.variable, below)).build()));
                assertTrue(e.getMessage().contains(v.variable), e.getMessage());
            }
        }
    }

    /** The file at {@code relative} in the project: the working directory or one of its parents. */
    static Path projectFile(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path p = dir.resolve(relative);
            if (Files.isRegularFile(p)) return p;
        }
        throw new AssertionError(relative + " not found above " + Path.of("").toAbsolutePath());
    }
}
