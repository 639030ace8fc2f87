/*
 * A latency histogram with fixed buckets (docs/operations.md), cheap enough for the per-record
 * path: one writer thread (a listener member) adds to its own histogram with relaxed atomics,
 * which compile to plain loads and stores, no lock prefix and no allocation; readers (a
 * metrics scrape, any thread) sum the histograms of a listener's members. A reader may see a
 * record in a bucket before its duration is in the sum: scrapes tolerate that.
 */
#ifndef BROOK_CORE_HISTOGRAM_H
#define BROOK_CORE_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Upper bounds of the buckets, in seconds and in nanoseconds; one more bucket holds what is
 * above the last (Prometheus' le="+Inf"). */
/* clang-format off */
#define BROOK__HISTOGRAM_BOUNDS(X)                                                                 \
    X(0.0005) X(0.001) X(0.0025) X(0.005) X(0.01) X(0.025) X(0.05)                                 \
    X(0.1) X(0.25) X(0.5) X(1.0) X(2.5) X(5.0) X(10.0)
/* clang-format on */
#define BROOK__HISTOGRAM_COUNT_ONE(s) +1
enum { BROOK__HISTOGRAM_BUCKETS = 0 BROOK__HISTOGRAM_BOUNDS(BROOK__HISTOGRAM_COUNT_ONE) };

typedef struct {
    atomic_uint_fast64_t counts[BROOK__HISTOGRAM_BUCKETS + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t sum_ns;
} brook__histogram_t;

/* A reader's copy, summed over histograms. */
typedef struct {
    uint64_t counts[BROOK__HISTOGRAM_BUCKETS + 1];
    uint64_t sum_ns;
} brook__histogram_snap_t;

/* Nanoseconds on the monotonic clock (the vDSO: no system call). */
static inline int64_t brook__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void brook__histogram_add(atomic_uint_fast64_t *a, uint64_t v) {
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* One observation of `ns` nanoseconds. Only the histogram's one writer thread calls this. */
static inline void brook__histogram_observe(brook__histogram_t *h, int64_t ns) {
#define BROOK__HISTOGRAM_NS(s) (uint64_t)((s)*1e9),
    static const uint64_t bounds_ns[BROOK__HISTOGRAM_BUCKETS] = {
        BROOK__HISTOGRAM_BOUNDS(BROOK__HISTOGRAM_NS)};
#undef BROOK__HISTOGRAM_NS
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    int i = 0;
    while (i < BROOK__HISTOGRAM_BUCKETS && v > bounds_ns[i])
        i++;
    brook__histogram_add(&h->counts[i], 1);
    brook__histogram_add(&h->sum_ns, v);
}

/* Adds h to s (any thread). */
static inline void brook__histogram_read(const brook__histogram_t *h, brook__histogram_snap_t *s) {
    for (int i = 0; i <= BROOK__HISTOGRAM_BUCKETS; i++)
        s->counts[i] += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    s->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

#endif
