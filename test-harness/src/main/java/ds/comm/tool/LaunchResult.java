package ds.comm.tool;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Outcome of {@link Launcher#run()}.
 *
 * @param exitCodes    exit status per rank (ranks stopped by the launcher show 143 or 137; -1 for a rank
 *                     that never started or could not be reaped)
 * @param pids         process id per rank, -1 for a rank that never started
 * @param output       captured output lines per rank, without the "[rank N] " prefix (empty lists
 *                     when capture is off)
 * @param firstFailure the first failure, absent when every rank exited with 0
 * @param elapsed      wall time from the first start to the last reaped process
 */
public record LaunchResult(int[] exitCodes, long[] pids, List<List<String>> output, Optional<RankFailure> firstFailure,
                           Duration elapsed) {

    /** Copies the arrays; lists are made immutable. */
    public LaunchResult {
        exitCodes = exitCodes.clone();
        pids = pids.clone();
        output = output.stream().map(List::copyOf).toList();
    }

    /** True when every rank exited with status 0 within the timeout. */
    public boolean succeeded() {
        return firstFailure.isEmpty();
    }

    /** Exit status per rank. */
    @Override
    public int[] exitCodes() {
        return exitCodes.clone();
    }

    /** Process id per rank. */
    @Override
    public long[] pids() {
        return pids.clone();
    }

    /** Captured lines of {@code rank}. */
    public List<String> outputOf(int rank) {
        return output.get(rank);
    }

    /** The captured lines of {@code rank} that start with {@code prefix}, prefix removed. */
    public List<String> linesOf(int rank, String prefix) {
        return output.get(rank).stream().filter(l -> l.startsWith(prefix)).map(l -> l.substring(prefix.length())).toList();
    }
}
