package ds.comm.topology;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Slurm's compressed host lists, expanded as {@code scontrol show hostnames} would. */
class SlurmHostListTest {

    @Test
    void rangesAndSinglesInsideOneBracketKeepTheirZeroPadding() {
        assertEquals(List.of("node01", "node02", "node03", "node04", "node07"), SlurmHostList.expand("node[01-04,07]", 100));
        assertEquals("node01", SlurmHostList.first("node[01-04,07]"));
    }

    @Test
    void entriesAreSeparatedByTopLevelCommas() {
        assertEquals(List.of("a1", "a2", "b3"), SlurmHostList.expand("a[1-2],b3", 100));
        assertEquals("a1", SlurmHostList.first("a[1-2],b3"));
        assertEquals(List.of("login", "gpu-a", "c5", "c6"), SlurmHostList.expand("login,gpu-a,c[5-6]", 100));
    }

    @Test
    void plainHostIsItsOwnFirstHost() {
        assertEquals("cn042.cluster.example", SlurmHostList.first("cn042.cluster.example"));
        assertEquals("myhost", SlurmHostList.first(" myhost "));
    }

    @Test
    void paddingFollowsTheLowerBoundAndGrowsPastIt() {
        assertEquals(List.of("n8", "n9", "n10"), SlurmHostList.expand("n[8-10]", 10));
        assertEquals(List.of("n08", "n09", "n10"), SlurmHostList.expand("n[08-10]", 10));
        assertEquals(List.of("n098", "n099", "n100"), SlurmHostList.expand("n[098-100]", 10));
    }

    @Test
    void textAfterABracketAndSeveralBracketsExpandOutermostFirst() {
        assertEquals(List.of("gpu1-ib", "gpu2-ib"), SlurmHostList.expand("gpu[1-2]-ib", 10));
        assertEquals(List.of("r1n01", "r1n02", "r2n01", "r2n02"), SlurmHostList.expand("r[1-2]n[01-02]", 10));
        assertEquals("r1n01", SlurmHostList.first("r[1-2]n[01-02]"));
    }

    @Test
    void aListLongerThanTheLimitIsRefusedNotTruncated() {
        var e = assertThrows(IllegalArgumentException.class, () -> SlurmHostList.expand("n[1-100000],x", 1000));
        assertTrue(e.getMessage().contains("more than 1000 hosts"), e.getMessage());
        // first() never expands, so a huge list costs nothing.
        assertEquals("n000000001", SlurmHostList.first("n[000000001-999999999]"));
    }

    @ParameterizedTest(name = "''{0}''")
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "node[01-04             | '[' is never closed",
            "node01-04]             | ']' without '['",
            "node[[1-2]]            | nested '['",
            "node[]                 | empty range '[]'",
            "node[1-]               | '' is not a number",
            "node[-3]               | '' is not a number",
            "node[a-c]              | 'a' is not a number",
            "node[1,,3]             | empty range",
            "node[5-2]              | range 5-2 runs backwards",
            "a,,b                   | empty host name",
            "a,                     | empty host name",
            "\",a\"                   | empty host name",
            "node[1234567890]       | not a number of 1..9 digits",
            "\"no de\"                | character 32 in a host name",
    })
    void malformedListsAreRefusedNamingTheProblem(String list, String expected) {
        var e = assertThrows(IllegalArgumentException.class, () -> SlurmHostList.first(list));
        assertTrue(e.getMessage().contains(expected), () -> "'" + e.getMessage() + "' lacks '" + expected + "'");
        assertTrue(e.getMessage().contains(list.strip()) || list.isBlank(), e.getMessage());
    }

    @Test
    void emptyOrMissingListIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> SlurmHostList.first(""));
        assertThrows(IllegalArgumentException.class, () -> SlurmHostList.first("   "));
        assertThrows(IllegalArgumentException.class, () -> SlurmHostList.first(null));
        assertThrows(IllegalArgumentException.class, () -> SlurmHostList.first("n".repeat(SlurmHostList.MAX_LENGTH + 1)));
    }
}
