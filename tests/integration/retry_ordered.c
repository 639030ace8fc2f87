/* Ordered retries (retry.preserve_key_order, docs/ordered-retries.md): records of a key whose
 * record waits in the retry chain are parked and handled after it, in order, while other keys
 * flow; a key's dead-lettered record is followed by its later records in order; a crash (the
 * app destroyed without a stop) and a restart keep each key's order and lose nothing; a parked
 * record's handler never sees the parking topic's own headers.
 *
 * Every record is produced before the service starts, so which records get parked is known:
 * the test asserts exactly what was handled, parked, dead-lettered and committed. */
#include "retry_it.h"

#define KEYS 6
#define PER_KEY 20
#define PARTITIONS 4

/* One handler call, in the order calls happened (a key's calls all run on one thread). */
typedef struct {
    int key, seq, attempt, result;
    int64_t wall_ms;
    char topic[96];
    int64_t offset;
} call_t;

static struct {
    pthread_mutex_t lock;
    int n;
    call_t calls[8192];
    int parking_headers; /* calls for a main-topic record that showed the parking topic's headers */
} log_;

static char topic[96], dlt[128], parking[128], retry1[128], retry2[128];

/* The failures injected, by key and sequence number: k1-3 fails once; k2-5 twice (so it moves
 * from the first retry topic to the second); k3-2 always (dead-lettered after 3 attempts) and
 * k3-10 is not retryable (dead-lettered at once); k4-0 fails once and k4-1, released after it,
 * once too. k0 and k5 never fail. */
static brook_result_t plan(brook_ctx_t *ctx, int key, int seq, int attempt) {
    if ((key == 1 && seq == 3 && attempt == 1) || (key == 2 && seq == 5 && attempt <= 2) ||
        (key == 3 && seq == 2) || (key == 4 && seq <= 1 && attempt == 1))
        return brook_ctx_fail(ctx, "test.Flaky", "k%d-%d attempt %d", key, seq, attempt);
    if (key == 3 && seq == 10)
        return brook_ctx_fail(ctx, "test.Invalid", "k%d-%d", key, seq);
    return BROOK_OK;
}

static bool is_dead(int key, int seq) {
    return key == 3 && (seq == 2 || seq == 10);
}

/* Calls each record gets in a run without a crash. */
static int attempts_of(int key, int seq) {
    if (key == 1 && seq == 3)
        return 2;
    if (key == 2 && seq == 5)
        return 3;
    if (key == 3 && seq == 2)
        return 3;
    if (key == 4 && seq <= 1)
        return 2;
    return 1;
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    (void)key;
    (void)op;
    int k = -1, s = -1;
    sscanf(value, "k%d-%d", &k, &s);
    brook_result_t res = plan(ctx, k, s, brook_ctx_attempt(ctx));
    const brook_record_t *r = brook_ctx_record(ctx);
    const void *hv;
    size_t hl;
    bool parking_header =
        !strcmp(r->topic, topic) && (brook_ctx_header(ctx, "brook_order-offset", &hv, &hl) ||
                                     brook_ctx_header(ctx, "brook_order-behind", &hv, &hl));
    pthread_mutex_lock(&log_.lock);
    log_.parking_headers += parking_header;
    if (log_.n < (int)(sizeof(log_.calls) / sizeof(log_.calls[0]))) {
        call_t *c = &log_.calls[log_.n++];
        c->key = k;
        c->seq = s;
        c->attempt = brook_ctx_attempt(ctx);
        c->result = res;
        c->wall_ms = rt_wall_ms();
        snprintf(c->topic, sizeof(c->topic), "%s", r->topic);
        c->offset = r->offset;
    }
    pthread_mutex_unlock(&log_.lock);
    return res;
}

static void names(const char *base) {
    /* Unique per run: a real cluster keeps topics between runs. */
    snprintf(topic, sizeof(topic), "%s.%lld", base, (long long)(rt_wall_ms() % 100000000));
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    snprintf(parking, sizeof(parking), "%s-parked", topic);
    snprintf(retry1, sizeof(retry1), "%s-retry-3000", topic);
    snprintf(retry2, sizeof(retry2), "%s-retry-6000", topic);
}

static brook_app_t *make_app(const char *group) {
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 200; };\n"
             "topics = ( { name = \"%s\"; partitions = %d; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_record\"; concurrency = 2;\n"
             "  retry = { attempts = 3; mode = \"topics\"; preserve_key_order = true;\n"
             "            backoff = { delay_ms = 3000; multiplier = 2.0; };\n"
             "            not_retryable = [ \"test.Invalid\" ]; };\n"
             "  dlt = { enabled = true; }; } );\n",
             group, topic, PARTITIONS, topic);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, NULL), 0);
    /* Paused until both members have their partitions: a member that joins late would take
     * partitions from the other in a second rebalance, stalling their records for seconds, and
     * the records were all produced before the start. */
    brook_listener_t *l = brook_app_listener(app, "l");
    assert_int_equal(brook_listener_pause(l), 0);
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 60000));
    assert_int_equal(brook_listener_resume(l), 0);
    return app;
}

/* The topics exist before the records: provisioning by the app would come too late for the
 * main topic, and on a real cluster a topic just created has no leader for a moment, which the
 * first records of its partitions would wait for (not what the measurement is about). */
static void create_topics(void) {
    const char *topics[] = {topic, retry1, retry2, parking, dlt};
    for (size_t t = 0; t < 5; t++)
        assert_int_equal(brook_test_create_topic(cluster, topics[t], PARTITIONS), 0);
}

static void produce_all(void) {
    /* Key by key, in sequence: each key's send order is its sequence. */
    for (int s = 0; s < PER_KEY; s++)
        for (int k = 0; k < KEYS; k++) {
            char key[16], value[32];
            int kl = snprintf(key, sizeof(key), "k%d", k);
            int vl = snprintf(value, sizeof(value), "k%d-%d", k, s);
            assert_int_equal(
                brook_test_produce(cluster, topic, -1, key, (size_t)kl, value, (size_t)vl, NULL, 0),
                0);
        }
}

/* Successful calls of each record. */
static void successes(int ok[KEYS][PER_KEY]) {
    memset(ok, 0, sizeof(int) * KEYS * PER_KEY);
    pthread_mutex_lock(&log_.lock);
    for (int i = 0; i < log_.n; i++) {
        call_t *c = &log_.calls[i];
        if (c->result == BROOK_OK && c->key >= 0 && c->key < KEYS && c->seq >= 0 &&
            c->seq < PER_KEY)
            ok[c->key][c->seq]++;
    }
    pthread_mutex_unlock(&log_.lock);
}

static bool all_done(void *arg) {
    (void)arg;
    int ok[KEYS][PER_KEY];
    successes(ok);
    for (int k = 0; k < KEYS; k++)
        for (int s = 0; s < PER_KEY; s++)
            if (!is_dead(k, s) && !ok[k][s])
                return false;
    int64_t dead = brook_test_end_offsets(cluster, dlt);
    return dead >= 2;
}

/* Per key, the sequence numbers of the calls in call order. strict (no crash): they never go
 * down (a record's attempts come together, after every attempt of the record before it) and
 * every record appears. Otherwise (a crash): each record's first call comes after the first
 * call of the record before it (what at-least-once allows: records handled again after a
 * crash). Returns the records handled more often than the plan says. */
static int check_order(bool strict) {
    int again = 0;
    pthread_mutex_lock(&log_.lock);
    for (int k = 0; k < KEYS; k++) {
        int last = -1, next_first = 0, calls[PER_KEY] = {0};
        for (int i = 0; i < log_.n; i++) {
            call_t *c = &log_.calls[i];
            if (c->key != k)
                continue;
            if (c->seq < 0 || c->seq >= PER_KEY)
                fail_msg("unknown record k%d-%d", c->key, c->seq);
            if (strict && c->seq < last)
                fail_msg("k%d: record %d handled after record %d (call %d, %s @%lld)", k, c->seq,
                         last, i, c->topic, (long long)c->offset);
            if (calls[c->seq]++ == 0) {
                if (c->seq != next_first)
                    fail_msg("k%d: record %d handled first before record %d was", k, c->seq,
                             next_first);
                next_first++;
            }
            last = c->seq;
        }
        if (next_first != PER_KEY)
            fail_msg("k%d: only %d of %d records handled", k, next_first, PER_KEY);
        for (int s = 0; s < PER_KEY; s++) {
            if (strict && calls[s] != attempts_of(k, s))
                fail_msg("k%d-%d: %d calls, want %d", k, s, calls[s], attempts_of(k, s));
            if (calls[s] > attempts_of(k, s))
                again += calls[s] - attempts_of(k, s);
        }
    }
    pthread_mutex_unlock(&log_.lock);
    return again;
}

/* The values in the DLT, checked to be exactly k3-2 and k3-10 (each at least once; once when
 * `once`). */
static void check_dlt(bool once) {
    brook_test_record_t *recs;
    int64_t want = brook_test_end_offsets(cluster, dlt);
    assert_true(want >= 2);
    size_t n = brook_test_consume(cluster, dlt, (size_t)want, 10000, &recs);
    assert_int_equal(n, (size_t)want);
    int seen2 = 0, seen10 = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = recs[i].value;
        if (!strcmp(v, "k3-2")) {
            seen2++;
            rt_assert_header_str(&recs[i], "kafka_exception-fqcn", "test.Flaky");
            const brook_header_t *a = brook_test_record_header(&recs[i], "retry_topic-attempts");
            assert_non_null(a);
            assert_int_equal(rt_be32(a->value), 4);
        } else if (!strcmp(v, "k3-10")) {
            seen10++;
            rt_assert_header_str(&recs[i], "kafka_exception-fqcn", "test.Invalid");
        } else {
            fail_msg("unexpected DLT record %s", v);
        }
        /* A dead-lettered record names its place on the main topic, even when it was parked. */
        rt_assert_header_str(&recs[i], "kafka_original-topic", topic);
    }
    assert_true(seen2 >= 1 && seen10 >= 1);
    if (once)
        assert_true(seen2 == 1 && seen10 == 1);
    brook_test_records_free(recs, n);
}

/* Every parked record carries its main-topic offset; returns how many there are. */
static int64_t check_parking(void) {
    int64_t n = brook_test_end_offsets(cluster, parking);
    assert_true(n >= 0);
    brook_test_record_t *recs;
    size_t got = brook_test_consume(cluster, parking, (size_t)n, 10000, &recs);
    assert_int_equal(got, (size_t)n);
    for (size_t i = 0; i < got; i++) {
        const brook_header_t *h = brook_test_record_header(&recs[i], "brook_order-offset");
        assert_non_null(h);
        assert_int_equal(h->len, 8);
        assert_non_null(brook_test_record_header(&recs[i], "brook_order-behind"));
        /* Parked on the partition of its key, as on the main topic. */
        assert_int_equal(recs[i].partition,
                         brook_test_murmur2_partition(recs[i].key, recs[i].key_len, PARTITIONS));
    }
    brook_test_records_free(recs, got);
    return n;
}

static void check_committed(const char *group) {
    /* Everything handled, parked or forwarded is committed: main, retry and parking topics up
     * to their ends. */
    const char *topics[] = {topic, retry1, retry2, parking};
    for (size_t t = 0; t < 4; t++) {
        int64_t end = brook_test_end_offsets(cluster, topics[t]);
        assert_true(end >= 0);
        int64_t committed = it_committed_total(group, topics[t], PARTITIONS);
        if (committed != end)
            fail_msg("%s: %lld committed of %lld", topics[t], (long long)committed, (long long)end);
    }
}

static bool all_committed(const char *group) {
    const char *topics[] = {topic, retry1, retry2, parking};
    for (size_t t = 0; t < 4; t++) {
        int64_t end = brook_test_end_offsets(cluster, topics[t]);
        if (end < 0 || it_committed_total(group, topics[t], PARTITIONS) != end)
            return false;
    }
    return true;
}

static void reset_log(void) {
    pthread_mutex_lock(&log_.lock);
    log_.n = 0;
    log_.parking_headers = 0;
    pthread_mutex_unlock(&log_.lock);
}

/* No crash: per key, exactly the send order, each record handled as often as the plan says;
 * exactly the records behind a failed one parked; the two dead letters; all committed; and the
 * keys without failures done before the first retry was due. */
static void test_key_order_kept(void **state) {
    (void)state;
    names("rt.ord");
    reset_log();
    create_topics();
    produce_all();
    int64_t started = rt_wall_ms();
    brook_app_t *app = make_app("rt-ord");
    assert_true(brook_test_wait(all_done, NULL, 60000));
    assert_int_equal(brook_app_stop(app), 0);

    assert_int_equal(check_order(true), 0);
    check_dlt(true);
    assert_int_equal(log_.parking_headers, 0);
    /* Parked: k1-4..19 (16), k2-6..19 (14), k3-3..19 (17), k4-1..19 (19). k4-2..19 stay where
     * they are when k4-1 fails again: they are not parked twice. */
    assert_int_equal(check_parking(), 16 + 14 + 17 + 19);
    check_committed("rt-ord");
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    /* Successes: every record but the two dead ones. Retried: k1-3, k2-5 twice, k3-2 twice,
     * k4-0, k4-1. */
    assert_int_equal(st.handled, KEYS * PER_KEY - 2);
    assert_int_equal(st.retried, 7);
    assert_int_equal(st.dead_lettered, 2);

    /* Keys without failures do not wait for the failing ones: their last record was handled
     * before the first retry was due (3 s after the first failure: long enough for 40 records
     * on a loaded machine, so what is checked is that they never wait behind a retry). */
    int64_t control_last = 0, first_retry = INT64_MAX, first_failure = INT64_MAX;
    pthread_mutex_lock(&log_.lock);
    for (int i = 0; i < log_.n; i++) {
        call_t *c = &log_.calls[i];
        if ((c->key == 0 || c->key == 5) && c->wall_ms > control_last)
            control_last = c->wall_ms;
        if (c->result != BROOK_OK && c->wall_ms < first_failure)
            first_failure = c->wall_ms;
        if (c->attempt > 1 && c->wall_ms < first_retry)
            first_retry = c->wall_ms;
    }
    pthread_mutex_unlock(&log_.lock);
    print_message("keys without failures done %lld ms after start, the first failure at %lld "
                  "ms, the first retry at %lld ms\n",
                  (long long)(control_last - started), (long long)(first_failure - started),
                  (long long)(first_retry - started));
    brook_app_destroy(app);
    assert_true(control_last < first_retry);
}

/* A crash (no stop, nothing committed past the last interval) while records wait in the retry
 * topics and the parking topic, then a new instance: every record handled or dead-lettered,
 * each key's records first handled in send order. */
static void test_crash_keeps_order(void **state) {
    (void)state;
    names("rt.ordc");
    reset_log();
    create_topics();
    produce_all();
    brook_app_t *app = make_app("rt-ordc");
    /* Crash once the first records are parked and the first retries wait. */
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, parking) >= 30, 30000));
    int64_t parked = brook_test_end_offsets(cluster, parking);
    brook_app_destroy(app);
    print_message("crash with %lld record(s) parked, %d handler call(s)\n", (long long)parked,
                  log_.n);

    app = make_app("rt-ordc");
    assert_true(brook_test_wait(all_done, NULL, 60000));
    /* What is handled again after the crash is handled, and committed, too. */
    assert_true(BROOK_TEST_WAIT_UNTIL(all_committed("rt-ordc"), 30000));
    assert_int_equal(brook_app_stop(app), 0);
    int again = check_order(false);
    check_dlt(false);
    check_committed("rt-ordc");
    /* Parked records read back from the parking topic after the restart are handled as the
     * main-topic records they are, without the parking topic's own headers. */
    assert_int_equal(log_.parking_headers, 0);
    print_message("after the restart: %d handler call(s), %d more than without a crash, %lld "
                  "parked in all\n",
                  log_.n, again, (long long)brook_test_end_offsets(cluster, parking));
    brook_app_destroy(app);
}

int main(void) {
    pthread_mutex_init(&log_.lock, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order_kept),
        cmocka_unit_test(test_crash_keeps_order),
    };
    int rc = cmocka_run_group_tests(tests, it_setup, it_teardown);
    pthread_mutex_destroy(&log_.lock);
    return rc;
}
