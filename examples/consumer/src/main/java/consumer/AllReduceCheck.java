package consumer;

import ds.comm.Communicator;
import ds.comm.ReduceOp;

/**
 * Joins the job its launcher started ({@code bin/dscomm launch}, mpirun, srun, torchrun), sums an
 * fp32 vector over all ranks and checks every element. Each rank's input is a small integer
 * pattern, so the sum is exact in fp32 whatever order the backend adds in. Prints one PASS or
 * FAIL line per rank and exits 0 or 1.
 */
public final class AllReduceCheck {

    private static final int COUNT = 4099; // not a multiple of any vector width or chunk

    private AllReduceCheck() {
    }

    public static void main(String[] args) {
        try (Communicator comm = Communicator.init()) {
            int rank = comm.rank();
            int size = comm.size();
            float[] buf = new float[COUNT];
            for (int i = 0; i < COUNT; i++) {
                buf[i] = input(rank, i);
            }
            comm.allReduce(buf, ReduceOp.SUM);
            for (int i = 0; i < COUNT; i++) {
                float expected = 0;
                for (int r = 0; r < size; r++) {
                    expected += input(r, i);
                }
                if (buf[i] != expected) {
                    System.out.println("FAIL rank " + rank + " of " + size + ": element " + i + " is " + buf[i]
                            + ", expected " + expected);
                    System.exit(1);
                }
            }
            System.out.println("PASS rank " + rank + " of " + size + ": fp32 all-reduce of " + COUNT
                    + " elements exact; " + comm.backend());
        }
    }

    /** Rank {@code r}'s element {@code i}: an integer in [-3, 3] scaled by the rank, exact in fp32. */
    private static float input(int r, int i) {
        return (r + 1) * ((i * 7 + r) % 7 - 3);
    }
}
