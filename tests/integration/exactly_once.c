/* Exactly-once listeners and transactions: a handler's outputs and its input's offset commit
 * together or not at all. Checked by read_committed and read_uncommitted readers that are not
 * Brook listeners (the test kit's consumers).
 *
 * The embedded cluster runs transactions (begin, produce, commit, abort) but does not mark
 * aborted records, so a read_committed reader sees them there, nor does it store the offsets
 * a transaction commits (Brook commits them through the consumer as well there): on it these
 * tests check what a transaction does, and on real brokers (kafka.exactly_once) also what it
 * guarantees. */
#include "itest.h"

static it_tracker_t tracked;
static const char *fail_value; /* the handler sends its output, then fails, for this value */

static brook_result_t relay(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    it_track(&tracked, ctx, value);
    if (brook_template_send(op, key, value, NULL))
        return BROOK_RETRY;
    if (fail_value && !strcmp(value, fail_value)) {
        /* Written to the broker (not only queued), so that the abort has something to undo
         * that a read_uncommitted reader can see. */
        if (brook_template_flush(op, 10000))
            return BROOK_RETRY;
        return brook_ctx_fail(ctx, "it.Rejected", "rejected %s", (const char *)value);
    }
    return BROOK_OK;
}

/* All n inputs handled and their offsets committed by the transactions. */
static bool all_done(const char *group, const char *topic, int n) {
    return it_distinct(&tracked) == n && it_committed_total(group, topic, 2) == n;
}

/* Counts the values "<prefix>-<i>" among recs into seen[i]. */
static void count_values(const brook_test_record_t *recs, size_t n, int *seen, int max) {
    for (size_t i = 0; i < n; i++) {
        int k = atoi(strrchr(recs[i].value, '-') + 1);
        assert_true(k >= 0 && k < max);
        seen[k]++;
    }
}

static char decl[2048];

static brook_app_t *relay_app(const char *name, const char *extra) {
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; };\n"
             "topics = ( { name = \"%s.in\"; partitions = 2; },\n"
             "           { name = \"%s.out\"; partitions = 2; } );\n"
             "templates = ( { name = \"out\"; topic = \"%s.out\"; value = \"string\"; } );\n"
             "listeners = ( { id = \"relay\"; group = \"%s\"; topics = [ \"%s.in\" ];\n"
             "  value = \"string\"; handler = \"relay\"; exactly_once = true;\n"
             "  transaction = { max_records = 50; max_ms = 200; }; %s } );\n",
             name, name, name, name, name, name, extra);
    brook_app_t *app = it_app(decl);
    brook_app_set_handler(app, "relay", relay, brook_app_template(app, "out"));
    return app;
}

/* Every input relayed exactly once to a read_committed reader; offsets committed with it. */
static void test_relay_exactly_once(void **state) {
    const int n = 400;
    it_tracker_init(&tracked, n);
    fail_value = NULL;
    brook_app_t *app = relay_app("eo1", "");
    it_start(app);
    assert_int_equal(brook_test_produce_n(cluster, "eo1.in", "v", 0, n), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(all_done("eo1", "eo1.in", n), 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    brook_test_record_t *recs;
    size_t got = brook_test_consume(cluster, "eo1.out", n + 1, 5000, &recs);
    assert_int_equal(got, n);
    int *seen = calloc(n, sizeof(int));
    count_values(recs, got, seen, n);
    for (int k = 0; k < n; k++)
        assert_int_equal(seen[k], 1);
    free(seen);
    brook_test_records_free(recs, got);
    it_tracker_free(&tracked);
}

/* A handler that sent its output and then failed: the transaction is aborted (its output and
 * those of the records before it in the same transaction), the records before it are handled
 * again, and the failed one goes through the retry policy to the DLT: a read_committed reader
 * sees every other output exactly once and the DLT exactly one record; a read_uncommitted
 * reader also sees the aborted outputs. */
static void test_failure_aborts(void **state) {
    const int n = 200;
    it_tracker_init(&tracked, n);
    fail_value = "v-120";
    brook_app_t *app = relay_app(
        "eo2",
        "retry = { attempts = 2; backoff = { delay_ms = 10; }; }; dlt = { enabled = true; };");
    it_start(app);
    assert_int_equal(brook_test_produce_n(cluster, "eo2.in", "v", 0, n), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(all_done("eo2", "eo2.in", n), 30000));
    brook_listener_stats_t st;
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (brook_listener_stats(brook_app_listener(app, "relay"), &st), st.dead_lettered == 1),
        10000));
    /* v-120 failed twice: the first failure aborted what came before it in its transaction,
     * the second the transaction of v-120 alone. */
    assert_true(st.aborted_transactions >= 2);
    assert_true(st.transactions >= 1);
    brook_listener_stats(brook_app_listener(app, "relay"), &st);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    /* The failing record was handled twice (attempts = 2), each time sending its output. */
    assert_int_equal(tracked.seen[120], 2);

    bool embedded = brook_test_is_embedded(cluster);
    brook_test_record_t *recs;
    size_t got =
        brook_test_consume(cluster, "eo2.out", (size_t)n * 3, embedded ? 5000 : 3000, &recs);
    int *seen = calloc(n, sizeof(int));
    count_values(recs, got, seen, n);
    if (embedded) {
        /* Aborted outputs are not marked: each input's output is there at least once. */
        for (int k = 0; k < n; k++)
            assert_true(seen[k] >= 1);
    } else {
        assert_int_equal(got, n - 1);
        for (int k = 0; k < n; k++)
            assert_int_equal(seen[k], k == 120 ? 0 : 1);
    }
    brook_test_records_free(recs, got);

    size_t dn = brook_test_consume(cluster, "eo2.in-dlt", 2, 5000, &recs);
    assert_int_equal(dn, 1);
    assert_string_equal(recs[0].value, "v-120");
    const brook_header_t *h = brook_test_record_header(&recs[0], "kafka_dlt-exception-fqcn");
    assert_non_null(h);
    assert_memory_equal(h->value, "it.Rejected", h->len);
    brook_test_records_free(recs, dn);

    /* Uncommitted: the aborted outputs are there too (v-120's two, written before each
     * failure). */
    got = brook_test_consume_uncommitted(cluster, "eo2.out", (size_t)n * 3, 3000, &recs);
    memset(seen, 0, n * sizeof(int));
    count_values(recs, got, seen, n);
    assert_int_equal(seen[120], 2);
    assert_true(got >= (size_t)n + 1);
    free(seen);
    brook_test_records_free(recs, got);
    it_tracker_free(&tracked);
}

static int send_three(brook_app_t *app, void *opaque) {
    brook_template_t *tpl = brook_app_template(app, "tx");
    const char *tag = opaque;
    char v[32];
    for (int i = 0; i < 3; i++) {
        snprintf(v, sizeof(v), "%s-%d", tag, i);
        int rc = brook_template_send(tpl, v, v, NULL);
        if (rc)
            return rc;
    }
    /* Written before the commit or abort, so a read_uncommitted reader sees them either way. */
    int rc = brook_template_flush(tpl, 10000);
    if (rc)
        return rc;
    return strcmp(tag, "abort") ? 0 : 7;
}

/* brook_app_execute_in_transaction: committed sends are seen, aborted ones are not (by a
 * read_committed reader); a transactional template refuses a send outside a transaction. */
static void test_execute_in_transaction(void **state) {
    const char *d = "service = { name = \"eo3\"; };\n"
                    "topics = ( { name = \"eo3.out\"; partitions = 1; } );\n"
                    "templates = ( { name = \"tx\"; topic = \"eo3.out\"; value = \"string\";\n"
                    "                transactional = true; } );\n";
    brook_app_t *app = it_app(d);
    it_start(app);
    assert_int_equal(brook_template_send(brook_app_template(app, "tx"), "k", "v", NULL),
                     BROOK_ERR_STATE);
    brook_error_t err = {0};
    assert_int_equal(brook_app_execute_in_transaction(app, send_three, "commit", &err), 0);
    assert_int_equal(brook_app_execute_in_transaction(app, send_three, "abort", &err), 7);
    assert_int_equal(brook_app_execute_in_transaction(app, send_three, "again", &err), 0);
    brook_test_record_t *recs;
    size_t got;
    if (!brook_test_is_embedded(cluster)) {
        got = brook_test_consume(cluster, "eo3.out", 7, 5000, &recs);
        assert_int_equal(got, 6);
        for (size_t i = 0; i < got; i++)
            assert_null(strstr(recs[i].value, "abort"));
        brook_test_records_free(recs, got);
    }
    got = brook_test_consume_uncommitted(cluster, "eo3.out", 9, 10000, &recs);
    assert_int_equal(got, 9);
    brook_test_records_free(recs, got);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

static atomic_int run_rc = 1;

static void *run_app(void *app) {
    atomic_store(&run_rc, brook_app_run(app));
    return NULL;
}

/* A second instance with the same BROOK_INSTANCE_ID (so the same transactional ids) fences the
 * first: the first says so and stops (brook_app_run returns BROOK_ERR_FENCED), the second
 * takes over, and no output is seen twice by a read_committed reader. */
static void test_second_instance_fences_the_first(void **state) {
    if (brook_test_is_embedded(cluster)) {
        /* It bumps a transactional id's epoch but fails no request of the older one. */
        print_message("skipped on the embedded cluster: it does not fence producers\n");
        skip();
    }
    const int n = 200;
    it_tracker_init(&tracked, n);
    fail_value = NULL;
    setenv("BROOK_INSTANCE_ID", "twin", 1);
    brook_app_t *first = relay_app("eo4", "");
    it_start(first);
    pthread_t runner;
    assert_int_equal(pthread_create(&runner, NULL, run_app, first), 0);
    assert_int_equal(brook_test_produce_n(cluster, "eo4.in", "v", 0, n / 2), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_distinct(&tracked) == n / 2, 30000));
    brook_app_t *second = relay_app("eo4", "");
    it_start(second);
    /* The first keeps a partition (cooperative-sticky) and meets the fence with its next
     * transaction. */
    assert_int_equal(brook_test_produce_n(cluster, "eo4.in", "v", n / 2, n / 2), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&run_rc) != 1, 60000));
    pthread_join(runner, NULL);
    assert_int_equal(atomic_load(&run_rc), BROOK_ERR_FENCED);
    brook_app_destroy(first);
    assert_true(BROOK_TEST_WAIT_UNTIL(all_done("eo4", "eo4.in", n), 60000));
    assert_int_equal(brook_app_stop(second), 0);
    brook_app_destroy(second);
    unsetenv("BROOK_INSTANCE_ID");

    brook_test_record_t *recs;
    size_t got = brook_test_consume(cluster, "eo4.out", (size_t)n * 2, 5000, &recs);
    int *seen = calloc(n, sizeof(int));
    count_values(recs, got, seen, n);
    for (int k = 0; k < n; k++)
        if (brook_test_is_embedded(cluster))
            assert_true(seen[k] >= 1);
        else
            assert_int_equal(seen[k], 1);
    free(seen);
    brook_test_records_free(recs, got);
    it_tracker_free(&tracked);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_exactly_once),
        cmocka_unit_test(test_failure_aborts),
        cmocka_unit_test(test_execute_in_transaction),
        cmocka_unit_test(test_second_instance_fences_the_first),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
