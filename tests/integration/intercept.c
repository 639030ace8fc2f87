/* Filters and interceptors: records dropped before or after decoding are committed and
 * counted, never handled; handle interceptors run in order around the handler and can veto;
 * send interceptors add headers, veto sends and see every delivery. */
#include "itest.h"

#define N 90

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int handled[N];
static atomic_int raw_calls, decoded_calls, raw_saw_decoded;

static int index_of(const char *s) {
    const char *dash = s ? strrchr(s, '-') : NULL;
    return dash ? atoi(dash + 1) : -1;
}

static void reset(void) {
    pthread_mutex_lock(&lock);
    memset(handled, 0, sizeof(handled));
    pthread_mutex_unlock(&lock);
    atomic_store(&raw_calls, 0);
    atomic_store(&decoded_calls, 0);
    atomic_store(&raw_saw_decoded, 0);
}

static int handled_count(void) {
    int n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < N; i++)
        n += handled[i];
    pthread_mutex_unlock(&lock);
    return n;
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    int i = index_of(value);
    pthread_mutex_lock(&lock);
    if (i >= 0 && i < N)
        handled[i]++;
    pthread_mutex_unlock(&lock);
    if (op && *(bool *)op)
        brook_ctx_ack(ctx);
    return BROOK_OK;
}

/* Before decoding: drops every fifth record by its key's bytes. */
static bool raw_filter(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    atomic_fetch_add(&raw_calls, 1);
    if (key || value)
        atomic_fetch_add(&raw_saw_decoded, 1);
    const brook_record_t *r = brook_ctx_record(ctx);
    char k[32];
    snprintf(k, sizeof(k), "%.*s", (int)r->key_len, (const char *)r->key);
    return index_of(k) % 5 != 0;
}

/* After decoding: drops every third record by its decoded value. */
static bool decoded_filter(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    atomic_fetch_add(&decoded_calls, 1);
    return index_of(value) % 3 != 0;
}

static int expected_handled(void) {
    int n = 0;
    for (int i = 0; i < N; i++)
        n += i % 5 != 0 && i % 3 != 0;
    return n;
}

static brook_app_t *filtered_app(const char *topic, const char *ack, bool *manual) {
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"flt-%s\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_record\"; ack = \"%s\";\n"
             "  filter = \"decoded_filter\"; raw_filter = \"raw_filter\"; } );\n",
             topic, topic, topic, ack);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, manual), 0);
    assert_int_equal(brook_app_set_filter(app, "l", BROOK_FILTER_RAW, raw_filter, NULL), 0);
    assert_int_equal(brook_app_set_filter(app, "l", BROOK_FILTER_DECODED, decoded_filter, NULL), 0);
    assert_int_equal(brook_app_set_filter(app, "nope", BROOK_FILTER_RAW, raw_filter, NULL),
                     BROOK_ERR_NOT_FOUND);
    return app;
}

static void filters(const char *topic, const char *ack) {
    reset();
    bool manual = !strcmp(ack, "manual");
    brook_app_t *app = filtered_app(topic, ack, &manual);
    it_start(app);
    assert_int_equal(brook_app_set_filter(app, "l", BROOK_FILTER_RAW, NULL, NULL), BROOK_ERR_STATE);
    assert_int_equal(brook_test_produce_n(cluster, topic, "r", 0, N), 0);
    char group[64];
    snprintf(group, sizeof(group), "flt-%s", topic); /* the service's name: one listener */
    /* Every record is committed, dropped or handled. */
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total(group, topic, 2) == N, 30000));
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    int dropped_raw = N / 5 + (N % 5 != 0), expected = expected_handled();
    assert_int_equal(handled_count(), expected);
    for (int i = 0; i < N; i++)
        assert_int_equal(handled[i], i % 5 != 0 && i % 3 != 0);
    assert_int_equal(st.handled, expected);
    assert_int_equal(st.filtered, N - expected);
    assert_int_equal(st.failed, 0);
    assert_int_equal(atomic_load(&raw_calls), N);
    assert_int_equal(atomic_load(&raw_saw_decoded), 0);
    /* The decoded filter never sees what the raw one dropped. */
    assert_int_equal(atomic_load(&decoded_calls), N - dropped_raw);
    assert_int_equal(it_committed_total(group, topic, 2), N);
}

static void test_filters(void **state) {
    filters("flt.record", "record");
}

/* With manual acks the handler acks what it handled; a dropped record is done on its behalf. */
static void test_filters_manual_ack(void **state) {
    filters("flt.manual", "manual");
}

/* ---- handle interceptors ---- */

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static char trace[4096];

static void trace_add(const char *what) {
    pthread_mutex_lock(&trace_lock);
    size_t used = strlen(trace);
    snprintf(trace + used, sizeof(trace) - used, "%s ", what);
    pthread_mutex_unlock(&trace_lock);
}

static brook_result_t traced_handler(brook_ctx_t *ctx, const void *key, const void *value,
                                     void *op) {
    if (!strcmp(key, "one"))
        trace_add("H");
    return on_record(ctx, key, value, NULL);
}

static brook_result_t outer(brook_ctx_t *ctx, const void *key, const void *value,
                            brook_chain_t *next, void *op) {
    bool traced = !strcmp(key, "one");
    if (traced)
        trace_add("A>");
    brook_result_t res = brook_chain_next(next);
    if (traced)
        trace_add(res == BROOK_OK ? "<A:ok" : "<A:fail");
    return res;
}

/* Vetoes "veto-*" (done, not handled) and fails "bad-*" without calling the handler. */
static brook_result_t inner(brook_ctx_t *ctx, const void *key, const void *value,
                            brook_chain_t *next, void *op) {
    atomic_fetch_add((atomic_int *)op, 1);
    if (!strncmp(key, "veto-", 5))
        return BROOK_OK;
    if (!strncmp(key, "bad-", 4)) {
        brook_ctx_fail(ctx, "test.Vetoed", "vetoed %s", (const char *)key);
        return BROOK_FAIL;
    }
    if (!strcmp(key, "one"))
        trace_add("B>");
    brook_result_t res = brook_chain_next(next);
    if (!strcmp(key, "one"))
        trace_add("<B");
    return res;
}

static void test_handle_interceptors(void **state) {
    reset();
    trace[0] = 0;
    atomic_int inner_calls = 0;
    brook_app_t *app = it_app("service = { name = \"icp\"; };\n"
                              "topics = ( { name = \"icp.in\"; }, { name = \"icp.other\"; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"icp.in\" ];\n"
                              "  value = \"string\"; handler = \"h\"; },\n"
                              "  { id = \"m\"; topics = [ \"icp.other\" ];\n"
                              "  value = \"string\"; handler = \"h\"; } );\n");
    assert_int_equal(brook_app_set_handler(app, "l", traced_handler, NULL), 0);
    assert_int_equal(brook_app_set_handler(app, "m", traced_handler, NULL), 0);
    /* The outer one on every listener, the inner one on "l" only. */
    assert_int_equal(brook_app_add_handle_interceptor(app, NULL, outer, NULL), 0);
    assert_int_equal(brook_app_add_handle_interceptor(app, "l", inner, &inner_calls), 0);
    assert_int_equal(brook_app_add_handle_interceptor(app, "x", inner, NULL), BROOK_ERR_NOT_FOUND);
    it_start(app);
    const char *keys[] = {"one", "veto-1", "bad-2", "ok-3"};
    const char *values[] = {"v-0", "v-1", "v-2", "v-3"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(brook_test_produce(cluster, "icp.in", 0, keys[i], strlen(keys[i]),
                                            values[i], strlen(values[i]), NULL, 0),
                         0);
    assert_int_equal(brook_test_produce(cluster, "icp.other", 0, "x-4", 3, "v-4", 3, NULL, 0), 0);
    brook_test_record_t *dlt = NULL;
    assert_int_equal(brook_test_consume(cluster, "icp.in-dlt", 1, 30000, &dlt), 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("icp.l", "icp.in", 1) == 4 &&
                                          it_committed_total("icp.m", "icp.other", 1) == 1,
                                      30000));
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_string_equal(trace, "A> B> H <B <A:ok ");
    /* The handler saw "one", "ok-3" and, on the other listener, "x-4"; the vetoed record was
     * done with, the failed one dead-lettered with the interceptor's failure. */
    assert_int_equal(handled[0], 1);
    assert_int_equal(handled[1], 0);
    assert_int_equal(handled[2], 0);
    assert_int_equal(handled[3], 1);
    assert_int_equal(handled[4], 1);
    assert_int_equal(atomic_load(&inner_calls), 4);
    assert_int_equal(st.handled, 3); /* one, veto-1 (its interceptor said OK), ok-3 */
    assert_int_equal(st.dead_lettered, 1);
    assert_string_equal(dlt[0].key, "bad-2");
    const brook_header_t *fqcn = brook_test_record_header(&dlt[0], "kafka_dlt-exception-fqcn");
    assert_non_null(fqcn);
    assert_memory_equal(fqcn->value, "test.Vetoed", fqcn->len);
    brook_test_records_free(dlt, 1);
}

/* ---- send interceptors ---- */

typedef struct {
    const char *name;
    atomic_int before, after, failed;
    atomic_llong offsets; /* sum of delivered offsets + 1 */
    atomic_int bad_latency, bad_template;
} sendstat_t;

static int stamp(brook_outgoing_t *o, void *op) {
    sendstat_t *s = op;
    atomic_fetch_add(&s->before, 1);
    size_t len;
    const char *key = brook_outgoing_key(o, &len);
    if (len == 7 && !memcmp(key, "blocked", 7))
        return BROOK_ERR_INVALID_ARG;
    if (strcmp(brook_outgoing_template(o), "out") || strcmp(brook_outgoing_topic(o), "icp.out"))
        atomic_fetch_add(&s->bad_template, 1);
    char v[64];
    int n = snprintf(v, sizeof(v), "%s:%.*s", s->name, (int)len, key);
    return brook_outgoing_add_header(o, s->name, v, (size_t)n);
}

static void delivered(const brook_delivered_t *d, void *op) {
    sendstat_t *s = op;
    atomic_fetch_add(&s->after, 1);
    if (d->err)
        atomic_fetch_add(&s->failed, 1);
    else
        atomic_fetch_add(&s->offsets, d->offset + 1);
    if (d->latency_us < 0)
        atomic_fetch_add(&s->bad_latency, 1);
    if (strcmp(d->template_name, "out") || strcmp(d->topic, "icp.out"))
        atomic_fetch_add(&s->bad_template, 1);
}

static void test_send_interceptors(void **state) {
    sendstat_t first = {.name = "h1"}, second = {.name = "h2"};
    brook_app_t *app = it_app("service = { name = \"icp-send\"; };\n"
                              "topics = ( { name = \"icp.out\"; } );\n"
                              "templates = ( { name = \"out\"; topic = \"icp.out\"; } );\n");
    assert_int_equal(brook_app_add_send_interceptor(app, NULL, stamp, delivered, &first), 0);
    assert_int_equal(brook_app_add_send_interceptor(app, "out", stamp, delivered, &second), 0);
    assert_int_equal(brook_app_add_send_interceptor(app, "none", stamp, NULL, NULL),
                     BROOK_ERR_NOT_FOUND);
    assert_int_equal(brook_app_add_send_interceptor(app, NULL, NULL, NULL, NULL),
                     BROOK_ERR_INVALID_ARG);
    it_start(app);
    brook_template_t *t = brook_app_template(app, "out");
    const char *keys[] = {"a", "blocked", "b", "c"};
    for (int i = 0; i < 4; i++) {
        brook_bytes_t v = {(uint8_t *)keys[i], strlen(keys[i])};
        assert_int_equal(brook_template_send(t, keys[i], &v, NULL),
                         i == 1 ? BROOK_ERR_INVALID_ARG : 0);
    }
    assert_int_equal(brook_template_flush(t, 30000), 0);
    brook_template_stats_t ts;
    brook_template_stats(t, &ts);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(ts.sent, 3);
    /* The first vetoed "blocked": the second never saw it. */
    assert_int_equal(atomic_load(&first.before), 4);
    assert_int_equal(atomic_load(&second.before), 3);
    assert_int_equal(atomic_load(&first.after), 3);
    assert_int_equal(atomic_load(&second.after), 3);
    assert_int_equal(atomic_load(&first.failed), 0);
    assert_int_equal(atomic_load(&first.bad_latency) + atomic_load(&first.bad_template) +
                         atomic_load(&second.bad_template),
                     0);
    assert_int_equal(atomic_load(&first.offsets), atomic_load(&second.offsets));
    brook_test_record_t *recs = NULL;
    size_t n = brook_test_consume(cluster, "icp.out", 3, 30000, &recs);
    assert_int_equal(n, 3);
    int64_t offsets = 0;
    for (size_t i = 0; i < n; i++) {
        offsets += recs[i].offset + 1;
        assert_int_equal(recs[i].header_count, 2);
        assert_string_equal(recs[i].headers[0].name, "h1");
        assert_string_equal(recs[i].headers[1].name, "h2");
        char want[32];
        snprintf(want, sizeof(want), "h2:%s", (const char *)recs[i].key);
        assert_int_equal(recs[i].headers[1].len, strlen(want));
        assert_memory_equal(recs[i].headers[1].value, want, strlen(want));
        assert_string_not_equal(recs[i].key, "blocked");
    }
    assert_int_equal(offsets, atomic_load(&first.offsets));
    brook_test_records_free(recs, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_filters_manual_ack),
        cmocka_unit_test(test_handle_interceptors),
        cmocka_unit_test(test_send_interceptors),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
