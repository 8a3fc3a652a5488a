/*
 * Baseline for ds-comm's mpi backend: p50 latency of MPI_Allreduce(MPI_IN_PLACE, fp32, MPI_SUM)
 * called from C, at the sizes the Java benchmark (ds.comm.mpi.MpiBench) uses.
 *
 *   mpicc -O2 -o /tmp/mpi_allreduce bench/mpi_allreduce.c
 *   mpirun --allow-run-as-root -np 2 /tmp/mpi_allreduce
 *
 * After a warm-up, each iteration is MPI_Barrier, then one timed MPI_Allreduce; rank 0 prints the median and
 * the 90th percentile of its own call times.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const long bytes[] = {4L << 10, 64L << 10, 1L << 20, 16L << 20};
    const int iters[] = {2000, 1000, 200, 30};
    /* Same warm-up as the Java side, which needs it for the JIT to compile the call path. */
    const int warmup[] = {20000, 5000, 500, 10};
    if (rank == 0) printf("# C MPI_Allreduce in place, fp32 sum, %d ranks\n# bytes p50_us p90_us\n", size);
    for (int s = 0; s < 4; s++) {
        long n = bytes[s] / (long) sizeof(float);
        float *buf = aligned_alloc(64, (size_t) bytes[s]);
        memset(buf, 0, (size_t) bytes[s]);
        double *t = malloc(sizeof(double) * (size_t) iters[s]);
        for (int w = 0; w < warmup[s]; w++) {
            MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        }
        for (int i = 0; i < iters[s]; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t[i] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t) iters[s], sizeof(double), cmp_double);
        if (rank == 0) {
            printf("%ld %.2f %.2f\n", bytes[s], t[iters[s] / 2] * 1e6, t[iters[s] * 9 / 10] * 1e6);
            fflush(stdout);
        }
        free(t);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
