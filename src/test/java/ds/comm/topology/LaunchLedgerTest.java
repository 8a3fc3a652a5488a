package ds.comm.topology;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

class LaunchLedgerTest {

    private static LaunchLedger reading(Path file) {
        return LaunchLedger.fromEnvironment(Map.of(LaunchLedger.ENV, file.toString()));
    }

    private static boolean[] only(int size, int... ranks) {
        boolean[] b = new boolean[size];
        for (int r : ranks) b[r] = true;
        return b;
    }

    @Test
    void reportsTheFirstExitOfARankStillAwaitedAndIgnoresOthers(@TempDir Path tmp) throws Exception {
        Path exits = LaunchLedger.create(tmp);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(exits)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(exits.getParent())));
        LaunchLedger ledger = reading(exits);
        assertNull(ledger.firstExitAmong(only(4, 1, 2)), "empty ledger");
        LaunchLedger.append(exits, 0, 0);
        LaunchLedger.append(exits, 3, 1);
        assertNull(ledger.firstExitAmong(only(4, 1, 2)), "exits of ranks nobody waits for");
        LaunchLedger.append(exits, 2, 137);
        LaunchLedger.append(exits, 1, 9);
        assertEquals(new LaunchLedger.Exit(2, 137), ledger.firstExitAmong(only(4, 1, 2)));
        LaunchLedger.delete(exits);
        assertFalse(Files.exists(exits.getParent()), "ledger and its directory removed");
        assertNull(ledger.firstExitAmong(only(4, 1, 2)), "a removed ledger reports nothing");
    }

    @Test
    void malformedAndOutOfRangeLinesAreIgnored(@TempDir Path tmp) throws Exception {
        Path exits = LaunchLedger.create(tmp);
        Files.writeString(exits, "garbage\n-1 3\n99999999999 1\n7 2\n1 x\n 1 4\n1 99999999999\n1",
                StandardCharsets.US_ASCII, StandardOpenOption.APPEND);
        assertNull(reading(exits).firstExitAmong(only(4, 0, 1, 2, 3)), "rank 7 is outside a world of 4; the rest is junk");
        LaunchLedger.append(exits, 5, 0); // completes the unterminated "1" line as "15 0": rank 15, not rank 1
        assertNull(reading(exits).firstExitAmong(only(4, 0, 1, 2, 3)));
    }

    @Test
    void aLedgerOthersCanWriteOrASymlinkIsNotBelieved(@TempDir Path tmp) throws Exception {
        Path exits = LaunchLedger.create(tmp);
        LaunchLedger.append(exits, 1, 137);
        assertEquals(1, reading(exits).firstExitAmong(only(2, 1)).rank(), "the owner-only file is believed");
        Path link = tmp.resolve("link");
        Files.createSymbolicLink(link, exits);
        assertNull(reading(link).firstExitAmong(only(2, 1)), "a symlink is not followed");
        Files.setPosixFilePermissions(exits, PosixFilePermissions.fromString("rw-rw-rw-"));
        assertNull(reading(exits).firstExitAmong(only(2, 1)), "a file anybody may write proves nothing");
    }

    @Test
    void withoutTheVariableNothingIsEverReported() {
        assertNull(LaunchLedger.fromEnvironment(Map.of()).firstExitAmong(only(2, 0, 1)));
        assertNull(LaunchLedger.none().firstExitAmong(only(2, 0, 1)));
    }
}
