package ds.comm.testkit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequiredEnvironmentTest {

    private String saved;

    @BeforeEach
    void save() {
        saved = System.getProperty(RequiredEnvironment.PROPERTY);
    }

    @AfterEach
    void restore() {
        if (saved == null) System.clearProperty(RequiredEnvironment.PROPERTY);
        else System.setProperty(RequiredEnvironment.PROPERTY, saved);
    }

    @Test
    void underRequireAllASkipIsAFailureNamingWhatIsMissing() {
        System.setProperty(RequiredEnvironment.PROPERTY, "true");
        assertTrue(RequiredEnvironment.required());
        AssertionError e = assertThrows(AssertionError.class, () -> RequiredEnvironment.skip("no tmpfs"));
        assertTrue(e.getMessage().startsWith("no tmpfs"), e.getMessage());
        assertThrows(AssertionError.class, () -> RequiredEnvironment.assumeAvailable(false, "no netns"));
        assertThrows(AssertionError.class, () -> RequiredEnvironment.requireWhereRequired(false, "no vector width"));
        RequiredEnvironment.assumeAvailable(true, "present");
        RequiredEnvironment.requireWhereRequired(true, "present");
    }

    @Test
    void withoutItASkipIsASkipAndANarrowedTestRuns() {
        System.setProperty(RequiredEnvironment.PROPERTY, "false");
        assertFalse(RequiredEnvironment.required(), "an explicit false wins even where CI=true");
        assertThrows(TestAbortedException.class, () -> RequiredEnvironment.skip("no tmpfs"));
        assertThrows(TestAbortedException.class, () -> RequiredEnvironment.assumeAvailable(false, "no netns"));
        RequiredEnvironment.requireWhereRequired(false, "no vector width");
    }

    @Test
    void aBlankPropertyFallsBackToTheCiVariable() {
        System.setProperty(RequiredEnvironment.PROPERTY, " ");
        assertTrue(RequiredEnvironment.required() == "true".equalsIgnoreCase(System.getenv("CI")));
    }
}
