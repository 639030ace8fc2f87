/* Templates under broker faults: every record delivered once, failures never silent. */
#include "itest.h"

static atomic_int delivered, failed;

static void on_delivery(brook_template_t *tpl, int err, const char *topic, int32_t partition,
                        int64_t offset, void *msg_opaque, void *opaque) {
    atomic_fetch_add(err ? &failed : &delivered, 1);
}

static int send_range(brook_template_t *tpl, int from, int to) {
    char v[32];
    for (int i = from; i < to; i++) {
        snprintf(v, sizeof(v), "p-%d", i);
        int rc = brook_template_send(tpl, v, v, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

/* An app from decl, started, with counting delivery callbacks on its template "out". */
static brook_template_t *start_counted(brook_app_t *app) {
    brook_template_t *tpl = brook_app_template(app, "out");
    assert_non_null(tpl);
    atomic_store(&delivered, 0);
    atomic_store(&failed, 0);
    /* Before start: the producer thread reads it without a lock. */
    assert_int_equal(brook_template_set_delivery_cb(tpl, on_delivery, NULL), 0);
    it_start(app);
    return tpl;
}

/* Injected produce errors and a broker down for 2 s (on a real cluster: the broker process
 * killed and started again): every record sent is delivered exactly once (idempotent
 * producer), none is lost or reported late as lost. */
static void test_faults_deliver_exactly_once(void **state) {
    const char *decl =
        "service = { name = \"pf\"; };\n"
        "topics = ( { name = \"pf.out\"; partitions = 3; } );\n"
        "templates = ( { name = \"out\"; topic = \"pf.out\"; value = \"string\"; } );\n";
    brook_app_t *app = it_app(decl);
    brook_template_t *tpl = start_counted(app);

    assert_int_equal(send_range(tpl, 0, 1000), 0);
    /* Produce requests fail with retriable errors: the producer retries them. */
    if (brook_test_is_embedded(cluster)) {
        assert_int_equal(
            brook_test_push_request_errors(cluster, 0 /* Produce */, 6, 6 /* NOT_LEADER */), 0);
        assert_int_equal(
            brook_test_push_request_errors(cluster, 0 /* Produce */, 4, 7 /* TIMED_OUT */), 0);
    } else {
        /* A real broker cannot be told to fail requests; the broker kill below is real. */
        assert_int_equal(brook_test_push_request_errors(cluster, 0, 1, 6), BROOK_ERR_UNSUPPORTED);
    }
    assert_int_equal(send_range(tpl, 1000, 2000), 0);

    /* The broker goes away for 2 s while the service keeps sending. */
    assert_int_equal(brook_test_broker_down(cluster, 1), 0);
    int64_t up_at = brook_test_now_ms() + 2000;
    int next = 2000;
    while (brook_test_now_ms() < up_at) {
        if (next < 3000) {
            assert_int_equal(send_range(tpl, next, next + 50), 0);
            next += 50;
        }
        brook_test_nap();
    }
    assert_int_equal(send_range(tpl, next, 3000), 0);
    assert_int_equal(brook_test_broker_up(cluster, 1), 0);

    assert_int_equal(brook_template_flush(tpl, 60000), 0);
    assert_true(
        BROOK_TEST_WAIT_UNTIL(atomic_load(&delivered) + atomic_load(&failed) == 3000, 30000));
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(atomic_load(&delivered), 3000);

    brook_test_record_t *recs;
    size_t n = brook_test_consume(cluster, "pf.out", 3001, 20000, &recs);
    assert_int_equal(n, 3000);
    int *seen = calloc(3000, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        int k = atoi(strchr(recs[i].value, '-') + 1);
        assert_true(k >= 0 && k < 3000);
        seen[k]++;
    }
    for (int k = 0; k < 3000; k++)
        assert_int_equal(seen[k], 1);
    free(seen);
    brook_test_records_free(recs, n);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* A record that cannot be delivered is reported, not dropped: sending to a topic the cluster
 * refuses fails through the delivery callback within message.timeout.ms. */
static void test_undeliverable_is_reported(void **state) {
    const char *decl =
        "service = { name = \"pf2\"; kafka = { message_timeout_ms = 1500; }; };\n"
        "topics = ( { name = \"pf.bad\"; partitions = 1; } );\n"
        "templates = ( { name = \"out\"; topic = \"pf.bad\"; value = \"string\"; } );\n";
    brook_app_t *app = it_app(decl);
    brook_template_t *tpl = start_counted(app);
    assert_int_equal(brook_test_broker_down(cluster, 1), 0);
    assert_int_equal(send_range(tpl, 0, 10), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&failed) == 10, 20000));
    assert_int_equal(atomic_load(&delivered), 0);
    assert_int_equal(brook_test_broker_up(cluster, 1), 0);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* A transactional template sends only inside a transaction: outside one it refuses, rather
 * than quietly sending without one (docs/transactions.md). */
static void test_transactional_needs_a_transaction(void **state) {
    const char *decl = "service = { name = \"pf3\"; };\n"
                       "topics = ( { name = \"pf.tx\"; partitions = 1; } );\n"
                       "templates = (\n"
                       "  { name = \"out\"; topic = \"pf.tx\"; transactional = true; }\n"
                       ");\n";
    brook_app_t *app = it_app(decl);
    it_start(app);
    assert_int_equal(brook_template_send_raw(brook_app_template(app, "out"), "k", 1, "v", 1, NULL),
                     BROOK_ERR_STATE);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

static char redirected_topic[64];
static void *redirected_opaque;

static void on_redirected(brook_template_t *tpl, int err, const char *topic, int32_t partition,
                          int64_t offset, void *msg_opaque, void *opaque) {
    snprintf(redirected_topic, sizeof(redirected_topic), "%s", topic);
    redirected_opaque = msg_opaque;
    atomic_fetch_add(err ? &failed : &delivered, 1);
}

/* A send to another topic than the template's, with an opaque of the caller's: it lands there
 * and its delivery report carries both. */
static void test_send_to_another_topic(void **state) {
    const char *decl =
        "service = { name = \"pf4\"; };\n"
        "topics = ( { name = \"pf.main\"; partitions = 1; },\n"
        "           { name = \"pf.other\"; partitions = 1; } );\n"
        "templates = ( { name = \"out\"; topic = \"pf.main\"; value = \"string\"; } );\n";
    brook_app_t *app = it_app(decl);
    brook_template_t *tpl = brook_app_template(app, "out");
    assert_int_equal(brook_template_set_delivery_cb(tpl, on_redirected, NULL), 0);
    it_start(app);
    atomic_store(&delivered, 0);
    atomic_store(&failed, 0);
    int mine;
    brook_send_opts_t opts = BROOK_SEND_OPTS_INIT;
    opts.topic = "pf.other";
    opts.msg_opaque = &mine;
    assert_int_equal(brook_template_send(tpl, "k", "elsewhere", &opts), 0);
    assert_int_equal(brook_template_flush(tpl, 10000), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&delivered) == 1, 10000));
    assert_string_equal(redirected_topic, "pf.other");
    assert_ptr_equal(redirected_opaque, &mine);
    brook_test_record_t *recs;
    size_t n = brook_test_consume(cluster, "pf.other", 1, 10000, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].value, "elsewhere");
    brook_test_records_free(recs, n);
    assert_int_equal(brook_test_end_offsets(cluster, "pf.main"), 0);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* The broker answers a produce request with OUT_OF_ORDER_SEQUENCE_NUMBER for the head of the
 * line: librdkafka's idempotent producer fails for good (as it does when a whole cluster
 * restarts under load), and Brook replaces it. */
static void make_producer_fail(void) {
    assert_int_equal(
        brook_test_push_request_errors(cluster, 0 /* Produce */, 1, 45 /* OUT_OF_ORDER_SEQ */), 0);
}

/* A template whose producer failed for good keeps sending through a new one; every record is
 * reported, and those reported failed are the failed producer's only. */
static void test_fatal_producer_replaced(void **state) {
    it_require_embedded("a broker that answers a produce request with a sequence error");
    const char *decl =
        "service = { name = \"pf5\"; };\n"
        "topics = ( { name = \"pf.fatal\"; partitions = 1; } );\n"
        "templates = ( { name = \"out\"; topic = \"pf.fatal\"; value = \"string\"; } );\n";
    brook_app_t *app = it_app(decl);
    brook_template_t *tpl = start_counted(app);
    assert_int_equal(send_range(tpl, 0, 100), 0);
    assert_int_equal(brook_template_flush(tpl, 10000), 0);
    make_producer_fail();
    brook_template_stats_t st;
    for (int i = 100; i < 1000; i += 100) {
        assert_int_equal(send_range(tpl, i, i + 100), 0);
        brook_template_stats(tpl, &st);
        if (st.producer_replacements)
            break;
        brook_test_nap();
    }
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (brook_template_stats(tpl, &st), st.producer_replacements == 1), 10000));
    /* Sends after the replacement are delivered. */
    assert_int_equal(send_range(tpl, 1000, 1100), 0);
    assert_int_equal(brook_template_flush(tpl, 10000), 0);
    brook_template_stats(tpl, &st);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        atomic_load(&delivered) + atomic_load(&failed) == (int)st.sent, 10000));
    assert_true(atomic_load(&failed) >= 1);
    assert_int_equal(st.failed, (uint64_t)atomic_load(&failed));
    assert_int_equal(st.delivered, (uint64_t)atomic_load(&delivered));
    brook_test_record_t *recs;
    size_t n = brook_test_consume(cluster, "pf.fatal", st.sent + 1, 10000, &recs);
    /* Every delivered record is there; a failed one may be too (it was in flight). */
    assert_true(n >= st.delivered && n <= st.sent);
    int last = -1;
    for (size_t i = 0; i < n; i++)
        last = atoi(strchr(recs[i].value, '-') + 1);
    assert_int_equal(last, 1099);
    brook_test_records_free(recs, n);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

static it_tracker_t relayed;
static atomic_int fault_rc = -1;

static brook_result_t relay(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    /* Mid-stream, once: the next produce request is the relay's own (the test's producer is
     * done before the service starts). */
    if (atomic_load(&relayed.total) == relayed.n / 3) {
        int expected = -1;
        int rc = brook_test_push_request_errors(cluster, 0, 1, 45);
        atomic_compare_exchange_strong(&fault_rc, &expected, rc);
    }
    it_track(&relayed, ctx, value);
    return brook_template_send(op, key, value, NULL) ? BROOK_RETRY : BROOK_OK;
}

/* A listener relaying records through a template whose producer fails for good mid-stream:
 * the records whose outputs the failed producer held are handled again, so every input
 * reaches the output topic; none goes to a retry or dead letter. */
static void test_fatal_producer_loses_no_output(void **state) {
    it_require_embedded("a broker that answers a produce request with a sequence error");
    const char *decl =
        "service = { name = \"pf6\"; commit_interval_ms = 100; };\n"
        "topics = ( { name = \"pf.rin\"; partitions = 3; },\n"
        "           { name = \"pf.rout\"; partitions = 3; } );\n"
        "templates = ( { name = \"out\"; topic = \"pf.rout\"; value = \"string\"; } );\n"
        "listeners = ( { id = \"relay\"; group = \"pf6\"; topics = [ \"pf.rin\" ];\n"
        "  value = \"string\"; handler = \"relay\"; } );\n";
    const int n = 3000;
    it_tracker_init(&relayed, n);
    brook_app_t *app = it_app(decl);
    brook_template_t *tpl = brook_app_template(app, "out");
    brook_app_set_handler(app, "relay", relay, tpl);
    assert_int_equal(brook_test_create_topic(cluster, "pf.rin", 3), 0);
    assert_int_equal(brook_test_produce_n(cluster, "pf.rin", "r", 0, n), 0);
    it_start(app);
    brook_template_stats_t st;
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (brook_template_stats(tpl, &st), st.producer_replacements == 1), 30000));
    assert_int_equal(atomic_load(&fault_rc), 0);
    /* Every input committed, so (commits wait for outputs) every output delivered. */
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("pf6", "pf.rin", 3) == n, 30000));
    assert_int_equal(brook_app_stop(app), 0);

    brook_test_record_t *recs;
    int64_t end = 0;
    assert_true(
        BROOK_TEST_WAIT_UNTIL((end = brook_test_end_offsets(cluster, "pf.rout")) >= n, 20000));
    size_t got = brook_test_consume(cluster, "pf.rout", (size_t)end, 20000, &recs);
    assert_int_equal(got, end);
    int *seen = calloc((size_t)n, sizeof(int));
    for (size_t i = 0; i < got; i++) {
        int k = atoi(strchr(recs[i].value, '-') + 1);
        assert_true(k >= 0 && k < n);
        seen[k]++;
    }
    int missing = 0, first = -1;
    for (int k = 0; k < n; k++)
        if (!seen[k] && missing++ == 0)
            first = k;
    if (missing)
        fail_msg("%d of %d inputs not relayed (the first r-%d; %zu output records)", missing, n,
                 first, got);
    free(seen);
    brook_test_records_free(recs, got);
    brook_listener_stats_t ls;
    brook_listener_stats(brook_app_listener(app, "relay"), &ls);
    assert_int_equal(ls.dead_lettered, 0);
    assert_int_equal(relayed.unknown, 0);
    it_tracker_free(&relayed);
    brook_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_deliver_exactly_once),
        cmocka_unit_test(test_undeliverable_is_reported),
        cmocka_unit_test(test_transactional_needs_a_transaction),
        cmocka_unit_test(test_send_to_another_topic),
        cmocka_unit_test(test_fatal_producer_replaced),
        cmocka_unit_test(test_fatal_producer_loses_no_output),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
