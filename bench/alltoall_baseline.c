/*
 * Open MPI (or MPICH) all-to-all baseline for bin/dscomm bench --collective alltoall, measured
 * the same way (osu_alltoall's convention: BYTES is the block each rank sends each peer, so the
 * send and receive buffers hold ranks x BYTES): before every iteration the send buffer is
 * rewritten from a pristine copy (fresh activations, as before every exchange in a model; also
 * what the Java side does) and the ranks meet at a barrier, both outside the timed region; an iteration's time is the slowest rank's (MAX over ranks of
 * the per-iteration times); rank 0 prints "bytes,iters,p50_us,p99_us" per size.
 *
 *   mpicc -O2 -o /tmp/alltoall_baseline bench/alltoall_baseline.c
 *   mpirun --allow-run-as-root -np 2 /tmp/alltoall_baseline 4096:1000 65536:1000 1048576:200
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
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) printf("bytes,iters,p50_us,p99_us\n");
    for (int a = 1; a < argc; a++) {
        long bytes = 0;
        int iters = 0;
        if (sscanf(argv[a], "%ld:%d", &bytes, &iters) != 2 || bytes < 1 || iters < 1 || bytes > 0x7fffffffL) {
            if (rank == 0) fprintf(stderr, "bad argument '%s' (want BYTES:ITERS)\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        size_t span = (size_t) bytes * (size_t) size;
        char *in = aligned_alloc(64, (span + 63) / 64 * 64);
        char *out = aligned_alloc(64, (span + 63) / 64 * 64);
        char *pristine = aligned_alloc(64, (span + 63) / 64 * 64);
        for (size_t i = 0; i < span; i++) pristine[i] = (char) (rank * 31 + i);
        /* The same untimed calls as the Java side's warm-up per point (iters / 5, at least 5). */
        int warm = iters / 5 < 5 ? 5 : iters / 5;
        double *t = malloc(sizeof(double) * (size_t) iters);
        for (int i = -warm; i < iters; i++) {
            memcpy(in, pristine, span);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Alltoall(in, (int) bytes, MPI_BYTE, out, (int) bytes, MPI_BYTE, MPI_COMM_WORLD);
            double t1 = MPI_Wtime();
            if (i >= 0) t[i] = (t1 - t0) * 1e6;
        }
        for (int r = 0; r < size; r++) {
            if (out[(size_t) r * (size_t) bytes] != (char) (r * 31 + (size_t) rank * (size_t) bytes)) {
                fprintf(stderr, "rank %d: block from rank %d is wrong\n", rank, r);
                MPI_Abort(MPI_COMM_WORLD, 3);
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, t, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        qsort(t, (size_t) iters, sizeof(double), cmp_double);
        if (rank == 0) {
            int p50 = (iters * 50 + 99) / 100 - 1, p99 = (iters * 99 + 99) / 100 - 1;
            printf("%ld,%d,%.2f,%.2f\n", bytes, iters, t[p50 < 0 ? 0 : p50], t[p99 < 0 ? 0 : p99]);
            fflush(stdout);
        }
        free(t);
        free(pristine);
        free(out);
        free(in);
    }
    MPI_Finalize();
    return 0;
}
