/*
 * staging_copy.c: the SHM all-to-all's copy path in C, 2 processes, with four ways to copy,
 * to show what the copy loop alone costs across cores (docs/performance.md, "SHM copies with
 * libc memmove"). No MPI: a fork, a shared anonymous mapping and two step counters.
 *
 * Per iteration each process stages the block for its peer in its own area (of two, by
 * parity, as ShmCollective does), publishes its step, waits for the peer's, copies its own
 * block locally and the peer's staged block out. Prints p50, mean and p99 of rank 0's
 * iterations in microseconds.
 *
 *   gcc -O2 -mavx2 -o /tmp/staging_copy bench/staging_copy.c     (x86-64 only)
 *   /tmp/staging_copy 65536 memcpy; /tmp/staging_copy 65536 avx2; ... movsb, long
 *
 *   memcpy  glibc memcpy (rep movsb at these sizes on x86)
 *   avx2    a 2 x 32-byte vector load/store loop, like the JVM's copy stub
 *   long    an 8-byte load/store loop
 *   movsb   rep movsb directly
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
#include <unistd.h>

enum { ITERS = 20000 };

typedef struct {
    _Alignas(128) atomic_long step;
    char pad[120];
} control;

static int how;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void copy(char *dst, const char *src, size_t n) {
    switch (how) {
    case 0:
        memcpy(dst, src, n);
        break;
    case 1:
        for (size_t i = 0; i + 64 <= n; i += 64) {
            __m256i a = _mm256_loadu_si256((const void *) (src + i));
            __m256i b = _mm256_loadu_si256((const void *) (src + i + 32));
            _mm256_storeu_si256((void *) (dst + i), a);
            _mm256_storeu_si256((void *) (dst + i + 32), b);
        }
        break;
    case 2:
        for (size_t i = 0; i + 8 <= n; i += 8) *(long *) (dst + i) = *(const long *) (src + i);
        break;
    default:
        __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *names[] = {"memcpy", "avx2", "long", "movsb"};
    size_t block = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
    how = -1;
    for (int i = 0; i < 4 && argc > 2; i++) if (strcmp(argv[2], names[i]) == 0) how = i;
    if (block < 64 || block % 64 != 0 || how < 0) {
        fprintf(stderr, "usage: staging_copy BLOCK(multiple of 64) memcpy|avx2|long|movsb\n");
        return 2;
    }
    char *shared = mmap(NULL, 4096 + 4 * block, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return 1;
    control *steps = (control *) shared;
    pid_t child = fork();
    int me = child == 0, peer = 1 - me;
    char *in = aligned_alloc(4096, 2 * block), *out = aligned_alloc(4096, 2 * block);
    memset(in, me + 1, 2 * block);
    memset(out, 0, 2 * block);
    double *lat = malloc(sizeof(double) * ITERS);
    long s = 0;
    for (int i = -ITERS / 5; i < ITERS; i++) {
        double t0 = now_us();
        char *mine = shared + 4096 + (size_t) (me * 2 + (i & 1)) * block;
        char *theirs = shared + 4096 + (size_t) (peer * 2 + (i & 1)) * block;
        copy(mine, in + peer * block, block);
        atomic_store_explicit(&steps[me].step, ++s, memory_order_release);
        while (atomic_load_explicit(&steps[peer].step, memory_order_acquire) < s) { }
        copy(out + me * block, in + me * block, block);
        copy(out + peer * block, theirs, block);
        if (i >= 0) lat[i] = now_us() - t0;
    }
    if (out[peer * block] != (char) (peer + 1)) {
        fprintf(stderr, "rank %d: wrong block\n", me);
        return 3;
    }
    if (me == 0) {
        double mean = 0;
        for (int i = 0; i < ITERS; i++) mean += lat[i] / ITERS;
        qsort(lat, ITERS, sizeof(double), cmp);
        printf("%s block %zu: p50 %.2f mean %.2f p99 %.2f us\n", names[how], block, lat[ITERS / 2], mean,
               lat[ITERS * 99 / 100]);
        waitpid(child, NULL, 0);
    }
    return 0;
}
