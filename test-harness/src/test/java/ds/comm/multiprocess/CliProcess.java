package ds.comm.multiprocess;

import ds.comm.tool.RankPrograms;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A child process whose merged output is read on a thread, so that every wait has a deadline. */
final class CliProcess implements AutoCloseable {

    final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> all = new ArrayList<>();
    private final Thread reader;

    CliProcess(ProcessBuilder pb) throws IOException {
        this.process = pb.redirectErrorStream(true).start();
        this.reader = Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = in.readLine()) != null) {
                    System.out.println("[cli] " + l);
                    lines.add(l);
                }
            } catch (IOException e) {
                // process gone
            }
        });
    }

    /** {@code bin/dscomm ARGS} as the JDK running this test runs it: the built library and tool modules. */
    static List<String> dscommCli(String... args) {
        return RankPrograms.cli(args);
    }

    /** The library and the tool as this JVM loaded them, for bin/dscomm's DSCOMM_MODULE_PATH. */
    static String modulePath() {
        return RankPrograms.modulePath();
    }

    /** Next line containing {@code fragment}, or an AssertionError after {@code millis}. */
    String await(String fragment, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            long left = deadline - System.nanoTime();
            String l = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
            if (l == null) {
                throw new AssertionError("no line with '" + fragment + "' within " + millis + " ms; saw " + all);
            }
            all.add(l);
            if (l.contains(fragment)) {
                return l;
            }
        }
    }

    /** Waits for exit and returns every line not yet consumed plus the exit code, bounded. */
    int waitFor(long millis) throws InterruptedException {
        if (!process.waitFor(millis, TimeUnit.MILLISECONDS)) {
            throw new AssertionError("process did not exit within " + millis + " ms");
        }
        return process.exitValue();
    }

    /** Every line, once the process has exited and its output is read to the end (bounded wait). */
    List<String> output() throws InterruptedException {
        reader.join(Duration.ofSeconds(5));
        lines.drainTo(all);
        return all;
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
