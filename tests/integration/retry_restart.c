/* A crash while records wait in retry topics: the app is destroyed without a stop, a new one
 * starts on the same embedded cluster, and every record still ends handled or in the DLT. */
#include "retry_it.h"

#define N 24

static rt_log_t calls;
static atomic_int successes[N];

/* r-<i>: i % 3 == 0 succeeds at once; i % 3 == 1 fails once; i % 3 == 2 always fails (to the
 * DLT after its 3 attempts). */
static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    rt_log_call(op, ctx, value);
    int i = atoi((const char *)value + 2);
    int attempt = brook_ctx_attempt(ctx);
    if (i % 3 == 2 || (i % 3 == 1 && attempt == 1))
        return brook_ctx_fail(ctx, "test.Crashy", "r-%d attempt %d", i, attempt);
    if (i >= 0 && i < N)
        atomic_fetch_add(&successes[i], 1);
    return BROOK_OK;
}

static const char *decl = "service = { name = \"rt-restart\"; commit_interval_ms = 200; };\n"
                          "topics = ( { name = \"rt.restart\"; partitions = 2; } );\n"
                          "listeners = ( { id = \"l\"; topics = [ \"rt.restart\" ];\n"
                          "  value = \"string\"; handler = \"on_record\";\n"
                          "  retry = { attempts = 3; mode = \"topics\";\n"
                          "            backoff = { delay_ms = 4000; }; };\n"
                          "  dlt = { enabled = true; }; } );\n";

static brook_app_t *make_app(void) {
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, &calls), 0);
    it_start(app);
    return app;
}

static int64_t committed(const char *topic) {
    int64_t sum = 0;
    for (int p = 0; p < 2; p++) {
        int64_t o = it_committed("rt-restart", topic, p);
        sum += o > 0 ? o : 0;
    }
    return sum;
}

/* Values in the DLT (each at most once is not required: at-least-once). */
static int dead_set(bool *dead) {
    brook_test_record_t *recs;
    int64_t want = brook_test_end_offsets(cluster, "rt.restart-dlt");
    assert_true(want >= 0);
    size_t n = brook_test_consume(cluster, "rt.restart-dlt", (size_t)want, 10000, &recs);
    memset(dead, 0, N * sizeof(bool));
    for (size_t k = 0; k < n; k++) {
        int i = recs[k].value ? atoi((const char *)recs[k].value + 2) : -1;
        if (i >= 0 && i < N)
            dead[i] = true;
    }
    brook_test_records_free(recs, n);
    return (int)n;
}

static bool all_settled(void) {
    bool dead[N];
    dead_set(dead);
    for (int i = 0; i < N; i++)
        if (!atomic_load(&successes[i]) && !dead[i])
            return false;
    return true;
}

static bool settled_cond(void *arg) {
    (void)arg;
    return all_settled();
}

static void test_crash_with_records_in_retry_topics(void **state) {
    rt_log_init(&calls);
    brook_app_t *app = make_app();
    for (int i = 0; i < N; i++) {
        char v[16];
        int n = snprintf(v, sizeof(v), "r-%d", i);
        assert_int_equal(
            brook_test_produce(cluster, "rt.restart", -1, v, (size_t)n, v, (size_t)n, NULL, 0), 0);
    }
    /* Every record had its first attempt and its main-topic offset is committed: the failed
     * ones (2 of every 3) are now only in the retry topic, due 4 s after they failed. */
    assert_true(BROOK_TEST_WAIT_UNTIL(committed("rt.restart") == N, 20000));
    int64_t forwarded = brook_test_end_offsets(cluster, "rt.restart-retry");
    int waiting = 0;
    for (int i = 0; i < N; i++)
        waiting += i % 3 != 0 && !atomic_load(&successes[i]);
    print_message("crash: %lld forwarded, %d records waiting in the retry topic\n",
                  (long long)forwarded, waiting);
    assert_true(forwarded >= 2 * N / 3);
    assert_int_equal(waiting, 2 * N / 3);
    brook_app_destroy(app); /* crash: no stop */

    app = make_app();
    assert_true(brook_test_wait(settled_cond, NULL, 60000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    bool dead[N];
    int nd = dead_set(dead);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 2) {
            assert_true(dead[i]);
            assert_int_equal(atomic_load(&successes[i]), 0);
        } else {
            assert_true(atomic_load(&successes[i]) >= 1);
            assert_false(dead[i]);
        }
    }
    /* The ones that failed once succeeded at attempt 2, read from the retry topic. */
    for (int i = 1; i < N; i += 3) {
        char v[16];
        snprintf(v, sizeof(v), "r-%d", i);
        rt_call_t c[8];
        int k = rt_calls_of(&calls, v, c, 8);
        assert_true(k >= 2);
        assert_int_equal(c[k - 1].attempt, 2);
        assert_string_equal(c[k - 1].topic, "rt.restart-retry");
        assert_true(c[k - 1].wall_ms >= c[k - 1].hdr_due);
    }
    print_message("restart: %d dead-lettered, %d handler calls\n", nd, calls.n);
    rt_log_free(&calls);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_with_records_in_retry_topics),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
