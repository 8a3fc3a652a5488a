/*
 * The C side of ds.comm.mpi.MpiCallOverhead: nanoseconds per MPI_Allreduce(MPI_IN_PLACE) of one
 * float and per MPI_Comm_rank, at one rank, where the all-reduce is the library's bare call
 * overhead. MPI is initialised with MPI_THREAD_MULTIPLE, as ds-comm's MPI backend does, unless the
 * first argument is "single".
 *
 *   mpicc -O2 -o /tmp/mpi_percall bench/mpi_percall.c
 *   mpirun --allow-run-as-root -np 1 /tmp/mpi_percall [single]
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    int provided, r;
    float x = 1;
    int single = argc > 1 && strcmp(argv[1], "single") == 0;
    MPI_Init_thread(&argc, &argv, single ? MPI_THREAD_SINGLE : MPI_THREAD_MULTIPLE, &provided);
    for (int round = 0; round < 5; round++) {
        long n = 2000000;
        double t0 = now_ns();
        for (long i = 0; i < n; i++) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t1 = now_ns();
        for (long i = 0; i < n; i++) MPI_Comm_rank(MPI_COMM_WORLD, &r);
        double t2 = now_ns();
        printf("thread level %d: MPI_Allreduce(1 float) %.1f ns, MPI_Comm_rank %.1f ns\n", provided, (t1 - t0) / n,
               (t2 - t1) / n);
    }
    MPI_Finalize();
    return 0;
}
