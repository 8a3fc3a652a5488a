package ds.comm.ring;

import org.junit.jupiter.api.Test;

import java.util.function.IntBinaryOperator;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks the memory-reuse argument of {@link ReducingPass} on a model of the ring's causal
 * chains: frames are numbered (round, step, chunk) in send order; a rank sends in that order,
 * and a frame of step s >= 1 only after it received step s-1 of the same chunk. Receiving a
 * frame from the left therefore proves, N hops around the ring, that this rank completed some
 * prefix of its own sends. Every overwrite of memory a send reads must come with such proof.
 */
class ReducingPassBankTest {

    private record Shape(int n, int steps, int chunks) {
        long index(long round, int step, int chunk) {
            return (round * steps + step) * chunks + chunk;
        }

        int step(long frame) {
            return (int) ((frame / chunks) % steps);
        }

        /** Largest frame this rank has surely finished sending once it received {@code frame}. */
        long provenSent(long frame) {
            long sent = frame; // by the left neighbour
            for (int hop = 1; hop < n; hop++) {
                // Everything up to `sent` was sent by that rank; the latest of them with step >= 1
                // proves receipt of the frame one step (chunks frames) earlier from the rank before.
                long m = sent;
                while (m >= 0 && step(m) == 0) {
                    m--;
                }
                if (m < 0) {
                    return -1;
                }
                sent = m - chunks;
            }
            return sent;
        }
    }

    /** True if every bank slot rewrite proves the previous contents were sent, for modulus-mapped banks. */
    private static boolean banksAreSafe(Shape shape, IntBinaryOperator bankOf, int rounds) {
        int perRound = shape.n() - 2;
        for (int chunk = 0; chunk < shape.chunks(); chunk++) {
            for (int round = 0; round < rounds; round++) {
                for (int step = 0; step < perRound; step++) {
                    int bank = bankOf.applyAsInt(round, step);
                    long read = shape.index(round, step + 1, chunk);
                    // The next logical bank mapped to the same physical bank.
                    search:
                    for (int laterRound = round; laterRound < rounds + 2; laterRound++) {
                        for (int laterStep = 0; laterStep < perRound; laterStep++) {
                            if (laterRound == round && laterStep <= step) {
                                continue;
                            }
                            if (bankOf.applyAsInt(laterRound, laterStep) == bank) {
                                long write = shape.index(laterRound, laterStep, chunk);
                                if (shape.provenSent(write) < read) {
                                    return false;
                                }
                                break search;
                            }
                        }
                    }
                }
            }
        }
        return true;
    }

    @Test
    void rotatingNBanksNeverOverwritesPartialSumsStillToBeSent() {
        for (int n = 3; n <= 12; n++) {
            int size = n;
            for (int k = 1; k <= 4; k++) {
                IntBinaryOperator bankOf = (round, step) -> (int) ReducingPass.physicalBank(round, step, size);
                assertTrue(banksAreSafe(new Shape(n, n - 1, k), bankOf, 6), "reduce-scatter n=" + n + " k=" + k);
                assertTrue(banksAreSafe(new Shape(n, 2 * (n - 1), k), bankOf, 6), "all-reduce n=" + n + " k=" + k);
            }
        }
    }

    @Test
    void theModelRejectsTooFewBanksForReduceScatter() {
        // Control: with N-1 banks in rotation a reduce-scatter round can overwrite a slot whose
        // send is not yet proven complete, so the check above is not vacuous.
        for (int n = 3; n <= 8; n++) {
            int modulus = n - 1;
            int perRound = n - 2;
            IntBinaryOperator bankOf = (round, step) -> (round * perRound + step) % modulus;
            assertFalse(banksAreSafe(new Shape(n, n - 1, 2), bankOf, 6), "n=" + n);
        }
    }

    @Test
    void allGatherWritesOnlyMemoryWhoseLastSendIsProvenComplete() {
        for (int n = 2; n <= 12; n++) {
            for (int k = 1; k <= 4; k++) {
                Shape shape = new Shape(n, 2 * (n - 1), k);
                for (int round = 0; round < 3; round++) {
                    for (int t = 0; t <= n - 2; t++) {
                        for (int chunk = 0; chunk < k; chunk++) {
                            // Receiving all-gather step t writes segment r-t, last read by
                            // reduce-scatter step t's send (step 0 sends segment r itself).
                            long write = shape.index(round, n - 1 + t, chunk);
                            long read = shape.index(round, t, chunk);
                            assertTrue(shape.provenSent(write) >= read, "n=" + n + " k=" + k + " t=" + t);
                        }
                    }
                }
            }
        }
    }
}
