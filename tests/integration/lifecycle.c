/* Container lifecycle: throughput in order, graceful stop and restart, crash and restart. */
#include <time.h>

#include "itest.h"

static it_tracker_t tracker;

static atomic_int work_us; /* simulated work per record */

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    it_track(op, ctx, value);
    int us = atomic_load(&work_us);
    if (us) {
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, NULL);
    }
    return BROOK_OK;
}

static const char *decl_fmt = "service = { name = \"%s\"; commit_interval_ms = 200; };\n"
                              "topics = ( { name = \"%s\"; partitions = %d; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; key = \"string\";\n"
                              "  value = \"string\"; handler = \"on_record\"; } );\n";

static brook_app_t *make_app(const char *name, const char *topic, int partitions) {
    char decl[1024];
    snprintf(decl, sizeof(decl), decl_fmt, name, topic, partitions, topic);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, &tracker), 0);
    it_start(app);
    return app;
}

/* 10,000 records through one listener: each handled once, in offset order per partition. */
static void test_ten_thousand_in_order(void **state) {
    it_tracker_init(&tracker, 10000);
    assert_int_equal(brook_test_create_topic(cluster, "lc.many", 3), 0);
    assert_int_equal(brook_test_produce_n(cluster, "lc.many", "m", 0, 10000), 0);
    brook_app_t *app = make_app("lc-many", "lc.many", 3);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracker) == 10000, 60000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(atomic_load(&tracker.total), 10000);
    assert_int_equal(it_duplicates(&tracker), 0);
    assert_int_equal(atomic_load(&tracker.out_of_order), 0);
    assert_int_equal(atomic_load(&tracker.unknown), 0);
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.handled, 10000);
    brook_app_destroy(app);
    it_tracker_free(&tracker);
}

static int64_t committed_sum(const char *group, const char *topic, int partitions) {
    int64_t sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t o = it_committed(group, topic, p);
        sum += o > 0 ? o : 0;
    }
    return sum;
}

/* Graceful stop, then restart: resumes at the committed offset, nothing lost, nothing
 * handled twice. */
static void test_stop_and_restart(void **state) {
    it_tracker_init(&tracker, 2000);
    assert_int_equal(brook_test_create_topic(cluster, "lc.stop", 2), 0);
    assert_int_equal(brook_test_produce_n(cluster, "lc.stop", "s", 0, 1000), 0);
    brook_app_t *app = make_app("lc-stop", "lc.stop", 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracker) == 1000, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    /* Stop committed everything handled. */
    assert_int_equal(committed_sum("lc-stop", "lc.stop", 2), 1000);

    assert_int_equal(brook_test_produce_n(cluster, "lc.stop", "s", 1000, 1000), 0);
    app = make_app("lc-stop", "lc.stop", 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracker) == 2000, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(it_duplicates(&tracker), 0);
    assert_int_equal(atomic_load(&tracker.total), 2000);
    assert_int_equal(atomic_load(&tracker.out_of_order), 0);
    it_tracker_free(&tracker);
}

/* Destroy without stop (a crash), then restart: nothing lost; what is handled again is at
 * most what was handled but not yet committed. */
static void test_crash_and_restart(void **state) {
    it_tracker_init(&tracker, 4000);
    atomic_store(&work_us, 300);
    assert_int_equal(brook_test_create_topic(cluster, "lc.crash", 2), 0);
    assert_int_equal(brook_test_produce_n(cluster, "lc.crash", "c", 0, 4000), 0);
    brook_app_t *app = make_app("lc-crash", "lc.crash", 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&tracker.total) >= 1500, 30000));
    brook_app_destroy(app); /* no stop */
    int handled_before = atomic_load(&tracker.total);
    int64_t committed = committed_sum("lc-crash", "lc.crash", 2);
    print_message("crash: handled %d, committed %lld\n", handled_before, (long long)committed);
    assert_true(committed <= handled_before);
    assert_true(handled_before < 4000); /* the crash came mid-stream */

    atomic_store(&work_us, 0);
    it_reset_order(&tracker);
    app = make_app("lc-crash", "lc.crash", 2);
    /* The restarted member resumes at the committed offsets and goes to the end. */
    brook_listener_t *l = brook_app_listener(app, "l");
    brook_listener_stats_t st;
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (brook_listener_stats(l, &st), st.handled == (uint64_t)(4000 - committed)), 60000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_listener_stats(l, &st);
    assert_int_equal(st.handled, 4000 - committed);
    brook_app_destroy(app);
    assert_int_equal(it_distinct(&tracker), 4000);
    int dups = it_duplicates(&tracker);
    print_message("crash: redelivered %d (uncommitted tail %lld)\n", dups,
                  (long long)(handled_before - committed));
    assert_int_equal(dups, handled_before - committed);
    assert_int_equal(atomic_load(&tracker.out_of_order), 0);
    assert_int_equal(atomic_load(&tracker.unknown), 0);
    assert_int_equal(committed_sum("lc-crash", "lc.crash", 2), 4000);
    it_tracker_free(&tracker);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_in_order),
        cmocka_unit_test(test_stop_and_restart),
        cmocka_unit_test(test_crash_and_restart),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
