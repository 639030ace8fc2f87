/* Ack modes: batch, manual and record_sync commit what they promise. */
#include "itest.h"

static atomic_int handled;
static atomic_int ack_below; /* manual: ack records whose index is below this */

static int index_of(const char *value) {
    return atoi(strrchr(value, '-') + 1);
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    atomic_fetch_add(&handled, 1);
    if (index_of(value) < atomic_load(&ack_below))
        brook_ctx_ack(ctx);
    return BROOK_OK;
}

static brook_app_t *make_app(const char *name, const char *topic, const char *ack) {
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 60000; };\n"
             "topics = ( { name = \"%s\"; partitions = 1; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_record\"; ack = \"%s\"; } );\n",
             name, topic, topic, ack);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, NULL), 0);
    it_start(app);
    return app;
}

/* batch: each poll's records are committed once handled, without waiting for the commit
 * interval (a minute here): record mode would commit nothing before the stop. */
static void test_batch(void **state) {
    atomic_store(&handled, 0);
    assert_int_equal(brook_test_create_topic(cluster, "ack.batch", 1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "ack.batch", "b", 0, 2000), 0);
    brook_app_t *app = make_app("ack-batch", "ack.batch", "batch");
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 2000, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("ack-batch", "ack.batch", 0) == 2000, 10000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(it_committed("ack-batch", "ack.batch", 0), 2000);
}

/* manual: only what the handler acknowledged is committed; the rest comes again. */
static void test_manual(void **state) {
    atomic_store(&handled, 0);
    atomic_store(&ack_below, 600);
    assert_int_equal(brook_test_create_topic(cluster, "ack.manual", 1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "ack.manual", "m", 0, 1000), 0);
    brook_app_t *app = make_app("ack-manual", "ack.manual", "manual");
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 1000, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(it_committed("ack-manual", "ack.manual", 0), 600);

    atomic_store(&handled, 0);
    atomic_store(&ack_below, 1000);
    app = make_app("ack-manual", "ack.manual", "manual");
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 400, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(atomic_load(&handled), 400);
    assert_int_equal(it_committed("ack-manual", "ack.manual", 0), 1000);
}

/* record_sync: every handled record is committed before the next, so even a crash (destroy
 * without stop, and a commit interval far away) leaves nothing uncommitted. */
static void test_record_sync_survives_crash(void **state) {
    atomic_store(&handled, 0);
    assert_int_equal(brook_test_create_topic(cluster, "ack.sync", 1), 0);
    assert_int_equal(brook_test_produce_n(cluster, "ack.sync", "s", 0, 300), 0);
    brook_app_t *app = make_app("ack-sync", "ack.sync", "record_sync");
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&handled) == 300, 30000));
    brook_app_destroy(app); /* no stop */
    assert_int_equal(it_committed("ack-sync", "ack.sync", 0), 300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_manual),
        cmocka_unit_test(test_record_sync_survives_crash),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
