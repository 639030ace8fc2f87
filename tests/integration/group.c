/* Consumer groups: concurrency within an app, a second app joining mid-stream. */
#include <time.h>

#include "itest.h"

static it_tracker_t tracker;
static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t owners[IT_MAX_PARTITIONS];
static bool owned[IT_MAX_PARTITIONS];
static atomic_int owner_changes;

static void work(int us) {
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static atomic_int work_us = 100;

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    int p = brook_ctx_record(ctx)->partition;
    pthread_mutex_lock(&owners_lock);
    if (owned[p] && !pthread_equal(owners[p], pthread_self()))
        atomic_fetch_add(&owner_changes, 1);
    owners[p] = pthread_self();
    owned[p] = true;
    pthread_mutex_unlock(&owners_lock);
    /* Long enough that two threads on one partition would overlap. */
    atomic_fetch_add(&((it_tracker_t *)op)->busy[p], 0);
    it_track(op, ctx, value);
    work(atomic_load(&work_us));
    return BROOK_OK;
}

static brook_app_t *make_app_with(const char *topic, int partitions, int concurrency,
                                  const char *service_extra) {
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"grp-%s\"; %s };\n"
             "topics = ( { name = \"%s\"; partitions = %d; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_record\"; concurrency = %d; } );\n",
             topic, service_extra, topic, partitions, topic, concurrency);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, &tracker), 0);
    it_start(app);
    return app;
}

static brook_app_t *make_app(const char *topic, int partitions, int concurrency) {
    return make_app_with(topic, partitions, concurrency, "");
}

/* concurrency 3 over 6 partitions: each partition handled by one thread only, never two at
 * once; three threads share the work; every record handled once. */
static void test_concurrency(void **state) {
    it_tracker_init(&tracker, 6000);
    memset(owned, 0, sizeof(owned));
    atomic_store(&owner_changes, 0);
    assert_int_equal(brook_test_create_topic(cluster, "grp.conc", 6), 0);
    brook_app_t *app = make_app("grp.conc", 6, 3);
    assert_int_equal(brook_app_listener_count(app), 1);
    assert_string_equal(brook_listener_id(brook_app_listener_at(app, 0)), "l");
    assert_null(brook_app_listener_at(app, 1));
    assert_true(brook_test_wait_assigned(app, 30000));
    assert_true(brook_listener_assigned(brook_app_listener(app, "l")));
    /* Produced once the three members share the partitions (on a real broker they join one
     * after another, and records already there would be handled while partitions move). */
    assert_int_equal(brook_test_produce_n(cluster, "grp.conc", "k", 0, 6000), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracker) == 6000, 60000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(atomic_load(&tracker.overlaps), 0);
    assert_int_equal(atomic_load(&tracker.out_of_order), 0);
    assert_int_equal(it_duplicates(&tracker), 0);
    assert_int_equal(atomic_load(&owner_changes), 0);
    int threads = 0;
    for (int p = 0; p < 6; p++) {
        assert_true(owned[p]);
        bool first = true;
        for (int q = 0; q < p; q++)
            if (pthread_equal(owners[p], owners[q]))
                first = false;
        threads += first;
    }
    assert_int_equal(threads, 3);
    it_tracker_free(&tracker);
}

/* A second instance joins the group mid-stream: nothing lost, and since revoked partitions
 * are committed before they go, nothing handled twice and offsets never go back.
 * The embedded cluster refuses a commit while any member rejoins (a broker takes it until
 * the group completes its rebalance), so there a revoke's commit can be refused: then, and
 * only then, its partitions' records since the last commit are handled again, and the
 * listener counts the revoke in revokes_uncommitted. On real Kafka none may be. */
static void second_instance_joins(const char *topic, const char *service_extra) {
    it_tracker_init(&tracker, 8000);
    /* Slow enough that the stream outlasts the rebalance. */
    atomic_store(&work_us, 1000);
    assert_int_equal(brook_test_create_topic(cluster, topic, 4), 0);
    assert_int_equal(brook_test_produce_n(cluster, topic, "j", 0, 8000), 0);
    brook_app_t *a = make_app_with(topic, 4, 1, service_extra);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&tracker.total) >= 500, 30000));
    brook_app_t *b = make_app_with(topic, 4, 1, service_extra);
    brook_listener_stats_t sa, sb;
    /* b gets partitions after the rebalance and handles some of them. */
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (brook_listener_stats(brook_app_listener(b, "l"), &sb), sb.handled > 0), 60000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracker) == 8000, 60000));
    assert_int_equal(brook_app_stop(b), 0);
    assert_int_equal(brook_app_stop(a), 0);
    /* After stop: a handler's count is taken once it has returned. */
    brook_listener_stats(brook_app_listener(a, "l"), &sa);
    brook_listener_stats(brook_app_listener(b, "l"), &sb);
    print_message("join: a handled %llu, b handled %llu\n", (unsigned long long)sa.handled,
                  (unsigned long long)sb.handled);
    uint64_t uncommitted = sa.revokes_uncommitted + sb.revokes_uncommitted;
    brook_app_destroy(b);
    brook_app_destroy(a);
    int duplicates = it_duplicates(&tracker);
    if (uncommitted) {
        print_message("%llu revoke(s) could not commit first: %d record(s) handled again\n",
                      (unsigned long long)uncommitted, duplicates);
        assert_true(brook_test_is_embedded(cluster));
        /* Each partition handed back goes back once, to its last committed offset. */
        assert_true(atomic_load(&tracker.out_of_order) <= 4);
    } else {
        assert_int_equal(duplicates, 0);
        assert_int_equal(atomic_load(&tracker.out_of_order), 0);
    }
    assert_int_equal(atomic_load(&tracker.overlaps), 0);
    assert_int_equal(sa.handled + sb.handled, 8000 + duplicates);
    it_tracker_free(&tracker);
}

/* With cooperative-sticky assignment, Brook's default. */
static void test_second_instance_joins(void **state) {
    second_instance_joins("grp.join", "");
}

/* With the eager protocol: every partition is revoked, committed and assigned again. The
 * embedded cluster refuses commits while a group rebalances, so this runs on real Kafka. */
static void test_second_instance_joins_eager(void **state) {
    if (brook_test_is_embedded(cluster)) {
        print_message("skipped on the embedded cluster: it refuses commits during an eager "
                      "rebalance\n");
        skip();
    }
    second_instance_joins("grp.eager", "kafka = { partition_assignment_strategy = \"range\"; };");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_second_instance_joins),
        cmocka_unit_test(test_second_instance_joins_eager),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
