/*
 * onestep_model.c: the SHM one-step all-reduce (ShmCollective.allReduceOneStep) in C, 2
 * processes, in the decode pattern (refill, 5 us of "compute" since the previous call returned,
 * one timed call), to show what each way of reading the sources costs across cores
 * (docs/performance.md, "SHM one-step all-reduce: the own contribution from the caller's
 * buffer"). No MPI: a fork, a shared anonymous mapping, a step counter per process on its own
 * 128-byte line, fp32 SUM with AVX-512 in rank order.
 *
 *   gcc -O2 -mavx512f -o /tmp/onestep_model bench/onestep_model.c      (x86-64 with AVX-512)
 *   /tmp/onestep_model 65536 staged     every rank reduces every staged copy, its own included
 *   /tmp/onestep_model 65536 own        its own contribution read from its buffer instead
 *   /tmp/onestep_model 65536 own 4      the same, staged and published in 4 pieces, each piece
 *                                       reduced as soon as the peer has published it
 *   taskset -c 1 /tmp/onestep_model 16384 own 1 yield
 *                                       waiters sched_yield() instead of spinning: the two
 *                                       processes on one CPU hand it to each other every call
 *
 * Per call each process stages its buffer in its own area (of two, by parity), publishes, and
 * reduces. Prints p50, mean and p99 of each process's calls in microseconds.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

enum { ITERS = 40000, WARM = 5000 };

typedef struct {
    _Alignas(128) atomic_long published;
    char pad[120];
} control;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* dst = a + b, 16 floats at a time; dst may be a or b. */
static void reduce(float *dst, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    }
}

static int yielding;

static void await(control *c, long value) {
    while (atomic_load_explicit(&c->published, memory_order_acquire) < value) {
        if (yielding) sched_yield(); else _mm_pause();
    }
}

int main(int argc, char **argv) {
    size_t bytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
    int own = argc > 2 && strcmp(argv[2], "own") == 0;
    int pieces = argc > 3 ? atoi(argv[3]) : 1;
    yielding = argc > 4 && strcmp(argv[4], "yield") == 0;
    if (bytes < 1024 || bytes % 1024 != 0 || argc < 3 || (!own && strcmp(argv[2], "staged") != 0)
            || pieces < 1 || bytes % (64 * (size_t) pieces) != 0) {
        fprintf(stderr, "usage: onestep_model BYTES(multiple of 1024) staged|own [PIECES [yield]]\n");
        return 2;
    }
    size_t n = bytes / 4, piece = n / (size_t) pieces;
    char *shared = mmap(NULL, 4096 + 4 * bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return 1;
    control *ctl = (control *) shared;
    float *area[2][2];
    for (int q = 0; q < 2; q++) {
        for (int r = 0; r < 2; r++) area[q][r] = (float *) (shared + 4096 + (size_t) (q * 2 + r) * bytes);
    }
    pid_t child = fork();
    int rank = child == 0 ? 1 : 0, peer = 1 - rank;
    float *buf = aligned_alloc(64, bytes), *pristine = aligned_alloc(64, bytes);
    for (size_t i = 0; i < n; i++) pristine[i] = (float) ((rank + i) % 5) - 2;
    double *t = malloc(sizeof(double) * ITERS);
    long published = 0;
    double last = now_us();
    for (int it = -WARM; it < ITERS; it++) {
        memcpy(buf, pristine, bytes);
        while (now_us() - last < 5.0) {
        }
        double t0 = now_us();
        float *mine = area[(it + WARM) & 1][rank];
        float **staged = area[(it + WARM) & 1];
        long base = published;
        for (int p = 0; p < pieces; p++) {
            memcpy(mine + p * piece, buf + p * piece, piece * 4);
            atomic_store_explicit(&ctl[rank].published, ++published, memory_order_release);
        }
        for (int p = 0; p < pieces; p++) {
            await(&ctl[peer], base + p + 1);
            size_t o = (size_t) p * piece;
            const float *s0 = own && rank == 0 ? buf : staged[0];
            const float *s1 = own && rank == 1 ? buf : staged[1];
            reduce(buf + o, s0 + o, s1 + o, piece);
        }
        last = now_us();
        if (it >= 0) t[it] = last - t0;
    }
    qsort(t, ITERS, sizeof(double), cmp);
    double sum = 0;
    for (int i = 0; i < ITERS; i++) sum += t[i];
    printf("rank %d, %zu bytes, %s, %d piece(s)%s: p50 %.2f mean %.2f p99 %.2f us (buf[7] = %.0f, want 1)\n", rank, bytes,
           own ? "own from buf" : "all staged", pieces, yielding ? ", yielding" : "", t[ITERS / 2], sum / ITERS, t[ITERS * 99 / 100], buf[7]);
    fflush(stdout);
    if (child) waitpid(child, NULL, 0);
    return 0;
}
