package ds.comm.tool;

import jdk.jfr.Recording;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * {@code bench --jfr FILE}: one JDK Flight Recorder recording per rank, of every ds-comm event
 * and a few low-rate JDK events, written when the rank is done to FILE with ".rank&lt;R&gt;" inserted
 * before its extension (one file per rank, so ranks on one node do not overwrite each other).
 *
 * <p>Events are enabled by name: the tool sees the library only through its public API.
 */
final class BenchRecording implements AutoCloseable {

    /** The library's events (ds.comm.observe), every one of them: thresholds 0. */
    static final List<String> DS_COMM_EVENTS = List.of("ds.comm.Collective", "ds.comm.GroupOpen", "ds.comm.GroupClose",
            "ds.comm.Failure");

    /**
     * JDK events that explain a slow call and cost next to nothing: GC pauses, safepoints, and
     * what machine it was. Everything else (sampling, allocation, I/O events) stays off.
     */
    private static final List<String> JDK_EVENTS = List.of("jdk.GarbageCollection", "jdk.GCPhasePause",
            "jdk.SafepointBegin", "jdk.JVMInformation", "jdk.CPUInformation", "jdk.OSInformation");

    private final Recording recording;
    private final Path file;
    private int rank = -1;

    private BenchRecording(Recording recording, Path file) {
        this.recording = recording;
        this.file = file;
    }

    static BenchRecording start(Path file) {
        Recording r = new Recording();
        r.setName("ds-comm bench");
        for (String name : DS_COMM_EVENTS) r.enable(name).withThreshold(Duration.ZERO);
        for (String name : JDK_EVENTS) r.enable(name).withThreshold(Duration.ZERO).withoutStackTrace();
        r.start();
        return new BenchRecording(r, file);
    }

    /** This process's world rank, once known (the file name carries it). */
    void rank(int worldRank) {
        this.rank = worldRank;
    }

    /**
     * FILE with ".rank&lt;R&gt;" before its extension: out.jfr, rank 1 -&gt; out.rank1.jfr; "out" -&gt;
     * out.rank1; ".pid&lt;PID&gt;" instead when the rank never became known (init() failed).
     */
    static Path fileFor(Path file, int rank) {
        String name = file.getFileName().toString();
        // Before init() knew the rank (it failed): the pid keeps ranks of one node apart.
        String tag = rank < 0 ? ".pid" + ProcessHandle.current().pid() : ".rank" + rank;
        int dot = name.lastIndexOf('.');
        String named = dot > 0 ? name.substring(0, dot) + tag + name.substring(dot) : name + tag;
        return file.resolveSibling(named);
    }

    /** Stops the recording and writes it (also after a failed run: the failure is in it). */
    @Override
    public void close() {
        Path target = fileFor(file, rank);
        try {
            recording.stop();
            recording.dump(target);
            System.err.println("bench: rank " + rank + " wrote its JFR recording to " + target);
        } catch (IOException e) {
            throw new UncheckedIOException("bench --jfr: cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            recording.close();
        }
    }
}
