/* Seeks (Spring's ConsumerSeekAware): from a handler to the beginning, a timestamp, the end and an
 * offset, from an on-assigned callback, and over a blocking retry. Each test asserts which records
 * were handled how often, in what order, and what the group committed. */
#include <time.h>

#include "itest.h"

#define N_MAX 64

/* What the handlers saw: calls per value index, and the order of the calls. */
static struct {
    pthread_mutex_t lock;
    int seen[N_MAX];
    int order[4 * N_MAX]; /* value index of each call */
    int64_t offsets[4 * N_MAX];
    int attempts[4 * N_MAX];
    int calls;
} hl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void hl_reset(void) {
    pthread_mutex_lock(&hl.lock);
    memset(hl.seen, 0, sizeof(hl.seen));
    hl.calls = 0;
    pthread_mutex_unlock(&hl.lock);
}

static int index_of(const char *value) {
    const char *dash = value ? strrchr(value, '-') : NULL;
    return dash ? atoi(dash + 1) : -1;
}

/* Notes the call; returns how many times the value was seen before. */
static int hl_note(brook_ctx_t *ctx, const char *value) {
    int i = index_of(value);
    assert_true(i >= 0 && i < N_MAX);
    pthread_mutex_lock(&hl.lock);
    int before = hl.seen[i]++;
    if (hl.calls < 4 * N_MAX) {
        hl.order[hl.calls] = i;
        hl.offsets[hl.calls] = brook_ctx_record(ctx)->offset;
        hl.attempts[hl.calls] = brook_ctx_attempt(ctx);
    }
    hl.calls++;
    pthread_mutex_unlock(&hl.lock);
    return before;
}

static int hl_calls(void) {
    pthread_mutex_lock(&hl.lock);
    int n = hl.calls;
    pthread_mutex_unlock(&hl.lock);
    return n;
}

/* What the handlers saw, for a failure's message. */
static void hl_print(void) {
    pthread_mutex_lock(&hl.lock);
    print_message("%d handler call(s):", hl.calls);
    for (int k = 0; k < hl.calls && k < 4 * N_MAX; k++)
        print_message(" %d@%lld", hl.order[k], (long long)hl.offsets[k]);
    print_message("\n");
    pthread_mutex_unlock(&hl.lock);
}

/* Waits for expr; on a timeout prints what was handled, then fails. */
#define WAIT_OR_DUMP(expr, ms)                                                                     \
    do {                                                                                           \
        if (!BROOK_TEST_WAIT_UNTIL(expr, ms)) {                                                    \
            hl_print();                                                                            \
            fail_msg("timed out waiting for %s", #expr);                                           \
        }                                                                                          \
    } while (0)

static int hl_seen(int i) {
    pthread_mutex_lock(&hl.lock);
    int n = hl.seen[i];
    pthread_mutex_unlock(&hl.lock);
    return n;
}

/* The seek a handler makes, and what it returned. */
typedef enum { NONE, TO_BEGINNING, TO_END, TO_OFFSET, TO_TIMESTAMP, RETRY_AND_SEEK } action_t;
static struct {
    const char *topic;
    int at;          /* value index whose first call seeks */
    action_t action; /* what it does there */
    int64_t arg;     /* offset or timestamp */
    int at2;         /* a second seek (TO_OFFSET), at this index; -1: none */
    int64_t arg2;
    atomic_int rc; /* the seek's result */
    atomic_int rc2;
    atomic_int errors; /* seeks expected to fail that did not fail as expected */
} plan;

#define PLAN_NOT_RUN 12345 /* the seek's result before the seek ran */

static void plan_set(const char *topic, int at, action_t action, int64_t arg) {
    plan.topic = topic;
    plan.at = at;
    plan.action = action;
    plan.arg = arg;
    plan.at2 = -1;
    atomic_store(&plan.rc, PLAN_NOT_RUN);
    atomic_store(&plan.rc2, PLAN_NOT_RUN);
    atomic_store(&plan.errors, 0);
}

/* Seeks that must be refused, from a handler of a one-partition topic. */
static void refused_seeks(brook_ctx_t *ctx) {
    int bad = 0;
    bad += brook_ctx_seek(ctx, plan.topic, 5, 0) != BROOK_ERR_NOT_FOUND;
    bad += brook_ctx_seek(ctx, "seek.nobody", BROOK_PARTITION_ALL, 0) != BROOK_ERR_NOT_FOUND;
    bad += brook_ctx_seek(ctx, plan.topic, 0, -5) != BROOK_ERR_INVALID_ARG;
    bad += brook_ctx_seek(ctx, NULL, 0, 0) != BROOK_ERR_INVALID_ARG;
    bad += brook_ctx_seek(NULL, plan.topic, 0, 0) != BROOK_ERR_INVALID_ARG;
    bad += brook_ctx_seek_to_end(ctx, plan.topic, -2) != BROOK_ERR_INVALID_ARG;
    atomic_fetch_add(&plan.errors, bad);
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    int i = index_of(value);
    int before = hl_note(ctx, value);
    if (before == 0 && i == plan.at) {
        int rc = 0;
        switch (plan.action) {
        case NONE:
            break;
        case TO_BEGINNING:
            rc = brook_ctx_seek_to_beginning(ctx, plan.topic, BROOK_PARTITION_ALL);
            break;
        case TO_END:
            rc = brook_ctx_seek_to_end(ctx, plan.topic, 0);
            break;
        case TO_OFFSET:
            refused_seeks(ctx);
            rc = brook_ctx_seek(ctx, plan.topic, 0, plan.arg);
            break;
        case TO_TIMESTAMP:
            rc = brook_ctx_seek_to_timestamp(ctx, plan.topic, 0, plan.arg);
            break;
        case RETRY_AND_SEEK:
            /* The record fails (a blocking retry would deliver it again after a minute) and
             * the partition is sought past it: the seek wins. */
            atomic_store(&plan.rc, brook_ctx_seek(ctx, plan.topic, 0, plan.arg));
            return brook_ctx_fail(ctx, "test.Retry", "attempt %d", brook_ctx_attempt(ctx));
        }
        atomic_store(&plan.rc, rc);
        if (rc)
            print_message("seek at %d: %s (%d)\n", i, brook_err2str(rc), rc);
    }
    if (before == 0 && i == plan.at2) {
        int rc = brook_ctx_seek(ctx, plan.topic, 0, plan.arg2);
        atomic_store(&plan.rc2, rc);
        if (rc)
            print_message("seek at %d: %s (%d)\n", i, brook_err2str(rc), rc);
    }
    return BROOK_OK;
}

static char *decl_of(const char *name, const char *topic, int partitions, const char *extra) {
    static char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 100; };\n"
             "topics = ( { name = \"%s\"; partitions = %d; } );\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; value = \"string\"; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_record\"; %s } );\n",
             name, topic, partitions, topic, topic, extra ? extra : "");
    return decl;
}

static brook_app_t *start_app(const char *name, const char *topic, int partitions,
                              const char *extra) {
    brook_app_t *app = it_app(decl_of(name, topic, partitions, extra));
    assert_int_equal(brook_app_set_handler(app, "l", on_record, NULL), 0);
    it_start(app);
    return app;
}

static void stop_app(brook_app_t *app) {
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* To the beginning from the last record: every record is handled exactly once more, in offset
 * order, and the group ends committed at the end. */
static void test_seek_to_beginning(void **state) {
    const char *topic = "seek.begin";
    hl_reset();
    plan_set(topic, 9, TO_BEGINNING, 0);
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    it_produce_in_order(topic, "b", 0, 10);
    brook_app_t *app = start_app("seek-begin", topic, 1, NULL);
    WAIT_OR_DUMP(hl_calls() >= 20, 30000);
    WAIT_OR_DUMP(it_committed("seek-begin", topic, 0) == 10, 10000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(hl_calls(), 20);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(hl_seen(i), 2);
        assert_int_equal(hl.offsets[i], i);      /* first pass */
        assert_int_equal(hl.offsets[10 + i], i); /* again, from the beginning, in order */
    }
    assert_int_equal(it_committed("seek-begin", topic, 0), 10);
}

/* To the beginning of every partition of a three-partition topic at once (their watermarks
 * asked together), from the handler of a record produced after the others were handled: every
 * record, of every partition, is handled exactly once more; all committed at their ends. */
static void produce_at(const char *topic, int partition, int i) {
    char v[16];
    snprintf(v, sizeof(v), "a-%d", i);
    assert_int_equal(
        brook_test_produce(cluster, topic, partition, v, strlen(v), v, strlen(v), NULL, 0), 0);
}

static void test_seek_all_to_beginning(void **state) {
    const char *topic = "seek.all";
    hl_reset();
    plan_set(topic, 15, TO_BEGINNING, 0);
    assert_int_equal(brook_test_create_topic(cluster, topic, 3), 0);
    for (int i = 0; i < 15; i++)
        produce_at(topic, i % 3, i);
    brook_app_t *app = start_app("seek-all", topic, 3, NULL);
    WAIT_OR_DUMP(hl_calls() == 15, 30000);
    produce_at(topic, 0, 15); /* its handler seeks */
    WAIT_OR_DUMP(hl_calls() >= 32, 30000);
    WAIT_OR_DUMP(it_committed("seek-all", topic, 0) == 6 &&
                     it_committed("seek-all", topic, 1) == 5 &&
                     it_committed("seek-all", topic, 2) == 5,
                 10000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(hl_calls(), 32);
    for (int i = 0; i < 16; i++)
        assert_int_equal(hl_seen(i), 2);
}

/* To the end from the fourth record: the six the consumer had fetched behind it are dropped, not
 * handled, and the end is committed although no record was handled there; the listener goes on
 * with what is produced after. */
static void test_seek_to_end(void **state) {
    const char *topic = "seek.end";
    hl_reset();
    plan_set(topic, 3, TO_END, 0);
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    it_produce_in_order(topic, "e", 0, 10);
    brook_app_t *app = start_app("seek-end", topic, 1, NULL);
    WAIT_OR_DUMP(it_committed("seek-end", topic, 0) == 10, 30000);
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(hl_calls(), 4);
    it_produce_in_order(topic, "e", 10, 5);
    WAIT_OR_DUMP(it_committed("seek-end", topic, 0) == 15, 30000);
    stop_app(app);
    assert_int_equal(hl_calls(), 9);
    for (int i = 0; i < 15; i++)
        assert_int_equal(hl_seen(i), i <= 3 || i >= 10 ? 1 : 0);
}

/* To an offset (forward), then past the end, from handlers; and the seeks a handler may not make
 * are refused with the documented errors. Past the end is the end: the listener does not fall back
 * on start_from (earliest), which would read the partition again. */
static void test_seek_to_offset(void **state) {
    const char *topic = "seek.offset";
    hl_reset();
    plan_set(topic, 2, TO_OFFSET, 7);
    plan.at2 = 7;
    plan.arg2 = 1000000;
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    it_produce_in_order(topic, "o", 0, 10);
    brook_app_t *app = start_app("seek-offset", topic, 1, NULL);
    WAIT_OR_DUMP(it_committed("seek-offset", topic, 0) == 10, 30000);
    if (atomic_load(&plan.rc) || atomic_load(&plan.rc2))
        hl_print();
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(atomic_load(&plan.rc2), 0);
    assert_int_equal(atomic_load(&plan.errors), 0);
    it_produce_in_order(topic, "o", 10, 2);
    WAIT_OR_DUMP(it_committed("seek-offset", topic, 0) == 12, 30000);
    stop_app(app);
    int expected[] = {0, 1, 2, 7, 10, 11};
    assert_int_equal(hl_calls(), 6);
    for (int k = 0; k < 6; k++)
        assert_int_equal(hl.order[k], expected[k]);
    /* Outside a handler or callback: refused. */
    assert_int_equal(brook_ctx_seek_to_beginning(NULL, topic, 0), BROOK_ERR_INVALID_ARG);
}

static void wall_now(int64_t *ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* To a timestamp: records sent with timestamps one second apart (by the app's template, before the
 * listener, declared auto_startup = false, starts); from the last one the handler seeks to a time
 * between the sixth and the seventh: the last four are handled again, once. A time later than every
 * record's is the end. */
static void test_seek_to_timestamp(void **state) {
    const char *topic = "seek.time";
    int64_t base;
    wall_now(&base);
    base -= 60000;
    hl_reset();
    plan_set(topic, 9, TO_TIMESTAMP, base + 5500);
    plan.at2 = -1;
    brook_app_t *app = start_app("seek-time", topic, 1, "auto_startup = false;");
    brook_template_t *out = brook_app_template(app, "out");
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof(v), "t-%d", i);
        brook_send_opts_t o = BROOK_SEND_OPTS_INIT;
        o.partition = 0;
        o.timestamp = base + i * 1000;
        assert_int_equal(brook_template_send(out, v, v, &o), 0);
    }
    assert_int_equal(brook_template_flush(out, 10000), 0);
    brook_listener_t *l = brook_app_listener(app, "l");
    assert_int_equal(brook_listener_start(l, NULL), 0);
    WAIT_OR_DUMP(hl_calls() >= 14, 30000);
    WAIT_OR_DUMP(it_committed("seek-time", topic, 0) == 10, 10000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(hl_calls(), 14);
    for (int i = 0; i < 10; i++)
        assert_int_equal(hl_seen(i), i >= 6 ? 2 : 1);
    for (int k = 10; k < 14; k++)
        assert_int_equal(hl.offsets[k], k - 4); /* 6, 7, 8, 9 again */

    /* Again from the first record, to a time after every record's: the end. */
    hl_reset();
    plan_set(topic, 0, TO_TIMESTAMP, base + 3600000);
    app = start_app("seek-time-2", topic, 1, NULL);
    WAIT_OR_DUMP(it_committed("seek-time-2", topic, 0) == 10, 30000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), 0);
    assert_int_equal(hl_calls(), 1);
}

/* A blocking retry is abandoned for a seek: the failed record is not delivered again (its retry
 * was due a minute later) and the partition goes on from the offset sought. */
static void test_seek_over_retry(void **state) {
    const char *topic = "seek.retry";
    hl_reset();
    plan_set(topic, 3, RETRY_AND_SEEK, 5);
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    it_produce_in_order(topic, "r", 0, 10);
    brook_app_t *app = start_app(
        "seek-retry", topic, 1,
        "retry = { attempts = 3; backoff = { delay_ms = 60000; }; }; dlt = { enabled = false; };");
    WAIT_OR_DUMP(it_committed("seek-retry", topic, 0) == 10, 30000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), 0);
    int expected[] = {0, 1, 2, 3, 5, 6, 7, 8, 9};
    assert_int_equal(hl_calls(), 9);
    for (int k = 0; k < 9; k++) {
        assert_int_equal(hl.order[k], expected[k]);
        assert_int_equal(hl.attempts[k], 1);
    }
}

/* On assignment (Spring's onPartitionsAssigned): partition 0 starts at offset 4, partition 1 at
 * its end, whatever the group committed: exactly the records after those are handled, and the
 * sought offsets are committed. */
static struct {
    atomic_int calls, parts, errors;
    const char *topic;
} assigned;

static void on_assigned(brook_ctx_t *ctx, const brook_topic_partition_t *parts, size_t count,
                        void *opaque) {
    atomic_fetch_add(&assigned.calls, 1);
    atomic_fetch_add(&assigned.parts, (int)count);
    int bad = 0;
    bad += brook_ctx_record(ctx) != NULL;
    bad += strcmp(brook_ctx_listener_id(ctx), "l") != 0;
    bad += brook_ctx_app(ctx) != opaque;
    for (size_t i = 0; i < count; i++) {
        bad += strcmp(parts[i].topic, assigned.topic) != 0;
        if (parts[i].partition == 0)
            bad += brook_ctx_seek(ctx, assigned.topic, 0, 4) != 0;
        else
            bad += brook_ctx_seek_to_end(ctx, assigned.topic, parts[i].partition) != 0;
    }
    bad += brook_ctx_seek(ctx, assigned.topic, 7, 0) != BROOK_ERR_NOT_FOUND;
    atomic_fetch_add(&assigned.errors, bad);
}

static void test_seek_on_assignment(void **state) {
    const char *topic = "seek.assign";
    hl_reset();
    plan_set(topic, -1, NONE, 0);
    assigned.topic = topic;
    assert_int_equal(brook_test_create_topic(cluster, topic, 2), 0);
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof(v), "a-%d", i);
        assert_int_equal(
            brook_test_produce(cluster, topic, i < 10 ? 0 : 1, v, strlen(v), v, strlen(v), NULL, 0),
            0);
    }
    brook_app_t *app = it_app(decl_of("seek-assign", topic, 2, NULL));
    assert_int_equal(brook_app_set_handler(app, "l", on_record, NULL), 0);
    brook_listener_t *l = brook_app_listener(app, "l");
    assert_int_equal(brook_listener_on_assigned(l, on_assigned, app), 0);
    it_start(app);
    assert_int_equal(brook_listener_on_assigned(l, on_assigned, app), BROOK_ERR_STATE);
    WAIT_OR_DUMP(it_committed("seek-assign", topic, 0) == 10 &&
                     it_committed("seek-assign", topic, 1) == 10,
                 30000);
    assert_int_equal(hl_calls(), 6);
    for (int i = 0; i < 3; i++) {
        char v[16];
        snprintf(v, sizeof(v), "a-%d", 20 + i);
        assert_int_equal(brook_test_produce(cluster, topic, 1, v, strlen(v), v, strlen(v), NULL, 0),
                         0);
    }
    WAIT_OR_DUMP(it_committed("seek-assign", topic, 1) == 13, 30000);
    stop_app(app);
    assert_int_equal(atomic_load(&assigned.errors), 0);
    assert_int_equal(atomic_load(&assigned.parts), 2);
    assert_int_equal(hl_calls(), 9);
    for (int i = 0; i < 23; i++)
        assert_int_equal(hl_seen(i), (i >= 4 && i < 10) || i >= 20 ? 1 : 0);
    assert_int_equal(it_committed("seek-assign", topic, 0), 10);
}

/* An exactly-once listener's handler may not seek (its offsets go with its transactions). */
static void test_seek_exactly_once_refused(void **state) {
    const char *topic = "seek.eos";
    hl_reset();
    plan_set(topic, 0, TO_BEGINNING, 0);
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    it_produce_in_order(topic, "x", 0, 3);
    brook_app_t *app = start_app("seek-eos", topic, 1, "exactly_once = true;");
    WAIT_OR_DUMP(it_committed("seek-eos", topic, 0) == 3, 30000);
    stop_app(app);
    assert_int_equal(atomic_load(&plan.rc), BROOK_ERR_UNSUPPORTED);
    assert_int_equal(hl_calls(), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seek_to_beginning),  cmocka_unit_test(test_seek_all_to_beginning),
        cmocka_unit_test(test_seek_to_end),        cmocka_unit_test(test_seek_to_offset),
        cmocka_unit_test(test_seek_to_timestamp),  cmocka_unit_test(test_seek_over_retry),
        cmocka_unit_test(test_seek_on_assignment), cmocka_unit_test(test_seek_exactly_once_refused),
    };
    if (getenv("IT_ONLY")) /* one test by name, when investigating */
        cmocka_set_test_filter(getenv("IT_ONLY"));
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
