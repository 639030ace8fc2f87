/* Dead-letter topics: retries exhausted (retry topics), BROOK_FAIL and a not-retryable failure
 * (blocking and retry topics). The DLT record has the original key, value and headers, every
 * kafka_dlt-* header with Spring's encodings, and the original's partition. */
#include "retry_it.h"

static rt_log_t calls;

/* ex-*: always fails (retryable); inv-*, named-*: not retryable; plain-*: BROOK_FAIL without a
 * name; ignored-*: a not-retryable name, yet returns BROOK_RETRY; others succeed. */
static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    rt_log_call(op, ctx, value);
    const char *v = value;
    if (!strncmp(v, "ex-", 3))
        return brook_ctx_fail(ctx, "shop.Boom", "boom %s", v);
    if (!strncmp(v, "inv-", 4) || !strncmp(v, "named-", 6))
        return brook_ctx_fail(ctx, "shop.Invalid", "invalid %s", v);
    if (!strncmp(v, "plain-", 6))
        return BROOK_FAIL;
    if (!strncmp(v, "ignored-", 8)) {
        (void)brook_ctx_fail(ctx, "shop.Invalid", "invalid %s", v);
        return BROOK_RETRY;
    }
    return BROOK_OK;
}

static brook_app_t *make_app(const char *name, const char *topic, const char *mode,
                             const char *group) {
    char decl[2048], grp[128] = "";
    if (group)
        snprintf(grp, sizeof(grp), "group = \"%s\";", group);
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 200; };\n"
             "topics = ( { name = \"%s\"; partitions = 3; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\"; %s\n"
             "  handler = \"on_record\";\n"
             "  retry = { attempts = 3; mode = \"%s\"; backoff = { delay_ms = 100; };\n"
             "            not_retryable = [ \"shop.Invalid\" ]; };\n"
             "  dlt = { enabled = true; }; } );\n",
             name, topic, topic, grp, mode);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, &calls), 0);
    it_start(app);
    return app;
}

/* Produces value with key "key-<value>" and two headers, one binary. */
static void produce(const char *topic, const char *value) {
    char key[64];
    snprintf(key, sizeof(key), "key-%s", value);
    brook_header_t h[2] = {{"trace-id", value, strlen(value)}, {"bin", "\0\xff\x80", 3}};
    assert_int_equal(
        brook_test_produce(cluster, topic, -1, key, strlen(key), value, strlen(value), h, 2), 0);
}

/* Checks the DLT record of each value against its original, read back from `topic`. */
/* `attempts`: the deliveries each record had when it went to the DLT through retry topics (its
 * DLT record carries Spring's retry_topic-* headers then), 0 for a listener without them. */
static void check_dlt(const char *topic, const char *const *values, size_t n, const char *fqcn,
                      const char *msg_fmt, const char *group, int attempts) {
    char dlt[128];
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    brook_test_record_t *orig, *dead;
    /* Everything in both topics: the DLT may hold other values' records too. */
    size_t want_o = (size_t)brook_test_end_offsets(cluster, topic);
    size_t want_d = (size_t)brook_test_end_offsets(cluster, dlt);
    size_t no = brook_test_consume(cluster, topic, want_o, 10000, &orig);
    size_t nd = brook_test_consume(cluster, dlt, want_d, 10000, &dead);
    assert_int_equal(no, want_o);
    assert_int_equal(nd, want_d);
    assert_true(nd >= n);
    for (size_t i = 0; i < n; i++) {
        const brook_test_record_t *o = rt_find(orig, no, values[i]);
        const brook_test_record_t *d = rt_find(dead, nd, values[i]);
        assert_non_null(o);
        assert_non_null(d);
        char msg[128] = "";
        if (msg_fmt)
            snprintf(msg, sizeof(msg), msg_fmt, values[i]);
        rt_assert_dlt_headers(d, o, fqcn, msg_fmt ? msg : NULL, group, attempts > 0);
        brook_record_t view = {
            .topic = d->topic, .headers = d->headers, .header_count = d->header_count};
        brook_failure_info_t info;
        brook_record_failure_info(&view, &info);
        assert_int_equal(info.attempts, attempts ? attempts + 1 : 0);
        assert_int_equal(info.first_timestamp, attempts ? o->timestamp : -1);
        assert_true(attempts ? info.backoff_timestamp >= o->timestamp
                             : info.backoff_timestamp == -1);
        print_message("%s: %s [%d] @%lld -> %s [%d]\n", values[i], o->topic, (int)o->partition,
                      (long long)o->offset, d->topic, (int)d->partition);
    }
    brook_test_records_free(orig, no);
    brook_test_records_free(dead, nd);
}

/* Retry topics: "ex-*" fails 3 times (main topic, then the retry topic twice) and goes to the
 * DLT with the main topic's coordinates; "inv-*" goes there from the main topic at once. */
static void test_topics_exhausted_and_not_retryable(void **state) {
    rt_log_init(&calls);
    const char *topic = "rt.dltt";
    brook_app_t *app = make_app("rt-dltt", topic, "topics", "rt-dlt-group");
    const char *ex[] = {"ex-1", "ex-2", "ex-3"};
    const char *inv[] = {"inv-1", "inv-2"};
    for (int i = 0; i < 3; i++)
        produce(topic, ex[i]);
    for (int i = 0; i < 2; i++)
        produce(topic, inv[i]);
    produce(topic, "ok-1");
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "rt.dltt-dlt") == 5, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_count(&calls, "ok-1") == 1, 10000));
    assert_int_equal(brook_app_stop(app), 0);

    for (int i = 0; i < 3; i++) {
        rt_call_t c[4];
        assert_int_equal(rt_calls_of(&calls, ex[i], c, 4), 3);
        for (int a = 0; a < 3; a++)
            assert_int_equal(c[a].attempt, a + 1);
        assert_string_equal(c[2].topic, "rt.dltt-retry");
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(rt_count(&calls, inv[i]), 1);
    check_dlt(topic, ex, 3, "shop.Boom", "boom %s", "rt-dlt-group", 3);
    check_dlt(topic, inv, 2, "shop.Invalid", "invalid %s", "rt-dlt-group", 1);
    /* Only the retryable ones went through the retry topic: twice each. */
    assert_int_equal(brook_test_end_offsets(cluster, "rt.dltt-retry"), 6);

    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.handled, 1);
    assert_int_equal(st.dead_lettered, 5);
    assert_int_equal(st.retried, 6);
    brook_app_destroy(app);
    rt_log_free(&calls);
}

/* Blocking: BROOK_FAIL, a not-retryable name (returned as brook_ctx_fail says, or overridden
 * with BROOK_RETRY) go to the DLT after one attempt; the consumer group defaults to the
 * service name. */
static void test_blocking_fail(void **state) {
    rt_log_init(&calls);
    const char *topic = "rt.dltb";
    brook_app_t *app = make_app("rt-dltb", topic, "blocking", NULL);
    const char *plain[] = {"plain-1"};
    const char *named[] = {"named-1", "ignored-1"};
    produce(topic, plain[0]);
    produce(topic, named[0]);
    produce(topic, named[1]);
    produce(topic, "ok-2");
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "rt.dltb-dlt") == 3, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_count(&calls, "ok-2") == 1, 10000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(rt_count(&calls, plain[0]), 1);
    assert_int_equal(rt_count(&calls, named[0]), 1);
    assert_int_equal(rt_count(&calls, named[1]), 1);
    /* No name given: Brook's generic failure name, an empty message. */
    check_dlt(topic, plain, 1, "brook.HandlerFailure", NULL, "rt-dltb", 0);
    check_dlt(topic, named, 2, "shop.Invalid", "invalid %s", "rt-dltb", 0);
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.retried, 0);
    assert_int_equal(st.dead_lettered, 3);
    brook_app_destroy(app);
    rt_log_free(&calls);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_exhausted_and_not_retryable),
        cmocka_unit_test(test_blocking_fail),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
