package ds.comm.tool;

import ds.comm.topology.LaunchLedger;
import ds.comm.topology.MasterPort;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Starts N ranks of one job on this machine, torchrun-style, and supervises them.
 *
 * <p>Every rank gets {@code RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, LOCAL_SIZE,
 * MASTER_ADDR=127.0.0.1, MASTER_PORT} (a free port), {@code DSCOMM_LAUNCHER=dscomm}, and with
 * {@code nodes(M)}, M &gt; 1, a {@code DSCOMM_NODE_ID} per contiguous block of ranks
 * ({@link NodeSplit}), which makes ranks on different simulated nodes use the inter-node path.
 * Stale {@code DSCOMM_RANK / _WORLD_SIZE / _LOCAL_RANK / _LOCAL_SIZE} are removed from the
 * inherited environment because they would win over the launcher's variables. Each output line
 * goes to the output sink as {@code "[rank N] line"}; standard error is merged into it unless an
 * error sink is set. {@code DSCOMM_LAUNCH_LEDGER} names an owner-only file to which the launcher
 * appends every rank's exit the moment it happens ({@link LaunchLedger}): ranks still in the
 * rendezvous learn from it of a rank that died before anyone could have seen it.
 *
 * <p>Reaping guarantees: when a rank exits with a non-zero status, or the timeout passes, every
 * other rank and every descendant of it is sent SIGTERM, then SIGKILL after the grace period, and
 * is waited for (bounded); the same happens from a shutdown hook when the launcher's JVM is
 * stopped by SIGINT or SIGTERM. A descendant whose parent rank had already exited has been
 * re-parented by then and cannot be found: ranks that fork should not leave children behind.
 */
public final class Launcher {

    private static final long REAP_BOUND_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final int ranks;
    private final NodeSplit split;
    private final Duration timeout;
    private final Duration killGrace;
    private final Map<String, String> extraEnv;
    private final List<String> command;
    private final List<String> jvmOptions;
    private final String classPath;
    private final String modulePath;
    private final Path workingDirectory;
    private final Consumer<String> sink;
    private final Consumer<String> errorSink;
    private final Consumer<String> diagnostics;
    private final boolean capture;
    private final boolean stopOnFailure;
    /** Fresh for every launcher: the ranks of one job share it, another job's ranks cannot guess it. */
    private final String jobSecret = ds.comm.topology.JobSecret.generate();

    private final Object lock = new Object();
    /** Serialises the sinks only; never held while processes are signalled. */
    private final Object printLock = new Object();
    private Process[] processes = new Process[0];

    private Launcher(Builder b) {
        this.ranks = b.ranks;
        this.split = new NodeSplit(b.ranks, b.nodes);
        this.timeout = b.timeout;
        this.killGrace = b.killGrace;
        this.extraEnv = Map.copyOf(b.env);
        this.command = List.copyOf(Objects.requireNonNull(b.command, "command"));
        this.jvmOptions = List.copyOf(b.jvmOptions);
        this.classPath = b.classPath;
        this.modulePath = b.modulePath;
        this.workingDirectory = b.workingDirectory;
        this.sink = b.sink;
        this.errorSink = b.errorSink;
        this.diagnostics = b.diagnostics;
        this.capture = b.capture;
        this.stopOnFailure = b.stopOnFailure;
        if (command.isEmpty()) {
            throw new IllegalArgumentException("no command to launch");
        }
    }

    /** A builder with 1 rank, 1 node, no timeout, output to System.out, diagnostics to System.err. */
    public static Builder builder() {
        return new Builder();
    }

    /** The argument vector every rank runs (the same for all; only the environment differs). */
    public List<String> argv() {
        return RankCommand.resolve(command, RankCommand.currentJava(System.getenv()), RankCommand.Modules.located().with(modulePath),
                jvmOptions, classPath, System.getenv("PATH"));
    }

    /** The environment additions of {@code rank} (on top of the inherited environment). */
    Map<String, String> rankEnv(int rank, int masterPort) {
        Map<String, String> e = new LinkedHashMap<>();
        e.put("RANK", Integer.toString(rank));
        e.put("WORLD_SIZE", Integer.toString(ranks));
        e.put("LOCAL_RANK", Integer.toString(split.localRank(rank)));
        e.put("LOCAL_WORLD_SIZE", Integer.toString(split.localSize(rank)));
        e.put("LOCAL_SIZE", Integer.toString(split.localSize(rank)));
        e.put("MASTER_ADDR", "127.0.0.1");
        e.put("MASTER_PORT", Integer.toString(masterPort));
        e.put("DSCOMM_LAUNCHER", "dscomm");
        // Authenticates every rendezvous and ring connection of this job (extraEnv may override).
        e.put(ds.comm.topology.JobSecret.ENV, jobSecret);
        if (split.nodes() > 1) {
            e.put("DSCOMM_NODE_ID", "simnode" + split.nodeOf(rank));
        }
        e.putAll(extraEnv);
        return e;
    }

    /**
     * Starts every rank and waits until all exited, one failed, or the timeout passed.
     *
     * @return exit codes, output and the first failure; never leaves a rank running
     */
    public LaunchResult run() {
        List<String> argv = argv();
        int masterPort = MasterPort.free();
        long start = System.nanoTime();
        long deadline = timeout == null ? 0 : start + timeout.toNanos();
        int[] exitCodes = new int[ranks];
        long[] pids = new long[ranks];
        Arrays.fill(exitCodes, -1);
        Arrays.fill(pids, -1);
        List<List<String>> output = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        BlockingQueue<Integer> exited = new LinkedBlockingQueue<>();
        Thread hook = Thread.ofPlatform().unstarted(() -> stopAll(TimeUnit.SECONDS.toNanos(1)));
        Runtime.getRuntime().addShutdownHook(hook);
        RankFailure failure = null;
        Path ledger = null;
        try {
            try {
                // Ranks still in the rendezvous read it to learn of a rank that died before they could see it.
                ledger = LaunchLedger.create(Path.of(System.getProperty("java.io.tmpdir")));
            } catch (IOException e) {
                diagnostics.accept("no launch ledger (" + e + "): a rank dying before the rendezvous costs the others"
                        + " the timeout");
            }
            synchronized (lock) {
                processes = new Process[ranks];
            }
            for (int r = 0; r < ranks; r++) {
                output.add(Collections.synchronizedList(new ArrayList<>()));
                ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(errorSink == null);
                if (workingDirectory != null) {
                    pb.directory(workingDirectory.toFile());
                }
                Map<String, String> env = pb.environment();
                for (String stale : List.of("DSCOMM_RANK", "DSCOMM_WORLD_SIZE", "DSCOMM_LOCAL_RANK", "DSCOMM_LOCAL_SIZE")) {
                    env.remove(stale);
                }
                env.put("DSCOMM_JAVA_HOME", RankCommand.currentJava(System.getenv()).getParent().getParent().toString());
                env.putAll(rankEnv(r, masterPort));
                if (ledger != null) {
                    env.put(LaunchLedger.ENV, ledger.toString());
                }
                Process p;
                try {
                    synchronized (lock) {
                        p = pb.start();
                        processes[r] = p;
                    }
                } catch (IOException e) {
                    failure = new RankFailure(r, RankFailure.Kind.START, -1, "rank " + r + " could not be started ("
                            + String.join(" ", argv) + "): " + e.getMessage());
                    break;
                }
                pids[r] = p.pid();
                pumps.add(pump(r, p.getInputStream(), sink, output.get(r)));
                if (errorSink != null) {
                    pumps.add(pump(r, p.getErrorStream(), errorSink, output.get(r)));
                }
                final int rank = r;
                Path exits = ledger;
                p.onExit().thenRun(() -> {
                    recordExit(exits, rank, p);
                    exited.add(rank);
                });
            }
            int running = failure == null ? ranks : 0;
            while (running > 0) {
                Integer r;
                if (timeout == null) {
                    r = exited.take(); // no job limit; SIGINT/SIGTERM still reach the shutdown hook
                } else {
                    long remaining = deadline - System.nanoTime();
                    r = remaining <= 0 ? null : exited.poll(remaining, TimeUnit.NANOSECONDS);
                }
                if (r == null) {
                    RankFailure late = timeoutFailure();
                    if (failure == null) {
                        failure = late;
                    } else {
                        diagnostics.accept(late.message());
                    }
                    break;
                }
                running--;
                exitCodes[r] = processes[r].exitValue();
                if (exitCodes[r] != 0 && failure == null) {
                    failure = RankFailure.ofExit(r, exitCodes[r]);
                    if (stopOnFailure) {
                        break;
                    }
                    diagnostics.accept(failure.message() + "; the other ranks run on to detect it themselves");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = new RankFailure(-1, RankFailure.Kind.TIMEOUT, -1, "the launcher was interrupted");
        } finally {
            if (failure != null) {
                diagnostics.accept(failure.message() + "; stopping the other ranks");
            }
            stopAll(killGrace.toNanos());
            collectExitCodes(exitCodes);
            joinPumps(pumps);
            if (ledger != null) {
                LaunchLedger.delete(ledger);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is already shutting down; the hook is running or has run
            }
        }
        return new LaunchResult(exitCodes, pids, output, Optional.ofNullable(failure),
                Duration.ofNanos(System.nanoTime() - start));
    }

    /** Writes {@code rank}'s exit into the ledger, if there is one and it still exists. */
    private static void recordExit(Path ledger, int rank, Process p) {
        if (ledger == null) return;
        try {
            LaunchLedger.append(ledger, rank, p.exitValue());
        } catch (IOException | IllegalThreadStateException e) {
            // the job is over and the ledger removed: nobody reads it any more
        }
    }

    /** Exit status of every stopped rank; the JDK reaps its direct children shortly after they die. */
    private void collectExitCodes(int[] exitCodes) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        Process[] started;
        synchronized (lock) {
            started = processes.clone(); // wait outside the lock: the shutdown hook may need it
        }
        for (int r = 0; r < started.length; r++) {
            Process p = started[r];
            if (p == null) {
                continue;
            }
            try {
                if (p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    exitCodes[r] = p.exitValue();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private RankFailure timeoutFailure() {
        List<Integer> alive = new ArrayList<>();
        synchronized (lock) {
            for (int r = 0; r < processes.length; r++) {
                if (processes[r] != null && processes[r].isAlive()) {
                    alive.add(r);
                }
            }
        }
        int first = alive.isEmpty() ? -1 : alive.getFirst();
        return new RankFailure(first, RankFailure.Kind.TIMEOUT, -1, "timeout of " + timeout.toMillis()
                + " ms passed with ranks " + alive + " still running");
    }

    /**
     * SIGTERM to every live rank and its descendants, SIGKILL after {@code graceNanos}, then waits
     * (bounded) until they are gone. Descendants are listed before the parent is signalled,
     * because once a parent dies its children are re-parented and no longer listed.
     */
    private void stopAll(long graceNanos) {
        List<ProcessHandle> targets = new ArrayList<>();
        synchronized (lock) {
            for (Process p : processes) {
                if (p != null && p.isAlive()) {
                    p.descendants().forEach(targets::add);
                    targets.add(p.toHandle());
                }
            }
        }
        if (targets.isEmpty()) {
            return;
        }
        targets.forEach(ProcessHandle::destroy);
        if (!awaitGone(targets, System.nanoTime() + graceNanos)) {
            // Children forked during the grace period are caught too.
            List<ProcessHandle> stubborn = new ArrayList<>();
            for (ProcessHandle h : targets) {
                if (Processes.isRunning(h)) {
                    h.descendants().forEach(stubborn::add);
                    stubborn.add(h);
                }
            }
            stubborn.forEach(ProcessHandle::destroyForcibly);
            if (!awaitGone(stubborn, System.nanoTime() + REAP_BOUND_NANOS)) {
                diagnostics.accept("could not reap processes " + stubborn.stream().filter(Processes::isRunning)
                        .map(h -> Long.toString(h.pid())).toList() + " even with SIGKILL");
            }
        }
    }

    /**
     * Polls until none of {@code handles} is running or the deadline passes. Polling (every 10 ms)
     * rather than {@link ProcessHandle#onExit()}: most handles are grandchildren, which the JDK
     * cannot wait for either, and a killed grandchild stays a zombie until init reaps it.
     */
    private static boolean awaitGone(List<ProcessHandle> handles, long deadline) {
        while (handles.stream().anyMatch(Processes::isRunning)) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return handles.stream().noneMatch(Processes::isRunning);
            }
        }
        return true;
    }

    private Thread pump(int rank, InputStream stream, Consumer<String> to, List<String> lines) {
        String prefix = "[rank " + rank + "] ";
        return Thread.ofPlatform().daemon().name("dscomm-launch-out-" + rank).start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (capture) {
                        lines.add(line);
                    }
                    // One lock for both sinks: they usually print to the same terminal.
                    synchronized (printLock) {
                        to.accept(prefix + line);
                    }
                }
            } catch (IOException e) {
                // the stream closes when the process is destroyed; nothing more to forward
            }
        });
    }

    /** Output after a rank's exit is still forwarded, but a descendant holding the pipe cannot stall us. */
    private static void joinPumps(List<Thread> pumps) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (Thread t : pumps) {
            try {
                t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Configures a {@link Launcher}. */
    public static final class Builder {
        private int ranks = 1;
        private int nodes = 1;
        private Duration timeout;
        private Duration killGrace = Duration.ofSeconds(3);
        private final Map<String, String> env = new LinkedHashMap<>();
        private List<String> command;
        private List<String> jvmOptions = List.of();
        private String classPath;
        private String modulePath;
        private Path workingDirectory;
        private Consumer<String> sink = System.out::println;
        private Consumer<String> errorSink;
        private Consumer<String> diagnostics = m -> System.err.println("dscomm launch: " + m);
        private boolean capture;
        private boolean stopOnFailure = true;

        private Builder() {
        }

        /** Number of ranks, at least 1. */
        public Builder ranks(int n) {
            if (n < 1 || n > 4096) {
                throw new IllegalArgumentException("ranks must be in 1..4096, got " + n);
            }
            this.ranks = n;
            return this;
        }

        /** Number of simulated nodes the ranks are split over (contiguous blocks), 1..ranks. */
        public Builder nodes(int m) {
            if (m < 1) {
                throw new IllegalArgumentException("nodes must be at least 1, got " + m);
            }
            this.nodes = m;
            return this;
        }

        /** Bound on the whole job; null for none. */
        public Builder timeout(Duration t) {
            if (t != null && (t.isNegative() || t.isZero())) {
                throw new IllegalArgumentException("timeout must be positive: " + t);
            }
            this.timeout = t;
            return this;
        }

        /** Time between SIGTERM and SIGKILL when stopping ranks. */
        public Builder killGrace(Duration g) {
            this.killGrace = Objects.requireNonNull(g);
            return this;
        }

        /** An extra environment variable for every rank; wins over the launcher's own. */
        public Builder env(String name, String value) {
            env.put(Objects.requireNonNull(name), Objects.requireNonNull(value));
            return this;
        }

        /** COMMAND ARGS... (see {@link RankCommand} for how it is run). */
        public Builder command(List<String> c) {
            this.command = List.copyOf(c);
            return this;
        }

        /** COMMAND ARGS... */
        public Builder command(String... c) {
            return command(List.of(c));
        }

        /** Options for every rank's JVM, e.g. -Xmx1g. */
        public Builder jvmOptions(List<String> o) {
            this.jvmOptions = List.copyOf(o);
            return this;
        }

        /**
         * Modules of the application (jars or folders, separated by ':'), put on every Java
         * rank's module path after ds-comm's own, e.g. for {@code -m app/app.Main}.
         */
        public Builder modulePath(String path) {
            this.modulePath = path;
            return this;
        }

        /** User class path for a main class outside ds.comm. */
        public Builder classPath(String cp) {
            this.classPath = cp;
            return this;
        }

        /** Working directory of the ranks; the launcher's when not set. */
        public Builder workingDirectory(Path dir) {
            this.workingDirectory = dir;
            return this;
        }

        /** Receives every output line, prefixed "[rank N] ". */
        public Builder output(Consumer<String> s) {
            this.sink = Objects.requireNonNull(s);
            return this;
        }

        /**
         * Receives every standard-error line, prefixed "[rank N] ", separately from the output
         * sink. Without it, standard error is merged into the output sink.
         */
        public Builder errors(Consumer<String> s) {
            this.errorSink = Objects.requireNonNull(s);
            return this;
        }

        /** Receives the launcher's own messages (which rank failed, what was stopped). */
        public Builder diagnostics(Consumer<String> d) {
            this.diagnostics = Objects.requireNonNull(d);
            return this;
        }

        /** Keep every rank's lines in the {@link LaunchResult}. */
        public Builder captureOutput(boolean c) {
            this.capture = c;
            return this;
        }

        /**
         * Whether the first failing rank makes the launcher stop the others at once (the
         * default). Off, the others run on until they exit or the timeout passes: for tests of
         * how survivors detect a lost peer themselves. Every rank is still reaped at the end.
         */
        public Builder stopOnFailure(boolean stop) {
            this.stopOnFailure = stop;
            return this;
        }

        /** Validates and builds. */
        public Launcher build() {
            return new Launcher(this);
        }
    }
}
