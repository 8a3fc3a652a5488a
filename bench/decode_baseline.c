/*
 * Open MPI (or MPICH) baseline for `bin/dscomm bench --pattern decode`, measured the same way:
 * MPI_Allreduce(MPI_IN_PLACE, fp32, MPI_SUM) calls back to back, no barrier; between two calls
 * the "compute" refills the buffer from a pristine copy and then does busy arithmetic until
 * COMPUTE_US have passed since it began; every call is timed on every rank and the statistics
 * are over all ranks' calls. With --cold nothing runs before the first timed call (MPI_Init
 * excepted), as in a fresh process; otherwise ITERS/5 (at least 5) untimed calls come first.
 * Rank 0 prints "bytes,iters,mean_us,p50_us,p99_us,p999_us,max_us" per size.
 *
 *   mpicc -O2 -o /tmp/decode_baseline bench/decode_baseline.c
 *   mpirun --allow-run-as-root -np 2 /tmp/decode_baseline [--cold] COMPUTE_US 16384:20000 65536:20000
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static volatile uint64_t sink;

/* Busy arithmetic until `deadline` (us): the same stand-in for a model's compute as the Java bench. */
static void compute_until(double deadline) {
    uint64_t x = sink;
    while (now_us() < deadline) {
        for (int i = 0; i < 16; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

static double pct(const double *sorted, long n, double p) {
    long i = (long) ((p / 100.0) * n + 0.999999) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return sorted[i];
}

int main(int argc, char **argv) {
    int rank, size, a = 1, cold = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (a < argc && strcmp(argv[a], "--cold") == 0) { cold = 1; a++; }
    if (a >= argc) {
        if (rank == 0) fprintf(stderr, "usage: decode_baseline [--cold] COMPUTE_US BYTES:ITERS...\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    double compute = atof(argv[a++]);
    if (rank == 0) printf("bytes,iters,mean_us,p50_us,p99_us,p999_us,max_us\n");
    for (; a < argc; a++) {
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
        int warm = cold ? 0 : (iters / 5 < 5 ? 5 : iters / 5);
        cold = 0;  /* only the first size is cold */
        double *t = malloc(sizeof(double) * (size_t) iters);
        double *all = malloc(sizeof(double) * (size_t) iters * (size_t) size);
        for (int i = -warm; i < iters; i++) {
            double c0 = now_us();
            memcpy(buf, pristine, (size_t) bytes);
            compute_until(c0 + compute);
            double t0 = now_us();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t1 = now_us();
            if (i >= 0) t[i] = t1 - t0;
        }
        MPI_Gather(t, iters, MPI_DOUBLE, all, iters, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            long total = (long) iters * size;
            double sum = 0;
            for (long i = 0; i < total; i++) sum += all[i];
            qsort(all, (size_t) total, sizeof(double), cmp_double);
            printf("%ld,%d,%.2f,%.2f,%.2f,%.2f,%.2f\n", bytes, iters, sum / total, pct(all, total, 50),
                   pct(all, total, 99), pct(all, total, 99.9), all[total - 1]);
            fflush(stdout);
        }
        free(all);
        free(t);
        free(pristine);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
