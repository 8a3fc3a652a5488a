package ds.comm;

import org.junit.jupiter.api.Test;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a company's dependency audit reads before it lets the jar in: a licence file with the
 * whole Apache-2.0 text, the POM's licence, project URL, SCM and developers, and the licence
 * inside the built artifact.
 */
class ReleaseMetadataTest {

    private static Path basedir() {
        return Path.of(System.getProperty("dscomm.basedir", "."));
    }

    /**
     * The text of the first {@code <name>} element inside {@code xml} (the test module does not
     * read java.xml; the POM's elements used here are unique and unnested, so this suffices).
     */
    private static String element(String xml, String name) {
        Matcher m = Pattern.compile("<" + name + ">(.*?)</" + name + ">", Pattern.DOTALL).matcher(xml);
        assertTrue(m.find(), "<" + name + "> present");
        return m.group(1).strip();
    }

    @Test
    void licenceFileHoldsTheCompleteApacheTwoText() throws Exception {
        String licence = Files.readString(basedir().resolve("LICENSE"));
        assertTrue(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"), "header");
        // First and last of the nine sections, and the appendix: a truncated copy is no licence.
        assertTrue(licence.contains("1. Definitions."), "section 1");
        assertTrue(licence.contains("4. Redistribution."), "section 4");
        assertTrue(licence.contains("9. Accepting Warranty or Additional Liability."), "section 9");
        assertTrue(licence.contains("END OF TERMS AND CONDITIONS"), "end of terms");
        assertTrue(licence.contains("APPENDIX: How to apply the Apache License to your work."), "appendix");
        assertTrue(licence.length() > 11_000, "the full text is about 11.3 KB, got " + licence.length());
    }

    @Test
    void pomDeclaresLicenceScmDevelopersAndUrl() throws Exception {
        String pom = Files.readString(basedir().resolve("pom.xml"))
                .replaceAll("(?s)<!--.*?-->", "");
        String project = pom.substring(0, pom.indexOf("<build>"));
        String licence = element(element(project, "licenses"), "license");
        assertEquals("Apache-2.0", element(licence, "name"));
        assertEquals("https://www.apache.org/licenses/LICENSE-2.0.txt", element(licence, "url"));
        String beforeLicences = project.substring(0, project.indexOf("<licenses>"));
        assertTrue(element(beforeLicences, "url").startsWith("https://"), "project url");
        assertTrue(!element(project, "description").isBlank(), "description");
        String scm = element(project, "scm");
        assertTrue(element(scm, "connection").startsWith("scm:git:"), "scm connection");
        assertTrue(element(scm, "url").startsWith("https://"), "scm url");
        String developer = element(element(project, "developers"), "developer");
        assertTrue(!element(developer, "name").isBlank(), "a developer");
    }

    @Test
    void licenceAndNoticeTravelInsideTheArtifact() throws Exception {
        Path classes = Path.of(System.getProperty("dscomm.classes", "target/classes"));
        assertEquals(Files.readString(basedir().resolve("LICENSE")),
                Files.readString(classes.resolve("META-INF/LICENSE")), "META-INF/LICENSE of the jar");
        assertTrue(Files.readString(classes.resolve("META-INF/NOTICE")).contains("Apache License, Version 2.0"));
    }
}
