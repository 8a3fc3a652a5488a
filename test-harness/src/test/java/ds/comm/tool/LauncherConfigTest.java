package ds.comm.tool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Launcher configuration without starting processes: placement, environment, command lines, CLI. */
class LauncherConfigTest {

    private static final Path JAVA = Path.of("/jdk/bin/java");
    private static final RankCommand.Modules JARS = new RankCommand.Modules(Path.of("/x/ds-comm.jar"),
            Path.of("/x/ds-comm-tool.jar"));

    @Test
    void unevenSplitGivesTheFirstNodesOneRankMore() {
        NodeSplit s = new NodeSplit(3, 2);
        assertEquals(List.of(0, 0, 1), List.of(s.nodeOf(0), s.nodeOf(1), s.nodeOf(2)));
        assertEquals(List.of(0, 1, 0), List.of(s.localRank(0), s.localRank(1), s.localRank(2)));
        assertEquals(List.of(2, 2, 1), List.of(s.localSize(0), s.localSize(1), s.localSize(2)));
        NodeSplit seven = new NodeSplit(7, 3); // 3 + 2 + 2
        int[] nodes = new int[7];
        for (int r = 0; r < 7; r++) {
            nodes[r] = seven.nodeOf(r);
            assertEquals(r - seven.firstRankOn(nodes[r]), seven.localRank(r));
        }
        assertEquals("[0, 0, 0, 1, 1, 2, 2]", java.util.Arrays.toString(nodes));
        assertEquals(2, seven.sizeOf(2));
    }

    @Test
    void moreNodesThanRanksIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new NodeSplit(2, 3));
    }

    @Test
    void rankEnvironmentIsTorchrunStyleWithSimulatedNodeIds() {
        Launcher l = Launcher.builder().ranks(3).nodes(2).env("EXTRA", "1").env("LOCAL_SIZE", "9").command("true").build();
        Map<String, String> e = l.rankEnv(2, 4711);
        assertEquals("2", e.get("RANK"));
        assertEquals("3", e.get("WORLD_SIZE"));
        assertEquals("0", e.get("LOCAL_RANK"));
        assertEquals("1", e.get("LOCAL_WORLD_SIZE"));
        assertEquals("9", e.get("LOCAL_SIZE"), "--env wins over the launcher's own variables");
        assertEquals("127.0.0.1", e.get("MASTER_ADDR"));
        assertEquals("4711", e.get("MASTER_PORT"));
        assertEquals("simnode1", e.get("DSCOMM_NODE_ID"));
        assertEquals("dscomm", e.get("DSCOMM_LAUNCHER"));
        assertEquals("1", e.get("EXTRA"));
        Launcher oneNode = Launcher.builder().ranks(2).command("true").build();
        assertTrue(!oneNode.rankEnv(0, 1).containsKey("DSCOMM_NODE_ID"), "one node: real node identity");
    }

    @Test
    void toolAndLibraryMainClassesRunFromTheirModulesWithBothOnTheModulePath() {
        RankCommand.Modules modules = RankCommand.Modules.located();
        String modulePath = modules.library() + java.io.File.pathSeparator + modules.tool();
        assertEquals(List.of("/jdk/bin/java", "--enable-native-access=ds.comm", "-Xmx64m", "--module-path", modulePath,
                        "-m", "ds.comm.tool/ds.comm.tool.Main", "doctor"),
                RankCommand.resolve(List.of("ds.comm.tool.Main", "doctor"), JAVA, modules, List.of("-Xmx64m"), null,
                        "/usr/bin:/bin"));
        assertEquals(List.of("/jdk/bin/java", "--enable-native-access=ds.comm", "--module-path", modulePath,
                        "-m", "ds.comm/ds.comm.Communicator"),
                RankCommand.resolve(List.of("ds.comm.Communicator"), JAVA, modules, List.of(), null, "/usr/bin"));
    }

    @Test
    void javaArgumentsGetDsCommAsAModule() {
        List<String> argv = RankCommand.resolve(List.of("-jar", "app.jar", "--flag"), JAVA, JARS, List.of(), null, null);
        assertEquals(List.of("/jdk/bin/java", "--enable-native-access=ds.comm,ALL-UNNAMED", "--module-path",
                "/x/ds-comm.jar:/x/ds-comm-tool.jar", "--add-modules", "ds.comm", "-jar", "app.jar", "--flag"), argv);
    }

    @Test
    void applicationModulesFollowDsCommsOnTheModulePath() {
        Launcher l = LaunchCommand.parse(new String[] {"-n", "2", "-p", "/app/app.jar", "--", "-m", "app/app.Main"}).build();
        List<String> argv = l.argv();
        String path = argv.get(argv.indexOf("--module-path") + 1);
        assertTrue(path.endsWith(java.io.File.pathSeparator + "/app/app.jar"), path);
        assertTrue(path.startsWith(RankCommand.Modules.located().path()), path);
        assertEquals(List.of("--add-modules", "ds.comm", "-m", "app/app.Main"),
                argv.subList(argv.indexOf("--module-path") + 2, argv.size()));
    }

    @Test
    void foreignMainClassRunsOnTheUserClassPath() {
        List<String> argv = RankCommand.resolve(List.of("com.example.Infer", "a"), JAVA, JARS, List.of(), "app.jar",
                "/usr/bin");
        assertEquals(List.of("/jdk/bin/java", "--enable-native-access=ds.comm,ALL-UNNAMED", "--module-path",
                "/x/ds-comm.jar:/x/ds-comm-tool.jar", "--add-modules", "ds.comm", "-cp", "app.jar", "com.example.Infer",
                "a"), argv);
    }

    @Test
    void programsOnPathAndPathsRunAsTheyAre() {
        assertEquals(List.of("sh", "-c", "echo"), RankCommand.resolve(List.of("sh", "-c", "echo"), JAVA,
                JARS, List.of("-Xmx1g"), null, "/usr/bin:/bin"));
        assertEquals(List.of("./run.sh"), RankCommand.resolve(List.of("./run.sh"), JAVA, JARS, List.of(),
                null, "/usr/bin"));
    }

    @Test
    void ranksUseTheJavaOfThisJvm() {
        assertEquals(Path.of(System.getProperty("java.home"), "bin", "java"),
                RankCommand.currentJava(Map.of("DSCOMM_JAVA_HOME", "/elsewhere")));
    }

    @Test
    void cliParsesOptionsAndRejectsMistakes() {
        Launcher l = LaunchCommand.parse(new String[] {"-n", "3", "--nodes", "2", "--timeout", "500ms", "--env", "A=b=c",
                "--", "sh", "-c", "true"}).build();
        assertEquals(List.of("sh", "-c", "true"), l.argv());
        assertEquals("b=c", l.rankEnv(0, 1).get("A"));
        for (String[] bad : List.of(new String[] {"--", "true"}, new String[] {"-n", "2"},
                new String[] {"-n", "x", "--", "true"}, new String[] {"-n", "2", "--nodes", "3", "--", "true"},
                new String[] {"-n", "2", "--timeout", "soon", "--", "true"}, new String[] {"-n", "2", "--env", "=v", "--", "true"},
                new String[] {"-n", "2", "--bogus", "--", "true"})) {
            assertThrows(Main.UsageException.class, () -> LaunchCommand.parse(bad), String.join(" ", bad));
        }
    }

    @Test
    void launchIsRegisteredInTheCli() {
        assertEquals(0, Main.run(new String[] {"launch", "--help"}));
        assertEquals(2, Main.run(new String[] {"launch", "-n", "0", "--", "true"}));
    }

    @Test
    void commandThatCannotStartIsReportedAsAStartFailure() {
        List<String> diagnostics = new java.util.ArrayList<>();
        LaunchResult r = Launcher.builder().ranks(2).command("/nonexistent/dscomm-test-program")
                .timeout(java.time.Duration.ofSeconds(10)).diagnostics(diagnostics::add).build().run();
        RankFailure f = r.firstFailure().orElseThrow();
        assertEquals(RankFailure.Kind.START, f.kind());
        assertEquals(0, f.rank());
        assertTrue(f.message().contains("/nonexistent/dscomm-test-program"), f.message());
        assertEquals(List.of(-1L, -1L), java.util.Arrays.stream(r.pids()).boxed().toList());
        assertEquals(1, diagnostics.size());
    }

    @Test
    void exitStatusAbove128IsASignal() {
        RankFailure killed = RankFailure.ofExit(3, 137);
        assertEquals(RankFailure.Kind.SIGNAL, killed.kind());
        assertEquals(9, killed.signal());
        assertTrue(killed.message().contains("signal 9 (SIGKILL)"), killed.message());
        assertEquals(RankFailure.Kind.EXIT, RankFailure.ofExit(0, 1).kind());
    }
}
