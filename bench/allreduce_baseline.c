/*
 * Open MPI (or MPICH) baseline for bin/dscomm bench, measured the same way:
 * MPI_Allreduce(MPI_IN_PLACE, fp32, MPI_SUM); before every iteration the buffer is refilled
 * from a pristine copy and the ranks meet at a barrier, both outside the timed region; an
 * iteration's time is the slowest rank's (MAX over ranks of the per-iteration times); rank 0
 * prints "bytes,iters,p50_us,p99_us" per size.
 *
 *   mpicc -O2 -o /tmp/allreduce_baseline bench/allreduce_baseline.c
 *   mpirun --allow-run-as-root -np 2 /tmp/allreduce_baseline 4096:1000 65536:1000 1048576:200 16777216:40
 *
 * A first argument --thread-multiple initialises MPI with MPI_Init_thread(MPI_THREAD_MULTIPLE),
 * the level ds-comm's MPI backend asks for by default: Open MPI then takes its internal locks on
 * every call, which costs a small all-reduce more than the whole Java side does
 * (docs/performance.md). --thread-level=single|funneled|serialized|multiple asks for any level
 * through MPI_Init_thread (Open MPI 4.1 locks at every level above single). A further first
 * argument --nonblocking times MPI_Iallreduce completed by an MPI_Test loop instead (what a
 * caller that must not block inside MPI would pay).
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
    int rank, size, first = 1, nonblocking = 0;
    if (argc > 1 && strcmp(argv[1], "--nonblocking") == 0) {
        nonblocking = 1;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc > 1 && strcmp(argv[1], "--thread-multiple") == 0) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
        first = 2;
    } else if (argc > 1 && strncmp(argv[1], "--thread-level=", 15) == 0) {
        const char *name = argv[1] + 15;
        int wanted = strcmp(name, "single") == 0 ? MPI_THREAD_SINGLE
                   : strcmp(name, "funneled") == 0 ? MPI_THREAD_FUNNELED
                   : strcmp(name, "serialized") == 0 ? MPI_THREAD_SERIALIZED
                   : strcmp(name, "multiple") == 0 ? MPI_THREAD_MULTIPLE : -1;
        if (wanted < 0) {
            fprintf(stderr, "bad thread level '%s' (want single, funneled, serialized or multiple)\n", name);
            return 2;
        }
        int provided;
        MPI_Init_thread(&argc, &argv, wanted, &provided);
        if (provided != wanted) fprintf(stderr, "asked for thread level %d, MPI provides %d\n", wanted, provided);
        first = 2;
    } else {
        MPI_Init(&argc, &argv);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) printf("bytes,iters,p50_us,p99_us\n");
    for (int a = first; a < argc; a++) {
        long bytes = 0;
        int iters = 0;
        if (sscanf(argv[a], "%ld:%d", &bytes, &iters) != 2 || bytes < 4 || iters < 1) {
            if (rank == 0) fprintf(stderr, "bad argument '%s' (want BYTES:ITERS)\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        long n = bytes / (long) sizeof(float);
        float *buf = aligned_alloc(64, (size_t) bytes);
        float *pristine = aligned_alloc(64, (size_t) bytes);
        for (long i = 0; i < n; i++) pristine[i] = (float) ((rank + i) % 5 - 2);
        int warm = iters / 10 < 5 ? 5 : iters / 10;
        double *t = malloc(sizeof(double) * (size_t) iters);
        for (int i = -warm; i < iters; i++) {
            memcpy(buf, pristine, (size_t) bytes);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (nonblocking) {
                MPI_Request req;
                int done = 0;
                MPI_Iallreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
                while (!done) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            } else {
                MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            }
            double t1 = MPI_Wtime();
            if (i >= 0) t[i] = (t1 - t0) * 1e6;
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
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
