/* Handlers' outputs and their inputs' commits; delivery callbacks; a bounded stop. */
#include "itest.h"

static atomic_int delivered, failed, handled;

static void on_delivery(brook_template_t *tpl, int err, const char *topic, int32_t partition,
                        int64_t offset, void *msg_opaque, void *opaque) {
    atomic_fetch_add(err ? &failed : &delivered, 1);
}

/* Forwards each input to the "out" template. */
static brook_result_t relay(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    brook_template_t *out = brook_app_template(brook_ctx_app(ctx), "out");
    int rc = brook_template_send(out, key, value, NULL);
    atomic_fetch_add(&handled, 1);
    return rc ? BROOK_RETRY : BROOK_OK;
}

static brook_app_t *relay_app(const char *name, const char *in, const char *extra) {
    char decl[1024];
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"%s\"; commit_interval_ms = 100; %s };\n"
        "topics = ( { name = \"%s\"; partitions = 1; }, { name = \"%s.out\"; partitions = 1; } );\n"
        "templates = ( { name = \"out\"; topic = \"%s.out\"; value = \"string\"; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
        "  handler = \"relay\"; } );\n",
        name, extra, in, in, in, in);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", relay, NULL), 0);
    /* Set before start: kept. */
    assert_int_equal(
        brook_template_set_delivery_cb(brook_app_template(app, "out"), on_delivery, NULL), 0);
    char out_topic[64];
    snprintf(out_topic, sizeof(out_topic), "%s.out", in);
    assert_string_equal(brook_template_topic(brook_app_template(app, "out")), out_topic);
    return app;
}

/* While a handler's output is undelivered, its input is not committed; once delivered, it is. */
static void test_outputs_before_inputs(void **state) {
    it_require_embedded("a leader-less partition");
    atomic_store(&delivered, 0);
    atomic_store(&failed, 0);
    atomic_store(&handled, 0);
    assert_int_equal(brook_test_create_topic(cluster, "out.a", 1), 0);
    brook_app_t *app = relay_app("out-a", "out.a", "");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));
    /* The output topic has no leader for a while: relayed records wait in the producer. */
    assert_int_equal(brook_test_partition_leader(cluster, "out.a.out", 0, -1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "out.a", "a", 0, 20), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 20, 30000));
    /* Several commit intervals pass; no input may be committed while its output waits. */
    for (int i = 0; i < 5; i++) {
        assert_true(it_committed("out-a", "out.a", 0) <= 0);
        assert_int_equal(atomic_load(&delivered), 0);
    }
    assert_int_equal(brook_test_partition_leader(cluster, "out.a.out", 0, 1), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&delivered) == 20, 30000));
    assert_true(
        BROOK_TEST_WAIT_UNTIL(brook_test_committed(cluster, "out-a", "out.a", 0) == 20, 30000));
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* Stop keeps to shutdown_timeout_ms even when a handler's output cannot be delivered: the
 * output is reported failed and its input is not committed. */
static void test_stop_is_bounded(void **state) {
    it_require_embedded("a leader-less partition");
    atomic_store(&delivered, 0);
    atomic_store(&failed, 0);
    atomic_store(&handled, 0);
    assert_int_equal(brook_test_create_topic(cluster, "out.b", 1), 0);
    brook_app_t *app = relay_app(
        "out-b", "out.b", "shutdown_timeout_ms = 1000; kafka = { message_timeout_ms = 60000; };");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));
    assert_int_equal(brook_test_partition_leader(cluster, "out.b.out", 0, -1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "out.b", "b", 0, 5), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 5, 30000));
    int64_t t0 = brook_test_now_ms();
    /* Not a clean stop: the member gave up waiting for its outputs at the deadline. */
    assert_int_equal(brook_app_stop(app), BROOK_ERR_TIMEOUT);
    int64_t took = brook_test_now_ms() - t0;
    print_message("stop took %lld ms\n", (long long)took);
    assert_true(took < 5000);
    assert_int_equal(atomic_load(&failed), 5); /* every send heard how it ended */
    assert_int_equal(atomic_load(&delivered), 0);
    brook_app_destroy(app);
    assert_int_equal(brook_test_partition_leader(cluster, "out.b.out", 0, 1), 0);
    assert_true(it_committed("out-b", "out.b", 0) <= 0);
}

/* An output that fails for good sends its input back to the committed offset: the handler
 * runs again and the output is delivered once the topic is back, and only then is the input
 * committed. */
static void test_failed_output_rehandles_input(void **state) {
    it_require_embedded("a leader-less partition");
    atomic_store(&delivered, 0);
    atomic_store(&failed, 0);
    atomic_store(&handled, 0);
    assert_int_equal(brook_test_create_topic(cluster, "out.c", 1), 0);
    brook_app_t *app = relay_app("out-c", "out.c", "kafka = { message_timeout_ms = 1500; };");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));
    assert_int_equal(brook_test_partition_leader(cluster, "out.c.out", 0, -1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "out.c", "c", 0, 5), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&failed) >= 5, 30000));
    assert_true(it_committed("out-c", "out.c", 0) <= 0);
    assert_int_equal(brook_test_partition_leader(cluster, "out.c.out", 0, 1), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&delivered) >= 5, 30000));
    assert_true(
        BROOK_TEST_WAIT_UNTIL(brook_test_committed(cluster, "out-c", "out.c", 0) == 5, 30000));
    assert_true(atomic_load(&handled) >= 10);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    brook_test_record_t *recs;
    size_t n = brook_test_consume(cluster, "out.c.out", 100, 5000, &recs);
    bool seen[5] = {0};
    for (size_t k = 0; k < n; k++)
        seen[atoi(strrchr(recs[k].value, '-') + 1)] = true;
    for (int k = 0; k < 5; k++)
        assert_true(seen[k]);
    brook_test_records_free(recs, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_before_inputs),
        cmocka_unit_test(test_stop_is_bounded),
        cmocka_unit_test(test_failed_output_rehandles_input),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
