/*
 * Open MPI (or MPICH) baseline for bin/dscomm bench --collective sendrecv, measured the same way
 * (osu_latency): ranks 0 and 1 ping-pong with blocking MPI_Send/MPI_Recv; after an untimed
 * warm-up, rank 0 times each round trip and reports half of it as the one-way latency; rank 0
 * prints "bytes,iters,p50_us,p99_us,mean_us" per size. Other ranks only join the barriers.
 *
 *   mpicc -O2 -o /tmp/pingpong_baseline bench/pingpong_baseline.c
 *   mpirun --allow-run-as-root -np 2 /tmp/pingpong_baseline 4096:10000 65536:10000 1048576:1000
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void round_trip(int rank, char *buf, int bytes) {
    if (rank == 0) {
        MPI_Send(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
        MPI_Recv(buf, bytes, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
        MPI_Recv(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, bytes, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
}

int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        if (rank == 0) fprintf(stderr, "pingpong_baseline needs 2 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (rank == 0) printf("bytes,iters,p50_us,p99_us,mean_us\n");
    for (int a = 1; a < argc; a++) {
        long bytes = 0;
        int iters = 0;
        if (sscanf(argv[a], "%ld:%d", &bytes, &iters) != 2 || bytes < 0 || bytes > (1L << 30) || iters < 1) {
            if (rank == 0) fprintf(stderr, "bad argument '%s' (want BYTES:ITERS)\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        char *buf = malloc((size_t) bytes + 64);
        memset(buf, 1, (size_t) bytes + 64);
        double *t = malloc(sizeof(double) * (size_t) iters);
        int warm = iters / 5 < 10 ? 10 : iters / 5;
        /* The same untimed warm-up the Java side needs for its JIT, so both run steady state. */
        for (int w = 0; w < (a == 1 ? 20000 : 0) + warm; w++) round_trip(rank, buf, (int) bytes);
        MPI_Barrier(MPI_COMM_WORLD);
        double sum = 0;
        for (int i = 0; i < iters; i++) {
            double t0 = MPI_Wtime();
            round_trip(rank, buf, (int) bytes);
            t[i] = (MPI_Wtime() - t0) / 2 * 1e6;
            sum += t[i];
        }
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            qsort(t, (size_t) iters, sizeof(double), cmp_double);
            int p50 = (iters * 50 + 99) / 100 - 1, p99 = (iters * 99 + 99) / 100 - 1;
            printf("%ld,%d,%.2f,%.2f,%.2f\n", bytes, iters, t[p50 < 0 ? 0 : p50], t[p99 < 0 ? 0 : p99], sum / iters);
            fflush(stdout);
        }
        free(t);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
