/* Shared by the integration tests: a record tracker that checks exactly-once, per-partition
 * order and per-partition exclusivity, and an app built from declaration text. */
#ifndef BROOK_ITEST_H
#define BROOK_ITEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"
#include "brook/brook_test.h"

#define IT_MAX_PARTITIONS 16

/* The embedded cluster a test file's tests share, held from setup to teardown so apps can be
 * destroyed and started again against the same data. */
static brook_test_cluster_t *cluster;

static inline int it_setup(void **state) {
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

/* Skips the calling test on a real cluster, for faults only the embedded one can make; the
 * fault matrix (tests/kafka/faults.py) covers them on real brokers. */
#define it_require_embedded(what)                                                                  \
    do {                                                                                           \
        if (!brook_test_is_embedded(cluster)) {                                                    \
            print_message("skipped on a real cluster: needs %s\n", what);                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static inline int it_teardown(void **state) {
    brook_test_cluster_destroy(cluster);
    return 0;
}

typedef struct {
    pthread_mutex_t lock;
    int n;     /* records expected: values "<prefix>-<i>", i < n */
    int *seen; /* handler calls per value */
    long long last_offset[IT_MAX_PARTITIONS];
    atomic_int busy[IT_MAX_PARTITIONS]; /* handlers running now, per partition */
    atomic_int overlaps;                /* times a partition was handled by two threads at once */
    atomic_int out_of_order;
    atomic_int total;   /* handler calls */
    atomic_int unknown; /* values not of the expected form */
} it_tracker_t;

static inline void it_tracker_init(it_tracker_t *t, int n) {
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->n = n;
    t->seen = calloc((size_t)n, sizeof(int));
    for (int p = 0; p < IT_MAX_PARTITIONS; p++)
        t->last_offset[p] = -1;
}

static inline void it_tracker_free(it_tracker_t *t) {
    free(t->seen);
    pthread_mutex_destroy(&t->lock);
}

/* Records one handled record: value "<prefix>-<i>". */
static inline void it_track(it_tracker_t *t, brook_ctx_t *ctx, const char *value) {
    const brook_record_t *r = brook_ctx_record(ctx);
    int p = r->partition;
    if (atomic_fetch_add(&t->busy[p], 1) != 0)
        atomic_fetch_add(&t->overlaps, 1);
    const char *dash = value ? strrchr(value, '-') : NULL;
    int i = dash ? atoi(dash + 1) : -1;
    pthread_mutex_lock(&t->lock);
    if (i >= 0 && i < t->n)
        t->seen[i]++;
    else
        atomic_fetch_add(&t->unknown, 1);
    /* Offsets only grow within a partition, except after a rebalance or restart hands it
     * back to an earlier committed offset; tests that expect that reset last_offset. */
    if (r->offset <= t->last_offset[p])
        atomic_fetch_add(&t->out_of_order, 1);
    t->last_offset[p] = r->offset;
    pthread_mutex_unlock(&t->lock);
    atomic_fetch_add(&t->total, 1);
    atomic_fetch_sub(&t->busy[p], 1);
}

/* How many distinct values were handled at least once. */
static inline int it_distinct(it_tracker_t *t) {
    int d = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->n; i++)
        d += t->seen[i] > 0;
    pthread_mutex_unlock(&t->lock);
    return d;
}

static inline int it_duplicates(it_tracker_t *t) {
    int d = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->n; i++)
        d += t->seen[i] > 1 ? t->seen[i] - 1 : 0;
    pthread_mutex_unlock(&t->lock);
    return d;
}

static inline void it_reset_order(it_tracker_t *t) {
    pthread_mutex_lock(&t->lock);
    for (int p = 0; p < IT_MAX_PARTITIONS; p++)
        t->last_offset[p] = -1;
    pthread_mutex_unlock(&t->lock);
}

/* An app from declaration text, asserted to build. */
/* Produces "<prefix>-<i>" for i in [first, first + n) (key and value) to partition 0 one at a
 * time, so that on a new topic value i is at offset i (brook_test_produce_n lets records
 * overtake each other when one is retried, as a fresh broker may make it). */
static inline void it_produce_in_order(const char *topic, const char *prefix, int first, int n) {
    for (int i = first; i < first + n; i++) {
        char v[32];
        snprintf(v, sizeof(v), "%s-%d", prefix, i);
        assert_int_equal(brook_test_produce(cluster, topic, 0, v, strlen(v), v, strlen(v), NULL, 0),
                         0);
    }
}

static inline brook_app_t *it_app(const char *decl) {
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "it.brook", NULL, &err);
    if (!app)
        fail_msg("declaration: %s", err.message);
    return app;
}

static inline void it_start(brook_app_t *app) {
    brook_error_t err = {0};
    if (brook_app_start(app, &err))
        fail_msg("start: %s", err.message);
}

/* The committed offset of group on topic/partition, or BROOK_TEST_NO_OFFSET; a query that
 * failed fails the test, so that no comparison of the offset can pass on it. */
static inline int64_t it_committed(const char *group, const char *topic, int32_t partition) {
    int64_t o = brook_test_committed(cluster, group, topic, partition);
    if (o < 0 && o != BROOK_TEST_NO_OFFSET)
        fail_msg("committed offset of %s on %s[%d]: %s", group, topic, (int)partition,
                 brook_err2str((int)o));
    return o;
}

/* The sum over partitions 0..partitions-1 of group's committed offsets on topic (none: 0). */
static inline int64_t it_committed_total(const char *group, const char *topic, int partitions) {
    int64_t sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t o = it_committed(group, topic, p);
        sum += o == BROOK_TEST_NO_OFFSET ? 0 : o;
    }
    return sum;
}

#endif
