/*
 * Batch listeners (docs/batch-listeners.md): batches bounded by max_records and by
 * max_wait_ms, order per partition; a failure at index i (Spring's BatchListenerFailedException)
 * with blocking retries and with retry topics: exactly the records before i committed, record i
 * retried and dead-lettered with the usual headers, the records after it handled again exactly
 * once; a poison pill in a batch goes to the DLT with its bytes; a batch failing as a whole is
 * retried as a whole, then dead-lettered record by record; a stop and a rebalance in the middle
 * of a batch commit only what was handled; a paused listener hands no record, not even a retry
 * record left over from the batch before the pause.
 */
#include "retry_it.h"

#define MAXB 64  /* records of a call kept in the log */
#define MAXC 256 /* calls kept */

/* One call of the batch handler, as it saw its records. */
typedef struct {
    int tag; /* which app (the handler's opaque) */
    int n;
    char key[MAXB][24];
    int32_t partition[MAXB];
    int64_t offset[MAXB];
    int attempt[MAXB];
    int64_t wall_ms;
} bcall_t;

/* What a test's handler returns for a call (after it is logged). */
typedef brook_result_t(decide_fn)(brook_batch_t *b, size_t n, const bcall_t *call);

static struct {
    pthread_mutex_t lock;
    int n;
    bcall_t calls[MAXC];
    decide_fn *decide;
} blog = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void log_reset(decide_fn *decide) {
    pthread_mutex_lock(&blog.lock);
    blog.n = 0;
    blog.decide = decide;
    pthread_mutex_unlock(&blog.lock);
}

static brook_result_t on_batch(brook_batch_t *b, size_t n, const void *const *keys,
                               const void *const *values, void *opaque) {
    (void)values;
    bcall_t mine;
    memset(&mine, 0, sizeof(mine));
    mine.tag = (int)(intptr_t)opaque;
    mine.n = (int)n;
    mine.wall_ms = rt_wall_ms();
    for (size_t i = 0; i < n && i < MAXB; i++) {
        const brook_record_t *r = brook_batch_record(b, i);
        snprintf(mine.key[i], sizeof(mine.key[i]), "%s", keys[i] ? (const char *)keys[i] : "");
        mine.partition[i] = r->partition;
        mine.offset[i] = r->offset;
        mine.attempt[i] = brook_batch_attempt(b, i);
    }
    pthread_mutex_lock(&blog.lock);
    if (blog.n < MAXC)
        blog.calls[blog.n++] = mine;
    decide_fn *decide = blog.decide;
    pthread_mutex_unlock(&blog.lock);
    return decide ? decide(b, n, &mine) : BROOK_OK;
}

static int ncalls(void) {
    pthread_mutex_lock(&blog.lock);
    int n = blog.n;
    pthread_mutex_unlock(&blog.lock);
    return n;
}

static bcall_t call_at(int i) {
    pthread_mutex_lock(&blog.lock);
    bcall_t c = blog.calls[i];
    pthread_mutex_unlock(&blog.lock);
    return c;
}

/* How many calls included `key` (with tag `tag`, or any when 0); the attempts it had. */
static int seen(const char *key, int tag, int *attempts, int max) {
    int k = 0;
    pthread_mutex_lock(&blog.lock);
    for (int c = 0; c < blog.n; c++)
        for (int i = 0; i < blog.calls[c].n && i < MAXB; i++)
            if ((!tag || blog.calls[c].tag == tag) && !strcmp(blog.calls[c].key[i], key)) {
                if (attempts && k < max)
                    attempts[k] = blog.calls[c].attempt[i];
                k++;
            }
    pthread_mutex_unlock(&blog.lock);
    return k;
}

static int index_in(brook_batch_t *b, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++) {
        const brook_record_t *r = brook_batch_record(b, i);
        if (r->key_len == strlen(key) && !memcmp(r->key, key, r->key_len))
            return (int)i;
    }
    return -1;
}

static brook_app_t *start_app(const char *name, const char *topic, int partitions,
                              const char *group, const char *listener_extra, int tag) {
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; commit_interval_ms = 100; };\n"
             "topics = ( { name = \"%s\"; partitions = %d; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; group = \"%s\";\n"
             "  value = \"string\"; handler = \"on_batch\";\n"
             "  %s } );\n",
             name, topic, partitions, topic, group, listener_extra);
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_batch_handler(app, "l", on_batch, (void *)(intptr_t)tag), 0);
    it_start(app);
    return app;
}

/* Records "<prefix>-<i>", i < n, key and value alike, on partition 0 of a new topic. */
static void produce_ordered(const char *topic, int partitions, const char *prefix, int first,
                            int n) {
    assert_int_equal(brook_test_create_topic(cluster, topic, partitions), 0);
    for (int i = first; i < first + n; i++) {
        char v[32];
        int len = snprintf(v, sizeof(v), "%s-%d", prefix, i);
        assert_int_equal(
            brook_test_produce(cluster, topic, 0, v, (size_t)len, v, (size_t)len, NULL, 0), 0);
    }
}

static brook_listener_stats_t stats_of(brook_app_t *app) {
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    return st;
}

/* The DLT record of `key` checked against the original, with Spring's headers. */
static void check_dead_letter(const char *topic, const char *key, const char *fqcn,
                              const char *message, const char *group, int retry_attempts) {
    char dlt[128];
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    brook_test_record_t *orig, *dead;
    size_t want_o = (size_t)brook_test_end_offsets(cluster, topic);
    size_t want_d = (size_t)brook_test_end_offsets(cluster, dlt);
    size_t no = brook_test_consume(cluster, topic, want_o, 10000, &orig);
    size_t nd = brook_test_consume(cluster, dlt, want_d, 10000, &dead);
    assert_int_equal(no, want_o);
    assert_int_equal(nd, want_d);
    const brook_test_record_t *o = NULL, *d = NULL;
    for (size_t i = 0; i < no; i++)
        if (orig[i].key && !strcmp(orig[i].key, key))
            o = &orig[i];
    for (size_t i = 0; i < nd; i++)
        if (dead[i].key && !strcmp(dead[i].key, key))
            d = &dead[i];
    assert_non_null(o);
    assert_non_null(d);
    rt_assert_dlt_headers(d, o, fqcn, message, group, retry_attempts > 0);
    brook_record_t view = {
        .topic = d->topic, .headers = d->headers, .header_count = d->header_count};
    brook_failure_info_t info;
    brook_record_failure_info(&view, &info);
    assert_int_equal(info.attempts, retry_attempts ? retry_attempts + 1 : 0);
    brook_test_records_free(orig, no);
    brook_test_records_free(dead, nd);
}

/* ---- bounds and order -------------------------------------------------------------------------
 */

/* 50 records waiting on 3 partitions, max_records 8: batches of 8 (the wait is long), the last
 * of 2; every record once, each partition's in offset order across the batches; all committed. */
static void test_bounded_by_max_records(void **state) {
    (void)state;
    log_reset(NULL);
    const char *topic = "bt.size";
    assert_int_equal(brook_test_create_topic(cluster, topic, 3), 0);
    assert_int_equal(brook_test_produce_n(cluster, topic, "s", 0, 50), 0);
    brook_app_t *app = start_app("bt-size", topic, 3, "bt-size",
                                 "batch = { max_records = 8; max_wait_ms = 2000; };", 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("bt-size", topic, 3) == 50, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    int calls = ncalls(), total = 0;
    long long last[3] = {-1, -1, -1};
    for (int c = 0; c < calls; c++) {
        bcall_t call = call_at(c);
        print_message("batch %d: %d record(s)\n", c, call.n);
        assert_true(call.n >= 1 && call.n <= 8);
        if (c < calls - 1)
            assert_int_equal(call.n, 8);
        for (int i = 0; i < call.n; i++) {
            assert_true(call.offset[i] > last[call.partition[i]]); /* order per partition */
            last[call.partition[i]] = call.offset[i];
            assert_int_equal(call.attempt[i], 1);
        }
        total += call.n;
    }
    assert_int_equal(calls, 7);
    assert_int_equal(total, 50);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s-%d", i);
        assert_int_equal(seen(k, 0, NULL, 0), 1);
    }
    brook_listener_stats_t st = stats_of(app);
    assert_int_equal(st.handled, 50);
    assert_int_equal(st.batches, 7);
    assert_int_equal(st.failed, 0);
    brook_app_destroy(app);
}

/* max_records far away: a batch is handed over max_wait_ms after its first record, not
 * sooner, and not much later. */
static void test_bounded_by_max_wait(void **state) {
    (void)state;
    log_reset(NULL);
    const char *topic = "bt.wait";
    brook_app_t *app = start_app("bt-wait", topic, 1, "bt-wait",
                                 "batch = { max_records = 1000; max_wait_ms = 400; };", 1);
    assert_true(brook_test_wait_assigned(app, 30000));
    for (int round = 0; round < 2; round++) {
        int before = ncalls(), n = round == 0 ? 3 : 1;
        int64_t t0 = rt_wall_ms();
        for (int i = 0; i < n; i++) {
            char v[16];
            int len = snprintf(v, sizeof(v), "w%d-%d", round, i);
            assert_int_equal(
                brook_test_produce(cluster, topic, 0, v, (size_t)len, v, (size_t)len, NULL, 0), 0);
        }
        assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() == before + 1, 10000));
        bcall_t c = call_at(before);
        print_message("round %d: %d record(s) handed over %lld ms after the first was sent\n",
                      round, c.n, (long long)(c.wall_ms - t0));
        assert_int_equal(c.n, n);
        assert_true(c.wall_ms - t0 >= 400);
        assert_true(c.wall_ms - t0 < 400 + 3000);
    }
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(ncalls(), 2);
    assert_int_equal(it_committed("bt-wait", topic, 0), 4);
    brook_app_destroy(app);
}

/* ack = "batch" (Spring's AckMode.BATCH): each batch is committed once it is done, without
 * waiting for the commit interval (a minute here). */
static void test_ack_batch(void **state) {
    (void)state;
    log_reset(NULL);
    const char *topic = "bt.ack";
    produce_ordered(topic, 1, "a", 0, 5);
    brook_app_t *app = it_app("service = { name = \"bt-ack\"; commit_interval_ms = 60000; };\n"
                              "topics = ( { name = \"bt.ack\"; partitions = 1; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"bt.ack\" ];\n"
                              "  value = \"string\"; handler = \"on_batch\"; ack = \"batch\";\n"
                              "  batch = { max_records = 5; max_wait_ms = 1000; }; } );\n");
    assert_int_equal(brook_app_set_batch_handler(app, "l", on_batch, (void *)1), 0);
    it_start(app);
    assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() == 1, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-ack", topic, 0) == 5, 5000));
    assert_int_equal(call_at(0).n, 5);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

/* ---- a failure at an index --------------------------------------------------------------------
 */

static brook_result_t fail_b4(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)call;
    int i = index_in(b, n, "b-4");
    if (i < 0)
        return BROOK_OK;
    return brook_batch_fail_at(b, (size_t)i, "shop.Boom", "boom %s", "b-4");
}

/* Blocking retries: b-4 of a batch of ten fails at every attempt. Exactly b-0..b-3 are
 * committed while it is retried; it comes back alone (attempts 2 and 3) and goes to the DLT;
 * b-5..b-9 are handled again once, in one batch after it. */
static void test_fail_at_index_blocking(void **state) {
    (void)state;
    log_reset(fail_b4);
    const char *topic = "bt.failb";
    produce_ordered(topic, 1, "b", 0, 10);
    brook_app_t *app = start_app("bt-failb", topic, 1, "bt-failb",
                                 "batch = { max_records = 10; max_wait_ms = 1000; };\n"
                                 "  retry = { attempts = 3; backoff = { delay_ms = 1500; }; };",
                                 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() >= 1, 30000));
    assert_int_equal(call_at(0).n, 10); /* the ten waiting records make the first batch */
    /* While b-4 waits for its second attempt, exactly the records before it are committed. */
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-failb", topic, 0) == 4, 1400));
    assert_int_equal(it_committed("bt-failb", topic, 0), 4);
    assert_int_equal(ncalls(), 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-failb", topic, 0) == 10, 30000));
    assert_int_equal(brook_app_stop(app), 0);

    int att[8];
    assert_int_equal(seen("b-4", 0, att, 8), 3);
    for (int a = 0; a < 3; a++)
        assert_int_equal(att[a], a + 1);
    assert_int_equal(ncalls(), 4);
    assert_int_equal(call_at(1).n, 1); /* its retries come alone */
    assert_int_equal(call_at(2).n, 1);
    assert_int_equal(call_at(3).n, 5); /* then the records behind it, once more */
    assert_true(call_at(1).wall_ms - call_at(0).wall_ms >= 1500 - 1);
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof(k), "b-%d", i);
        if (i < 4) {
            assert_int_equal(seen(k, 0, NULL, 0), 1);
        } else if (i > 4) {
            assert_int_equal(seen(k, 0, att, 8), 2);
            assert_int_equal(att[1], 1);
        }
    }
    assert_int_equal(brook_test_end_offsets(cluster, "bt.failb-dlt"), 1);
    check_dead_letter(topic, "b-4", "shop.Boom", "boom b-4", "bt-failb", 0);
    brook_listener_stats_t st = stats_of(app);
    assert_int_equal(st.handled, 9);
    assert_int_equal(st.failed, 3);
    assert_int_equal(st.retried, 2);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(st.batches, 4);
    brook_app_destroy(app);
}

static brook_result_t fail_t4(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)call;
    int i = index_in(b, n, "t-4");
    return i < 0 ? BROOK_OK : brook_batch_fail_at(b, (size_t)i, "shop.Boom", "boom t-4");
}

/* Retry topics: t-4 goes through the retry topic twice, then to the DLT with the retry topics'
 * headers; the records behind it are handled again once; everything is committed, on the main
 * topic and the retry topic. */
static void test_fail_at_index_topics(void **state) {
    (void)state;
    log_reset(fail_t4);
    const char *topic = "bt.failt";
    produce_ordered(topic, 1, "t", 0, 10);
    /* The backoff is longer than a batch's wait, so the retry records of t-4 come in batches of
     * their own (a record arriving from a retry topic joins whatever batch is being collected:
     * failing again there, it would give back the records after it once more). */
    brook_app_t *app = start_app("bt-failt", topic, 1, "bt-failt",
                                 "batch = { max_records = 10; max_wait_ms = 300; };\n"
                                 "  retry = { attempts = 3; mode = \"topics\";\n"
                                 "            backoff = { delay_ms = 1500; }; };",
                                 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "bt.failt-dlt") == 1, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-failt", topic, 0) == 10 &&
                                          it_committed("bt-failt", "bt.failt-retry", 0) == 2,
                                      10000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(call_at(0).n, 10);
    int att[8];
    assert_int_equal(seen("t-4", 0, att, 8), 3);
    for (int a = 0; a < 3; a++)
        assert_int_equal(att[a], a + 1);
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof(k), "t-%d", i);
        if (i != 4)
            assert_int_equal(seen(k, 0, NULL, 0), i < 4 ? 1 : 2);
    }
    assert_int_equal(ncalls(), 4);
    assert_int_equal(call_at(1).n, 5); /* t-5..t-9 again */
    assert_int_equal(call_at(2).n, 1); /* t-4 from the retry topic, twice */
    assert_int_equal(call_at(3).n, 1);
    assert_int_equal(brook_test_end_offsets(cluster, "bt.failt-retry"), 2);
    check_dead_letter(topic, "t-4", "shop.Boom", "boom t-4", "bt-failt", 3);
    brook_listener_stats_t st = stats_of(app);
    assert_int_equal(st.handled, 9);
    assert_int_equal(st.failed, 3);
    assert_int_equal(st.retried, 2);
    assert_int_equal(st.dead_lettered, 1);
    brook_app_destroy(app);
}

/* ---- poison pills, whole batches --------------------------------------------------------------
 */

/* A json listener: the record that is not JSON ends the batch before it, goes to the DLT with
 * its bytes, and the records after it are the next batch; each good record once. */
static void test_poison_pill(void **state) {
    (void)state;
    log_reset(NULL);
    const char *topic = "bt.poison";
    assert_int_equal(brook_test_create_topic(cluster, topic, 1), 0);
    const char *vals[] = {"\"a\"", "{\"b\": 1}", "{oops", "[3]", "4", "null"};
    for (int i = 0; i < 6; i++) {
        char k[16];
        int len = snprintf(k, sizeof(k), "p-%d", i);
        assert_int_equal(brook_test_produce(cluster, topic, 0, k, (size_t)len, vals[i],
                                            strlen(vals[i]), NULL, 0),
                         0);
    }
    brook_app_t *app = it_app("service = { name = \"bt-poison\"; commit_interval_ms = 100; };\n"
                              "topics = ( { name = \"bt.poison\"; partitions = 1; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"bt.poison\" ];\n"
                              "  value = \"json\"; handler = \"on_batch\";\n"
                              "  batch = { max_records = 10; max_wait_ms = 1000; }; } );\n");
    assert_int_equal(brook_app_set_batch_handler(app, "l", on_batch, (void *)1), 0);
    it_start(app);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-poison", topic, 0) == 6, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(ncalls(), 2);
    bcall_t c0 = call_at(0), c1 = call_at(1);
    assert_int_equal(c0.n, 2);
    assert_string_equal(c0.key[0], "p-0");
    assert_string_equal(c0.key[1], "p-1");
    assert_int_equal(c1.n, 3);
    assert_string_equal(c1.key[0], "p-3");
    assert_string_equal(c1.key[2], "p-5");
    assert_int_equal(seen("p-2", 0, NULL, 0), 0);
    assert_int_equal(brook_test_end_offsets(cluster, "bt.poison-dlt"), 1);
    brook_test_record_t *dead;
    assert_int_equal(brook_test_consume(cluster, "bt.poison-dlt", 1, 10000, &dead), 1);
    assert_string_equal(dead[0].key, "p-2");
    assert_int_equal(dead[0].value_len, 5);
    assert_memory_equal(dead[0].value, "{oops", 5);
    rt_assert_header_str(&dead[0], "kafka_dlt-exception-fqcn", "brook.DeserializationError");
    brook_test_records_free(dead, 1);
    brook_listener_stats_t st = stats_of(app);
    assert_int_equal(st.handled, 5);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(st.batches, 2);
    brook_app_destroy(app);
}

/* "w-*" batches fail as a whole twice, then pass; "x-*" batches always fail. */
static brook_result_t fail_whole(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)n;
    if (!strncmp(call->key[0], "x-", 2) || brook_batch_attempt(b, 0) < 3)
        return brook_batch_fail(b, "db.Down", "the database is down");
    return BROOK_OK;
}

/* A batch that fails without an index is handled again as a whole, the same records in the
 * same order, after each backoff; exhausted, each of its records goes to the DLT. */
static void test_whole_batch(void **state) {
    (void)state;
    log_reset(fail_whole);
    const char *topic = "bt.whole";
    produce_ordered(topic, 1, "w", 0, 6);
    brook_app_t *app = start_app("bt-whole", topic, 1, "bt-whole",
                                 "batch = { max_records = 10; max_wait_ms = 1000; };\n"
                                 "  retry = { attempts = 3; backoff = { delay_ms = 300; }; };",
                                 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-whole", topic, 0) == 6, 30000));
    assert_int_equal(ncalls(), 3);
    for (int c = 0; c < 3; c++) {
        bcall_t call = call_at(c);
        assert_int_equal(call.n, 6);
        for (int i = 0; i < 6; i++) {
            char k[16];
            snprintf(k, sizeof(k), "w-%d", i);
            assert_string_equal(call.key[i], k);
            assert_int_equal(call.attempt[i], c + 1);
        }
        if (c) {
            print_message("attempt %d: %lld ms after the previous one\n", c + 1,
                          (long long)(call.wall_ms - call_at(c - 1).wall_ms));
            /* (1 ms for the two clocks' truncation to milliseconds) */
            assert_true(call.wall_ms - call_at(c - 1).wall_ms >= 300 - 1);
        }
    }
    assert_int_equal(brook_test_end_offsets(cluster, "bt.whole-dlt"), 0);

    /* Exhausted: each record of the batch is dead-lettered with the batch's failure. */
    for (int i = 0; i < 3; i++) {
        char v[16];
        int len = snprintf(v, sizeof(v), "x-%d", i);
        assert_int_equal(
            brook_test_produce(cluster, topic, 0, v, (size_t)len, v, (size_t)len, NULL, 0), 0);
    }
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-whole", topic, 0) == 9, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(ncalls(), 6);
    for (int c = 3; c < 6; c++)
        assert_int_equal(call_at(c).n, 3);
    assert_int_equal(brook_test_end_offsets(cluster, "bt.whole-dlt"), 3);
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof(k), "x-%d", i);
        check_dead_letter(topic, k, "db.Down", "the database is down", "bt-whole", 0);
    }
    brook_listener_stats_t st = stats_of(app);
    assert_int_equal(st.handled, 6);
    assert_int_equal(st.failed, 6 * 2 + 3 * 3);
    assert_int_equal(st.retried, 6 * 2 + 3 * 2);
    assert_int_equal(st.dead_lettered, 3);
    brook_app_destroy(app);
}

/* ---- a rewind while a batch waits ------------------------------------------------------------ */

/* The first call sends each record to "out" (a partition without a leader: the sends fail
 * after message_timeout_ms) and fails as a whole; later calls succeed. */
static brook_result_t send_then_fail(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)call;
    if (ncalls() > 1)
        return BROOK_OK;
    brook_template_t *out = brook_app_template(brook_batch_app(b), "out");
    for (size_t i = 0; i < n; i++) {
        const brook_record_t *r = brook_batch_record(b, i);
        assert_int_equal(
            brook_template_send_raw(out, r->key, r->key_len, r->value, r->value_len, NULL), 0);
    }
    return brook_batch_fail(b, "db.Down", "the database is down");
}

/* A batch waits in memory for its retry (backoff 60 s) when its outputs fail: the member goes
 * back to its committed offsets, and the waiting batch is forgotten with the rest, so the
 * records come again from the topic (first deliveries, at once) instead of the batch being
 * retried from memory after its backoff and its offsets stored ahead of records that come again
 * from before it. */
static void test_rewind_forgets_waiting_batch(void **state) {
    it_require_embedded("a leader-less partition");
    log_reset(send_then_fail);
    const char *topic = "bt.rewind";
    produce_ordered(topic, 1, "r", 0, 5);
    assert_int_equal(brook_test_create_topic(cluster, "bt.rewind.out", 1), 0);
    assert_int_equal(brook_test_partition_leader(cluster, "bt.rewind.out", 0, -1), 0);
    brook_app_t *app = it_app(
        "service = { name = \"bt-rewind\"; commit_interval_ms = 100;\n"
        "  kafka = { message_timeout_ms = 1500; }; };\n"
        "topics = ( { name = \"bt.rewind\"; partitions = 1; },\n"
        "  { name = \"bt.rewind.out\"; partitions = 1; } );\n"
        "templates = ( { name = \"out\"; topic = \"bt.rewind.out\"; value = \"bytes\"; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"bt.rewind\" ]; group = \"bt-rewind\";\n"
        "  value = \"string\"; handler = \"on_batch\";\n"
        "  batch = { max_records = 10; max_wait_ms = 500; };\n"
        "  retry = { attempts = 3; backoff = { delay_ms = 60000; }; }; } );\n");
    assert_int_equal(brook_app_set_batch_handler(app, "l", on_batch, NULL), 0);
    it_start(app);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-rewind", topic, 0) == 5, 30000));
    assert_int_equal(brook_test_partition_leader(cluster, "bt.rewind.out", 0, 1), 0);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_true(ncalls() >= 2);
    bcall_t first = call_at(0), again = call_at(1);
    assert_int_equal(first.n, 5);
    assert_int_equal(first.attempt[0], 1);
    /* Read again from the committed offset: a first delivery of r-0, not attempt 2. */
    assert_string_equal(again.key[0], "r-0");
    assert_int_equal(again.attempt[0], 1);
}

/* ---- pause ------------------------------------------------------------------------------------
 */

static struct {
    brook_app_t *app;
    _Atomic int64_t due_ms;  /* when c-a0's blocking retry is due */
    atomic_int while_paused; /* calls made while a pause was asked for */
} carry;

/* c-a0 fails once. c-b0's call returns only after c-a0's retry is due, and c-b1 has long been
 * fetched meanwhile: the next batch starts with c-b1, and c-a0's retry, resumed and fetched again
 * behind it, ends that batch and is left for the batch after. c-b1's call pauses the listener. */
static brook_result_t carry_decide(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)call;
    if (brook_listener_pause_requested(brook_app_listener(carry.app, "l")))
        atomic_fetch_add(&carry.while_paused, 1);
    int i = index_in(b, n, "c-a0");
    if (i >= 0 && brook_batch_attempt(b, (size_t)i) == 1) {
        atomic_store(&carry.due_ms, rt_wall_ms() + 1000);
        return brook_batch_fail_at(b, (size_t)i, "shop.Boom", "boom c-a0");
    }
    if (index_in(b, n, "c-b0") >= 0)
        BROOK_TEST_WAIT_UNTIL(rt_wall_ms() >= atomic_load(&carry.due_ms) + 300, 10000);
    if (index_in(b, n, "c-b1") >= 0)
        brook_listener_pause(brook_app_listener(carry.app, "l"));
    return BROOK_OK;
}

/* A paused batch listener hands no record, not even a retry record polled before the pause and
 * left for the next batch: it is fetched again, and handled, after the resume. */
static void test_pause_holds_carried_retry(void **state) {
    (void)state;
    log_reset(carry_decide);
    const char *topic = "bt.carry";
    assert_int_equal(brook_test_create_topic(cluster, topic, 2), 0);
    assert_int_equal(brook_test_produce(cluster, topic, 0, "c-a0", 4, "c-a0", 4, NULL, 0), 0);
    atomic_store(&carry.due_ms, INT64_MAX / 2);
    atomic_store(&carry.while_paused, 0);
    carry.app = start_app("bt-carry", topic, 2, "bt-carry",
                          "batch = { max_records = 10; max_wait_ms = 1500; };\n"
                          "  retry = { attempts = 3; backoff = { delay_ms = 1000; }; };",
                          1);
    brook_listener_t *l = brook_app_listener(carry.app, "l");
    assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() >= 1, 30000));
    assert_int_equal(brook_test_produce(cluster, topic, 1, "c-b0", 4, "c-b0", 4, NULL, 0), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(seen("c-b0", 0, NULL, 0) == 1, 30000));
    assert_int_equal(brook_test_produce(cluster, topic, 1, "c-b1", 4, "c-b1", 4, NULL, 0), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_listener_paused(l), 30000));
    /* Nothing is handled while the listener is paused (c-a0's retry, left over from c-b1's
     * batch, came at once). */
    assert_false(BROOK_TEST_WAIT_UNTIL(atomic_load(&carry.while_paused) > 0, 1500));
    assert_int_equal(brook_listener_resume(l), 0);
    int att[4];
    assert_true(BROOK_TEST_WAIT_UNTIL(seen("c-a0", 0, att, 4) == 2, 30000));
    assert_int_equal(att[1], 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        it_committed("bt-carry", topic, 0) == 1 && it_committed("bt-carry", topic, 1) == 2, 30000));
    assert_int_equal(brook_app_stop(carry.app), 0);
    assert_int_equal(seen("c-b0", 0, NULL, 0), 1);
    assert_int_equal(seen("c-b1", 0, NULL, 0), 1);
    brook_app_destroy(carry.app);
}

/* ---- stop and rebalance in the middle of a batch -------------------------------------------- */

static brook_result_t fail_s2(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)call;
    int i = index_in(b, n, "s-2");
    return i < 0 ? BROOK_OK : brook_batch_fail_at(b, (size_t)i, "shop.Boom", "boom");
}

/* A batch of four fails at s-2 and the app stops while s-2 waits for its retry: exactly s-0 and
 * s-1 are committed. Started again, the app handles s-2 onwards, each once. */
static void test_stop_mid_batch(void **state) {
    (void)state;
    log_reset(fail_s2);
    const char *topic = "bt.stop";
    const char *extra = "batch = { max_records = 4; max_wait_ms = 1000; };\n"
                        "  retry = { attempts = 3; backoff = { delay_ms = 10000; }; };";
    produce_ordered(topic, 1, "s", 0, 12);
    brook_app_t *app = start_app("bt-stop", topic, 1, "bt-stop", extra, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() == 1, 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-stop", topic, 0) == 2, 5000));
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(it_committed("bt-stop", topic, 0), 2);
    assert_int_equal(ncalls(), 1);
    assert_int_equal(call_at(0).n, 4);
    brook_app_destroy(app);

    log_reset(NULL);
    app = start_app("bt-stop", topic, 1, "bt-stop", extra, 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed("bt-stop", topic, 0) == 12, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    for (int i = 0; i < 12; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s-%d", i);
        int att[4];
        assert_int_equal(seen(k, 2, att, 4), i < 2 ? 0 : 1);
        if (i >= 2)
            assert_int_equal(att[0], 1);
    }
    brook_app_destroy(app);
}

static int calls_of_tag(int tag) {
    int k = 0;
    pthread_mutex_lock(&blog.lock);
    for (int c = 0; c < blog.n; c++)
        k += blog.calls[c].tag == tag;
    pthread_mutex_unlock(&blog.lock);
    return k;
}

/* The first app fails its batches as a whole until the second has handled a batch (so it owns
 * partitions the first gave up); then both pass. */
static brook_result_t fail_until_joined(brook_batch_t *b, size_t n, const bcall_t *call) {
    (void)n;
    if (call->tag == 1 && !calls_of_tag(2))
        return brook_batch_fail(b, "test.NotYet", "waiting for the second member");
    return BROOK_OK;
}

/* A batch waits in memory for its retry when a second member joins and takes partitions: the
 * records of those partitions are dropped from it (the second member handles them from the
 * committed offsets) and the retry handles only what the first member kept. Every record is
 * handled successfully exactly once, and everything is committed. */
static void test_rebalance_mid_batch(void **state) {
    (void)state;
    log_reset(fail_until_joined);
    const char *topic = "bt.rebal";
    const char *extra = "batch = { max_records = 64; max_wait_ms = 1000; };\n"
                        "  retry = { attempts = 100; backoff = { delay_ms = 500; }; };";
    assert_int_equal(brook_test_create_topic(cluster, topic, 4), 0);
    assert_int_equal(brook_test_produce_n(cluster, topic, "r", 0, 40), 0);
    brook_app_t *a = start_app("bt-rebal", topic, 4, "bt-rebal", extra, 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(ncalls() >= 1, 30000));
    bcall_t first = call_at(0);
    assert_int_equal(first.n, 40);
    brook_app_t *b = start_app("bt-rebal", topic, 4, "bt-rebal", extra, 2);
    assert_true(BROOK_TEST_WAIT_UNTIL(it_committed_total("bt-rebal", topic, 4) == 40, 60000));
    assert_int_equal(brook_app_stop(b), 0);
    assert_int_equal(brook_app_stop(a), 0);

    /* Handled successfully: by the second app, or by the first in its last (passing) call. */
    int last_ok = -1, calls = ncalls();
    for (int c = 0; c < calls; c++)
        if (call_at(c).tag == 1)
            last_ok = c;
    bcall_t passed = call_at(last_ok);
    bool b_partition[4] = {false};
    int ok = 0;
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof(k), "r-%d", i);
        int by_b = seen(k, 2, NULL, 0), by_a = 0;
        for (int j = 0; j < passed.n; j++)
            by_a += !strcmp(passed.key[j], k);
        assert_int_equal(by_a + by_b, 1); /* exactly once */
        ok += by_a + by_b;
    }
    for (int c = 0; c < calls; c++) {
        bcall_t call = call_at(c);
        for (int i = 0; call.tag == 2 && i < call.n; i++)
            b_partition[call.partition[i]] = true;
    }
    int moved = 0;
    for (int p = 0; p < 4; p++)
        moved += b_partition[p];
    for (int j = 0; j < passed.n; j++)
        assert_false(b_partition[passed.partition[j]]);
    print_message("the first batch held 40 records; %d partition(s) moved; the retry that passed "
                  "held %d (attempt %d)\n",
                  moved, passed.n, passed.attempt[0]);
    assert_int_equal(ok, 40);
    assert_true(moved >= 1);
    assert_true(passed.n < 40);
    assert_true(passed.attempt[0] > 1);
    brook_app_destroy(b);
    brook_app_destroy(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_by_max_records),
        cmocka_unit_test(test_bounded_by_max_wait),
        cmocka_unit_test(test_ack_batch),
        cmocka_unit_test(test_fail_at_index_blocking),
        cmocka_unit_test(test_fail_at_index_topics),
        cmocka_unit_test(test_poison_pill),
        cmocka_unit_test(test_whole_batch),
        cmocka_unit_test(test_rewind_forgets_waiting_batch),
        cmocka_unit_test(test_pause_holds_carried_retry),
        cmocka_unit_test(test_stop_mid_batch),
        cmocka_unit_test(test_rebalance_mid_batch),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
