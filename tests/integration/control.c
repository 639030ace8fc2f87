/* Controlling listeners while the app runs: pause and resume (no record handled while paused, no
 * rebalance, nothing committed meanwhile; a retry's hold survives a resume), stop and start one
 * listener while another runs (committed at the stop, out of its group, the records produced
 * meanwhile handled after the start, none twice), a stop from the listener's own handler, two
 * listeners' handlers stopping each other, and auto_startup = false. */
#include <time.h>

#include "itest.h"

#define N_MAX 64

/* Calls per listener ("a", "b") and value index. */
static struct {
    pthread_mutex_t lock;
    int seen[2][N_MAX];
    int calls[2];
} hl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void hl_reset(void) {
    pthread_mutex_lock(&hl.lock);
    memset(hl.seen, 0, sizeof(hl.seen));
    memset(hl.calls, 0, sizeof(hl.calls));
    pthread_mutex_unlock(&hl.lock);
}

static int index_of(const char *value) {
    const char *dash = value ? strrchr(value, '-') : NULL;
    return dash ? atoi(dash + 1) : -1;
}

static int which(brook_ctx_t *ctx) {
    return strcmp(brook_ctx_listener_id(ctx), "b") == 0;
}

static int hl_note(brook_ctx_t *ctx, const char *value) {
    int l = which(ctx), i = index_of(value);
    assert_true(i >= 0 && i < N_MAX);
    pthread_mutex_lock(&hl.lock);
    int before = hl.seen[l][i]++;
    hl.calls[l]++;
    pthread_mutex_unlock(&hl.lock);
    return before;
}

static int hl_calls(int l) {
    pthread_mutex_lock(&hl.lock);
    int n = hl.calls[l];
    pthread_mutex_unlock(&hl.lock);
    return n;
}

/* Every value in [0, n) handled exactly once by listener l. */
static void assert_once(int l, int n) {
    pthread_mutex_lock(&hl.lock);
    for (int i = 0; i < n; i++)
        if (hl.seen[l][i] != 1)
            fail_msg("listener %d: value %d handled %d times", l, i, hl.seen[l][i]);
    int calls = hl.calls[l];
    pthread_mutex_unlock(&hl.lock);
    assert_int_equal(calls, n);
}

static atomic_int stop_own_at = -1; /* listener "a" stops itself at this value index */
static atomic_int stop_own_rc = 1;

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    int before = hl_note(ctx, value);
    if (before == 0 && which(ctx) == 0 && index_of(value) == atomic_load(&stop_own_at))
        atomic_store(&stop_own_rc,
                     brook_listener_stop(brook_app_listener(brook_ctx_app(ctx), "a")));
    return BROOK_OK;
}

/* Listeners "a" and "b" (both with `handler`), stops within shutdown_ms. */
static brook_app_t *make_app_with(const char *name, const char *extra_a, int partitions,
                                  int concurrency, int shutdown_ms, brook_handler_fn *handler) {
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 100;\n"
             "  shutdown_timeout_ms = %d; };\n"
             "topics = ( { name = \"%s.a\"; partitions = %d; }, { name = \"%s.b\"; partitions = "
             "%d; } );\n"
             "listeners = (\n"
             "  { id = \"a\"; topics = [ \"%s.a\" ]; group = \"%s-a\"; value = \"string\";\n"
             "    handler = \"on_record\"; concurrency = %d; %s },\n"
             "  { id = \"b\"; topics = [ \"%s.b\" ]; group = \"%s-b\"; value = \"string\";\n"
             "    handler = \"on_record\"; } );\n",
             name, shutdown_ms, name, partitions, name, partitions, name, name, concurrency,
             extra_a ? extra_a : "", name, name);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "a", handler, NULL), 0);
    assert_int_equal(brook_app_set_handler(app, "b", handler, NULL), 0);
    return app;
}

static brook_app_t *make_app(const char *name, const char *extra_a, int partitions,
                             int concurrency) {
    /* A stop in the middle of a join waits for it: on the embedded cluster a rebalance takes
     * session.timeout.ms - 1 s, twice when the members join one after the other. */
    return make_app_with(name, extra_a, partitions, concurrency, 30000, on_record);
}

static void produce(const char *topic, const char *prefix, int first, int n) {
    assert_int_equal(brook_test_produce_n(cluster, topic, prefix, first, n), 0);
}

/* Text of the app's health (readiness) or metrics, for substring checks. */
static bool health_has(brook_app_t *app, const char *needle, int *up) {
    brook_buf_t b;
    brook_buf_init(&b);
    *up = brook_app_health(app, BROOK_HEALTH_READINESS, &b);
    assert_int_equal(brook_buf_append(&b, "", 1), 0);
    bool has = strstr((const char *)b.data, needle) != NULL;
    if (!has)
        print_message("health: %s\n", (const char *)b.data);
    brook_buf_free(&b);
    return has;
}

static bool metrics_has(brook_app_t *app, const char *needle) {
    brook_buf_t b;
    brook_buf_init(&b);
    assert_int_equal(brook_app_metrics(app, &b), 0);
    assert_int_equal(brook_buf_append(&b, "", 1), 0);
    bool has = strstr((const char *)b.data, needle) != NULL;
    brook_buf_free(&b);
    return has;
}

static uint64_t rebalances(brook_listener_t *l) {
    brook_listener_stats_t st;
    brook_listener_stats(l, &st);
    return st.rebalances;
}

/* Pause: with two members on two partitions, nothing is handled while paused although records
 * arrive, the members keep their partitions (no rebalance, still assigned) and the committed
 * offsets stay; after the resume every record is handled once. Health stays UP (state "paused"). */
static void test_pause_resume(void **state) {
    hl_reset();
    const char *ta = "control-pause.a";
    brook_app_t *app = make_app("control-pause", NULL, 2, 2);
    brook_listener_t *a = brook_app_listener(app, "a");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));
    produce(ta, "p", 0, 20);
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == 20, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("control-pause-a", ta, 2) == 20, 10000));
    uint64_t before = rebalances(a);

    assert_false(brook_listener_pause_requested(a));
    int64_t t0 = brook_test_now_ms();
    assert_int_equal(brook_listener_pause(a), 0);
    assert_true(brook_listener_pause_requested(a));
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_listener_paused(a), 10000));
    print_message("paused in %lld ms\n", (long long)(brook_test_now_ms() - t0));
    produce(ta, "p", 20, 20);
    /* None handled while paused, the records there to be read. */
    assert_false(BROOK_TEST_WAIT_UNTIL(hl_calls(0) > 20, 3000));
    assert_int_equal(brook_test_end_offsets(cluster, ta), 40);
    assert_int_equal(it_committed_total("control-pause-a", ta, 2), 20);
    assert_int_equal(rebalances(a), before);
    assert_true(brook_listener_assigned(a));
    assert_true(brook_listener_running(a));
    int up = 0;
    assert_true(health_has(app, "\"a\":{\"status\":\"UP\",\"details\":{\"state\":\"paused\"", &up));
    assert_int_equal(up, 1);
    assert_true(
        metrics_has(app, "brook_listener_paused{service=\"control-pause\",listener=\"a\"} 1"));

    t0 = brook_test_now_ms();
    assert_int_equal(brook_listener_resume(a), 0);
    assert_false(brook_listener_paused(a));
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == 40, 30000));
    print_message("the 20 records that arrived while paused handled %lld ms after the resume\n",
                  (long long)(brook_test_now_ms() - t0));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("control-pause-a", ta, 2) == 40, 10000));
    assert_int_equal(rebalances(a), before);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_once(0, 40);
}

/* A pause and a blocking retry share librdkafka's pause of a partition: the retry's record is not
 * delivered while the listener is paused, even when its backoff is over, and a resume does not let
 * it come before its backoff is over. */
static struct {
    pthread_mutex_t lock;
    int64_t failed_ms[2], retried_ms[2]; /* values 0 and 1: first failure, second attempt */
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t rt_get(int64_t *v) {
    pthread_mutex_lock(&rt.lock);
    int64_t x = *v;
    pthread_mutex_unlock(&rt.lock);
    return x;
}

static brook_result_t on_flaky(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    hl_note(ctx, value);
    int i = index_of(value);
    if (i > 1)
        return BROOK_OK;
    pthread_mutex_lock(&rt.lock);
    if (brook_ctx_attempt(ctx) == 1)
        rt.failed_ms[i] = wall_ms();
    else if (!rt.retried_ms[i])
        rt.retried_ms[i] = wall_ms();
    pthread_mutex_unlock(&rt.lock);
    return brook_ctx_attempt(ctx) == 1 ? brook_ctx_fail(ctx, "test.Flaky", "first") : BROOK_OK;
}

static void test_pause_keeps_retry_hold(void **state) {
    hl_reset();
    const char *topic = "control-retry.a";
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"control-retry\"; commit_interval_ms = 100; };\n"
             "topics = ( { name = \"%s\"; partitions = 1; } );\n"
             "listeners = ( { id = \"a\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"on_flaky\"; retry = { attempts = 2; backoff = { delay_ms = 1500; }; };"
             " } );\n",
             topic, topic);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "a", on_flaky, NULL), 0);
    brook_listener_t *a = brook_app_listener(app, "a");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));

    /* A resume while the retry waits: the retry still waits for its backoff. */
    produce(topic, "f", 0, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_get(&rt.failed_ms[0]) != 0, 30000));
    assert_int_equal(brook_listener_pause(a), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_listener_paused(a), 10000));
    assert_int_equal(brook_listener_resume(a), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_get(&rt.retried_ms[0]) != 0, 30000));
    int64_t waited = rt_get(&rt.retried_ms[0]) - rt_get(&rt.failed_ms[0]);
    print_message("retry after a pause and resume: %lld ms (backoff 1500)\n", (long long)waited);
    assert_true(waited >= 1500);

    /* A pause longer than the backoff: nothing while paused; the retry after the resume. */
    produce(topic, "f", 1, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_get(&rt.failed_ms[1]) != 0, 30000));
    assert_int_equal(brook_listener_pause(a), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_listener_paused(a), 10000));
    assert_false(BROOK_TEST_WAIT_UNTIL(rt_get(&rt.retried_ms[1]) != 0, 3000));
    int64_t resumed = wall_ms();
    assert_int_equal(brook_listener_resume(a), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_get(&rt.retried_ms[1]) != 0, 30000));
    assert_true(rt_get(&rt.retried_ms[1]) >= resumed);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("control-retry", topic, 0) == 2, 10000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_int_equal(hl_calls(0), 4); /* each failed once and succeeded once */
}

/* Stop one listener while another runs: the stopped one committed what it handled, left its group
 * and does not handle what arrives; the other goes on. Started again it handles what arrived
 * meanwhile, none twice; twice over, so that a restarted listener restarts too. */
static void test_stop_start(void **state) {
    hl_reset();
    const char *ta = "control-stop.a", *tb = "control-stop.b";
    brook_app_t *app = make_app("control-stop", NULL, 2, 2);
    brook_listener_t *a = brook_app_listener(app, "a"), *b = brook_app_listener(app, "b");
    it_start(app);
    assert_true(brook_test_wait_assigned(app, 30000));
    produce(ta, "s", 0, 10);
    produce(tb, "s", 0, 10);
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == 10 && hl_calls(1) == 10, 30000));
    for (int round = 1; round <= 2; round++) {
        int64_t t0 = brook_test_now_ms();
        assert_int_equal(brook_listener_stop(a), 0);
        print_message("round %d: listener stopped in %lld ms\n", round,
                      (long long)(brook_test_now_ms() - t0));
        assert_false(brook_listener_running(a));
        assert_true(brook_listener_running(b));
        assert_int_equal(brook_listener_stop(a), 0); /* again: nothing to do */
        /* Committed at the stop (the commit interval plays no part: it is asked of the broker
         * right away). */
        assert_int_equal(it_committed_total("control-stop-a", ta, 2), round * 10);
        int members = brook_test_group_members(cluster, "control-stop-a");
        if (members != BROOK_ERR_UNSUPPORTED)
            assert_int_equal(members, 0);
        members = brook_test_group_members(cluster, "control-stop-b");
        if (members != BROOK_ERR_UNSUPPORTED)
            assert_int_equal(members, 1);
        int up = 0;
        assert_true(
            health_has(app, "\"a\":{\"status\":\"UP\",\"details\":{\"state\":\"stopped\"", &up));
        assert_int_equal(up, 1);
        assert_true(
            metrics_has(app, "brook_listener_running{service=\"control-stop\",listener=\"a\"} 0"));
        assert_true(metrics_has(
            app, "brook_listener_members_assigned{service=\"control-stop\",listener=\"a\"} 0"));

        produce(ta, "s", round * 10, 10);
        produce(tb, "s", round * 10, 10);
        assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(1) == (round + 1) * 10, 30000));
        assert_false(BROOK_TEST_WAIT_UNTIL(hl_calls(0) > round * 10, 2000));

        t0 = brook_test_now_ms();
        assert_int_equal(brook_listener_start(a, NULL), 0);
        assert_true(brook_listener_running(a));
        assert_int_equal(brook_listener_start(a, NULL), 0); /* running: nothing to do */
        assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == (round + 1) * 10, 30000));
        print_message("round %d: started again, the 10 records handled after %lld ms\n", round,
                      (long long)(brook_test_now_ms() - t0));
        assert_true(BROOK_TEST_WAIT_UNTIL(
            it_committed_total("control-stop-a", ta, 2) == (round + 1) * 10, 10000));
    }
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(brook_listener_start(a, NULL), BROOK_ERR_STATE); /* the app stopped */
    brook_app_destroy(app);
    assert_once(0, 30);
    assert_once(1, 30);
}

/* A stop while the members are still joining their group (a rebalance under way): they leave
 * all the same, and what was handled is committed. */
static void test_stop_while_joining(void **state) {
    hl_reset();
    const char *ta = "control-join.a";
    brook_app_t *app = make_app("control-join", NULL, 2, 2);
    brook_listener_t *a = brook_app_listener(app, "a");
    it_start(app);
    produce(ta, "j", 0, 10);
    for (int round = 0; round < 6; round++) {
        /* After 0, 50, 100 ... ms: the group is anywhere between its first join and stable. */
        int64_t until = brook_test_now_ms() + round * 50;
        while (brook_test_now_ms() < until)
            brook_test_nap();
        int64_t t0 = brook_test_now_ms();
        assert_int_equal(brook_listener_stop(a), 0);
        int members = brook_test_group_members(cluster, "control-join-a");
        print_message("stop %d ms after the start: took %lld ms; members left in the group: %d%s\n",
                      round * 50, (long long)(brook_test_now_ms() - t0), members,
                      members == BROOK_ERR_UNSUPPORTED ? " (not known on the embedded cluster)"
                                                       : "");
        if (members != BROOK_ERR_UNSUPPORTED)
            assert_int_equal(members, 0);
        assert_int_equal(brook_listener_start(a, NULL), 0);
    }
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) >= 10, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* A listener stops itself from its handler (the call only asks): nothing after that record is
 * handled, what was handled is committed; started again from the test's thread it goes on from
 * there. */
static void test_stop_from_own_handler(void **state) {
    hl_reset();
    const char *ta = "control-self.a";
    brook_app_t *app = make_app("control-self", NULL, 1, 1);
    brook_listener_t *a = brook_app_listener(app, "a");
    atomic_store(&stop_own_at, 4);
    atomic_store(&stop_own_rc, 1);
    it_start(app);
    it_produce_in_order(ta, "o", 0, 10);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&stop_own_rc) == 0, 30000));
    assert_false(brook_listener_running(a));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("control-self-a", ta, 0) == 5, 10000));
    assert_false(BROOK_TEST_WAIT_UNTIL(hl_calls(0) > 5, 2000));
    atomic_store(&stop_own_at, -1);
    assert_int_equal(brook_listener_start(a, NULL), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == 10, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("control-self-a", ta, 0) == 10, 10000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_once(0, 10);
}

/* Handlers of "a" and "b" that, at their first record, wait until both are in a handler and
 * then each stop the other listener. */
static struct {
    atomic_int entered;
    atomic_int rc[2];
} cross;

static brook_result_t on_cross(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    (void)key;
    (void)op;
    int me = which(ctx);
    if (hl_note(ctx, value) == 0 && index_of(value) == 0) {
        atomic_fetch_add(&cross.entered, 1);
        BROOK_TEST_WAIT_UNTIL(atomic_load(&cross.entered) == 2, 30000);
        atomic_store(&cross.rc[me],
                     brook_listener_stop(brook_app_listener(brook_ctx_app(ctx), me ? "a" : "b")));
    }
    return BROOK_OK;
}

/* Two listeners' handlers stop each other at once: a stop from another listener's handler waits
 * for the members only until a second past shutdown_timeout_ms, so neither waits for good. Both
 * listeners stop, and start again. */
static void test_stop_each_other(void **state) {
    hl_reset();
    atomic_store(&cross.entered, 0);
    atomic_store(&cross.rc[0], -1);
    atomic_store(&cross.rc[1], -1);
    brook_app_t *app = make_app_with("control-cross", NULL, 1, 1, 2000, on_cross);
    brook_listener_t *a = brook_app_listener(app, "a"), *b = brook_app_listener(app, "b");
    it_start(app);
    it_produce_in_order("control-cross.a", "x", 0, 1);
    it_produce_in_order("control-cross.b", "x", 0, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        atomic_load(&cross.rc[0]) != -1 && atomic_load(&cross.rc[1]) != -1, 30000));
    /* The stop that gave up first let its handler return, which let the other one finish. */
    assert_true(atomic_load(&cross.rc[0]) == BROOK_ERR_TIMEOUT ||
                atomic_load(&cross.rc[1]) == BROOK_ERR_TIMEOUT);
    assert_false(brook_listener_running(a));
    assert_false(brook_listener_running(b));
    assert_int_equal(brook_listener_start(a, NULL), 0);
    assert_int_equal(brook_listener_start(b, NULL), 0);
    it_produce_in_order("control-cross.a", "x", 1, 1);
    it_produce_in_order("control-cross.b", "x", 1, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) >= 2 && hl_calls(1) >= 2, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* auto_startup = false (Spring's autoStartup): the listener stays out of its group while the app
 * runs (health UP, brook_test_wait_assigned does not wait for it), until brook_listener_start. A
 * pause asked for before its start applies once it starts. */
static void test_auto_startup_false(void **state) {
    hl_reset();
    const char *ta = "control-late.a";
    brook_app_t *app = make_app("control-late", "auto_startup = false;", 1, 1);
    brook_listener_t *a = brook_app_listener(app, "a");
    assert_int_equal(brook_listener_start(a, NULL), BROOK_ERR_STATE); /* before the app's */
    it_start(app);
    assert_false(brook_listener_running(a));
    assert_true(brook_test_wait_assigned(app, 30000));
    produce(ta, "l", 0, 5);
    assert_false(BROOK_TEST_WAIT_UNTIL(hl_calls(0) > 0, 2000));
    assert_int_equal(it_committed("control-late-a", ta, 0), BROOK_TEST_NO_OFFSET);
    int up = 0;
    assert_true(health_has(app, "\"state\":\"stopped\"", &up));
    assert_int_equal(up, 1);

    assert_int_equal(brook_listener_pause(a), 0);
    assert_int_equal(brook_listener_start(a, NULL), 0);
    assert_true(
        BROOK_TEST_WAIT_UNTIL(brook_listener_paused(a) && brook_listener_assigned(a), 30000));
    assert_false(BROOK_TEST_WAIT_UNTIL(hl_calls(0) > 0, 2000));
    assert_int_equal(brook_listener_resume(a), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(hl_calls(0) == 5, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("control-late-a", ta, 0) == 5, 10000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_once(0, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_pause_keeps_retry_hold),
        cmocka_unit_test(test_stop_start),
        cmocka_unit_test(test_stop_while_joining),
        cmocka_unit_test(test_stop_from_own_handler),
        cmocka_unit_test(test_stop_each_other),
        cmocka_unit_test(test_auto_startup_false),
    };
    if (getenv("IT_ONLY")) /* one test by name, when investigating */
        cmocka_set_test_filter(getenv("IT_ONLY"));
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
