/* Failure handling: a handler that fails k times then succeeds, with blocking retries and with
 * retry topics. It is handled successfully once, sees attempts 1..k+1, is never run before its
 * backoff, and (retry topics) its retry records carry Spring's retry_topic-* headers. */
#include "retry_it.h"

#define K 3 /* failures before success */

static rt_log_t calls;

/* "flaky*" fails K times, then succeeds; anything else succeeds. */
static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    int before = rt_log_call(op, ctx, value);
    if (!strncmp(value, "flaky", 5) && before < K)
        return brook_ctx_fail(ctx, "test.Flaky", "failure %d of %d", before + 1, K);
    return BROOK_OK;
}

/* delay 300 ms, multiplier 2: backoffs 300, 600, 1200 before attempts 2, 3, 4. */
static const int64_t backoff[K] = {300, 600, 1200};

static brook_app_t *make_app(const char *name, const char *topic, const char *mode) {
    char decl[2048];
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"%s\"; commit_interval_ms = 200; };\n"
        "topics = ( { name = \"%s\"; partitions = 3; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
        "  handler = \"on_record\";\n"
        "  retry = { attempts = 4; mode = \"%s\";\n"
        "            backoff = { delay_ms = 300; multiplier = 2.0; max_delay_ms = 5000; }; };\n"
        "  dlt = { enabled = true; }; } );\n",
        name, topic, topic, mode);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, &calls), 0);
    it_start(app);
    return app;
}

static void produce(const char *topic, const char *key, const char *value) {
    brook_header_t h = {"trace-id", "t-1", 3};
    assert_int_equal(
        brook_test_produce(cluster, topic, -1, key, strlen(key), value, strlen(value), &h, 1), 0);
}

/* Blocking: the record is redelivered in place after 300, 600, 1200 ms; the record behind it
 * on its partition waits for it (order is kept). */
static void test_blocking_fails_then_succeeds(void **state) {
    rt_log_init(&calls);
    const char *topic = "rt.block";
    brook_app_t *app = make_app("rt-block", topic, "blocking");
    produce(topic, "k1", "flaky-b");
    produce(topic, "k1", "after-b");
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_count(&calls, "after-b") == 1, 30000));
    assert_int_equal(brook_app_stop(app), 0);

    rt_call_t c[8], a;
    assert_int_equal(rt_calls_of(&calls, "flaky-b", c, 8), K + 1);
    assert_int_equal(rt_calls_of(&calls, "after-b", &a, 1), 1);
    for (int i = 0; i <= K; i++) {
        assert_int_equal(c[i].attempt, i + 1);
        assert_int_equal(c[i].offset, c[0].offset); /* the same record each time */
        assert_string_equal(c[i].topic, topic);
    }
    for (int i = 1; i <= K; i++) {
        int64_t gap = c[i].wall_ms - c[i - 1].wall_ms;
        print_message("blocking: attempt %d after %lld ms (backoff %lld)\n", i + 1, (long long)gap,
                      (long long)backoff[i - 1]);
        assert_true(gap >= backoff[i - 1]);
        assert_true(gap < backoff[i - 1] + 2000); /* and not much later */
    }
    /* In order: the record behind came after the retried one succeeded. */
    assert_int_equal(a.partition, c[0].partition);
    assert_true(a.wall_ms >= c[K].wall_ms);
    assert_int_equal(a.attempt, 1);

    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.handled, 2);
    assert_int_equal(st.failed, K);
    assert_int_equal(st.retried, K);
    assert_int_equal(st.dead_lettered, 0);
    brook_app_destroy(app);
    assert_int_equal(brook_test_end_offsets(cluster, "rt.block-dlt"), 0);
    rt_log_free(&calls);
}

/* Retry topics: attempt 1 on the main topic, attempts 2, 3, 4 from rt.topics-retry-300, -600,
 * -1200, each with retry_topic-attempts = its attempt (4-byte big-endian), a backoff timestamp
 * (BigInteger bytes) the handler never runs before, and the first record's timestamp. */
static void test_topics_fails_then_succeeds(void **state) {
    rt_log_init(&calls);
    const char *topic = "rt.topics";
    brook_app_t *app = make_app("rt-topics", topic, "topics");
    produce(topic, "k7", "flaky-t");
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_count(&calls, "flaky-t") == K + 1, 30000));
    assert_int_equal(brook_app_stop(app), 0);

    rt_call_t c[8];
    assert_int_equal(rt_calls_of(&calls, "flaky-t", c, 8), K + 1);
    assert_string_equal(c[0].topic, topic);
    assert_int_equal(c[0].attempt, 1);
    assert_int_equal(c[0].hdr_attempts, -1);
    for (int i = 1; i <= K; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s-retry-%lld", topic, (long long)backoff[i - 1]);
        assert_string_equal(c[i].topic, want);
        assert_int_equal(c[i].attempt, i + 1);
        assert_int_equal(c[i].hdr_attempts, i + 1);
        assert_true(c[i].hdr_due > 0);
        /* Never early, and due about `backoff` after the failure before it. */
        print_message("topics: attempt %d at due%+lld ms, %lld ms after attempt %d (backoff "
                      "%lld)\n",
                      i + 1, (long long)(c[i].wall_ms - c[i].hdr_due),
                      (long long)(c[i].wall_ms - c[i - 1].wall_ms), i, (long long)backoff[i - 1]);
        assert_true(c[i].wall_ms >= c[i].hdr_due);
        assert_true(c[i].hdr_due >= c[i - 1].wall_ms + backoff[i - 1]);
        assert_true(c[i].hdr_due < c[i - 1].wall_ms + backoff[i - 1] + 1000);
        assert_true(c[i].wall_ms < c[i].hdr_due + 2000);
        /* The first record's timestamp and origin travel along. */
        assert_int_equal(c[i].hdr_orig, c[0].timestamp);
        assert_string_equal(c[i].orig_topic, topic);
        assert_int_equal(c[i].orig_partition, c[0].partition);
        assert_int_equal(c[i].partition, c[0].partition);
        assert_true(c[i].info_agrees);
    }

    /* The retry records themselves, read back as any client would. */
    for (int i = 0; i < K; i++) {
        char rt[64];
        snprintf(rt, sizeof(rt), "%s-retry-%lld", topic, (long long)backoff[i]);
        brook_test_record_t *recs;
        size_t n = brook_test_consume(cluster, rt, 1, 10000, &recs);
        assert_int_equal(n, 1);
        uint8_t want[4] = {0, 0, 0, (uint8_t)(i + 2)};
        rt_assert_header(&recs[0], "retry_topic-attempts", want, 4);
        rt_assert_header_str(&recs[0], "trace-id", "t-1");
        rt_assert_header_str(&recs[0], "kafka_exception-fqcn", "test.Flaky");
        char msg[64];
        snprintf(msg, sizeof(msg), "failure %d of %d", i + 1, K);
        rt_assert_header_str(&recs[0], "kafka_exception-message", msg);
        char trace[128];
        snprintf(trace, sizeof(trace), "test.Flaky: %s\n\tat on_record(listener l)", msg);
        rt_assert_header_str(&recs[0], "kafka_exception-stacktrace", trace);
        const brook_header_t *h =
            brook_test_record_header(&recs[0], "retry_topic-backoff-timestamp");
        assert_non_null(h);
        bool ok;
        assert_int_equal(rt_bigint(h->value, h->len, &ok), c[i + 1].hdr_due);
        assert_true(ok);
        assert_int_equal(recs[0].key_len, 2);
        assert_memory_equal(recs[0].key, "k7", 2);
        brook_test_records_free(recs, n);
    }

    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.handled, 1);
    assert_int_equal(st.failed, K);
    assert_int_equal(st.retried, K);
    assert_int_equal(st.dead_lettered, 0);
    brook_app_destroy(app);
    assert_int_equal(brook_test_end_offsets(cluster, "rt.topics-dlt"), 0);
    rt_log_free(&calls);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_fails_then_succeeds),
        cmocka_unit_test(test_topics_fails_then_succeeds),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
