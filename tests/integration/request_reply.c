/* Request-reply (docs/request-reply.md): templates that make requests (Spring's
 * ReplyingKafkaTemplate) and listeners that answer them (Spring's @SendTo), with Spring's
 * kafka_correlationId / kafka_replyTopic / kafka_replyPartition headers. Two apps in one process:
 * a requester and a replier. */
#include <time.h>

#include "itest.h"

/* ---- the replier ------------------------------------------------------------------------------
 */

typedef struct {
    atomic_int handled;       /* handler calls that replied */
    atomic_int errors;        /* something a handler found wrong (asserted on the main thread) */
    atomic_bool gated;        /* handlers wait while set (bounded by 30 s) */
    atomic_int waiting;       /* handlers waiting at the gate */
    atomic_bool no_reply_ask; /* handlers return BROOK_OK without asking for the reply */
} replier_t;

static replier_t rep;

static void replier_reset(void) {
    atomic_store(&rep.handled, 0);
    atomic_store(&rep.errors, 0);
    atomic_store(&rep.gated, false);
    atomic_store(&rep.waiting, 0);
    atomic_store(&rep.no_reply_ask, false);
}

/* Replies "re:<value>". */
static brook_result_t answer(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    if (atomic_load(&rep.gated)) {
        atomic_fetch_add(&rep.waiting, 1);
        int64_t until = brook_test_now_ms() + 30000;
        while (atomic_load(&rep.gated) && brook_test_now_ms() < until)
            brook_test_nap();
        atomic_fetch_sub(&rep.waiting, 1);
    }
    if (atomic_load(&rep.no_reply_ask))
        return BROOK_OK;
    brook_buf_t *reply = brook_ctx_reply(ctx);
    /* Asked twice: the same slot. */
    if (!reply || brook_ctx_reply(ctx) != reply || reply->len != 0 || !value) {
        atomic_fetch_add(&rep.errors, 1);
        return BROOK_FAIL;
    }
    brook_buf_append(reply, "re:", 3);
    brook_buf_append(reply, value, strlen(value));
    atomic_fetch_add(&rep.handled, 1);
    return BROOK_OK;
}

/* A replier "<name>" reading `req` (2 partitions), replying through template "answers" whose own
 * topic is `def` (where requests without a reply topic are answered). */
static brook_app_t *replier_app(const char *name, const char *req, const char *def,
                                const char *extra) {
    char decl[2048];
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"%s\"; commit_interval_ms = 100; kafka = { linger_ms = 0; }; };\n"
        "topics = ( { name = \"%s\"; partitions = 2; }, { name = \"%s\"; partitions = 1; } );\n"
        "templates = ( { name = \"answers\"; topic = \"%s\"; value = \"string\"; } );\n"
        "listeners = ( { id = \"answer\"; topics = [ \"%s\" ]; value = \"string\";\n"
        "  handler = \"answer\"; reply = \"answers\"; concurrency = 2; %s } );\n",
        name, req, def, def, req, extra ? extra : "");
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "answer", answer, NULL), 0);
    return app;
}

/* A requester "<name>" asking on `req`, reading replies on `rep_topic` (2 partitions), partition
 * `partition` when >= 0. */
static brook_app_t *requester_app(const char *name, const char *req, const char *rep_topic,
                                  int partition) {
    char decl[2048], part[64] = "";
    if (partition >= 0)
        snprintf(part, sizeof(part), "partition = %d; ", partition);
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; kafka = { linger_ms = 0; }; };\n"
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "templates = (\n"
             "  { name = \"ask\"; topic = \"%s\"; value = \"string\";\n"
             "    reply = { topic = \"%s\"; %svalue = \"string\"; timeout_ms = 20000; }; },\n"
             "  { name = \"plain\"; topic = \"%s\"; value = \"string\"; }\n"
             ");\n",
             name, rep_topic, req, rep_topic, part, req);
    return it_app(decl);
}

static brook_request_stats_t stats_of(brook_app_t *app) {
    brook_request_stats_t s;
    brook_template_request_stats(brook_app_template(app, "ask"), &s);
    return s;
}

static void assert_stats(brook_app_t *app, uint64_t requests, uint64_t replies, uint64_t timeouts,
                         uint64_t late, uint64_t unmatched) {
    brook_request_stats_t s = stats_of(app);
    if (s.requests != requests || s.replies != replies || s.timeouts != timeouts ||
        s.late != late || s.unmatched != unmatched)
        fail_msg("request stats: requests %llu replies %llu timeouts %llu late %llu unmatched "
                 "%llu; expected %llu %llu %llu %llu %llu",
                 (unsigned long long)s.requests, (unsigned long long)s.replies,
                 (unsigned long long)s.timeouts, (unsigned long long)s.late,
                 (unsigned long long)s.unmatched, (unsigned long long)requests,
                 (unsigned long long)replies, (unsigned long long)timeouts,
                 (unsigned long long)late, (unsigned long long)unmatched);
}

static bool header_is(const brook_test_record_t *r, const char *name, const void *value,
                      size_t len) {
    const brook_header_t *h = brook_test_record_header(r, name);
    return h && h->len == len && !memcmp(h->value, value, len);
}

static void start_pair(brook_app_t *replier, brook_app_t *requester) {
    it_start(replier);
    it_start(requester);
    assert_true(brook_test_wait_assigned(replier, 30000));
}

static void stop_pair(brook_app_t *replier, brook_app_t *requester) {
    assert_int_equal(brook_app_stop(requester), 0);
    assert_int_equal(brook_app_stop(replier), 0);
    brook_app_destroy(requester);
    brook_app_destroy(replier);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Each request gets its own reply; the records say exactly what was asked and answered. */
static void test_request_reply(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-a-replier", "rr.a.req", "rr.a.default", NULL);
    brook_app_t *requester = requester_app("rr-a-requester", "rr.a.req", "rr.a.rep", -1);
    start_pair(replier, requester);
    brook_template_t *ask = brook_app_template(requester, "ask");
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char key[32], value[32], want[40];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        snprintf(want, sizeof(want), "re:v%d", i);
        brook_buf_t reply;
        brook_buf_init(&reply);
        brook_error_t err = {0};
        int rc = brook_template_request(ask, key, value, &reply, 0, NULL, &err);
        if (rc)
            fail_msg("request %d: %s", i, err.message);
        assert_int_equal(reply.len, strlen(want));
        assert_string_equal((const char *)reply.data, want); /* NUL after the bytes */
        brook_buf_free(&reply);
    }
    assert_stats(requester, N, N, 0, 0, 0);
    assert_int_equal(atomic_load(&rep.handled), N);
    assert_int_equal(atomic_load(&rep.errors), 0);
    /* Every request handled is committed by the replier's group. */
    assert_true(
        BROOK_TEST_WAIT_UNTIL(it_committed_total("rr-a-replier", "rr.a.req", 2) == N, 30000));

    /* The requests: a 16-byte correlation id each (all different), the reply topic, no reply
     * partition (the requester reads every partition of its reply topic). */
    brook_test_record_t *reqs, *reps;
    assert_int_equal(brook_test_consume(cluster, "rr.a.req", N, 10000, &reqs), N);
    assert_int_equal(brook_test_consume(cluster, "rr.a.rep", N, 10000, &reps), N);
    int matched = 0;
    for (int i = 0; i < N; i++) {
        const brook_header_t *c = brook_test_record_header(&reqs[i], BROOK_HEADER_CORRELATION_ID);
        assert_non_null(c);
        assert_int_equal(c->len, 16);
        assert_true(header_is(&reqs[i], BROOK_HEADER_REPLY_TOPIC, "rr.a.rep", 8));
        assert_null(brook_test_record_header(&reqs[i], BROOK_HEADER_REPLY_PARTITION));
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(
                brook_test_record_header(&reqs[k], BROOK_HEADER_CORRELATION_ID)->value, c->value,
                16);
        /* Its one reply: the same correlation id and key, "re:" + the value. */
        int found = 0;
        for (int k = 0; k < N; k++) {
            if (!header_is(&reps[k], BROOK_HEADER_CORRELATION_ID, c->value, 16))
                continue;
            found++;
            assert_int_equal(reps[k].key_len, reqs[i].key_len);
            assert_memory_equal(reps[k].key, reqs[i].key, reqs[i].key_len);
            char want[64];
            snprintf(want, sizeof(want), "re:%.*s", (int)reqs[i].value_len,
                     (const char *)reqs[i].value);
            assert_int_equal(reps[k].value_len, strlen(want));
            assert_memory_equal(reps[k].value, want, strlen(want));
            /* A reply names no reply topic of its own (as Spring's). */
            assert_null(brook_test_record_header(&reps[k], BROOK_HEADER_REPLY_TOPIC));
        }
        assert_int_equal(found, 1);
        matched++;
    }
    assert_int_equal(matched, N);
    brook_test_records_free(reqs, N);
    brook_test_records_free(reps, N);
    /* Nothing went to the replier's own topic. */
    assert_int_equal(brook_test_end_offsets(cluster, "rr.a.default"), 0);
    stop_pair(replier, requester);
}

/* reply.partition: the requests name it (4-byte big-endian) and the replies land there. */
static void test_reply_partition(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-b-replier", "rr.b.req", "rr.b.default", NULL);
    brook_app_t *requester = requester_app("rr-b-requester", "rr.b.req", "rr.b.rep", 1);
    start_pair(replier, requester);
    brook_template_t *ask = brook_app_template(requester, "ask");
    enum { N = 10 };
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", i); /* keys of both partitions */
        brook_buf_t reply;
        brook_buf_init(&reply);
        assert_int_equal(brook_template_request(ask, key, "p", &reply, 0, NULL, NULL), 0);
        assert_string_equal((const char *)reply.data, "re:p");
        brook_buf_free(&reply);
    }
    assert_stats(requester, N, N, 0, 0, 0);
    brook_test_record_t *reqs, *reps;
    assert_int_equal(brook_test_consume(cluster, "rr.b.req", N, 10000, &reqs), N);
    assert_int_equal(brook_test_consume(cluster, "rr.b.rep", N, 10000, &reps), N);
    static const uint8_t one[4] = {0, 0, 0, 1};
    for (int i = 0; i < N; i++) {
        assert_true(header_is(&reqs[i], BROOK_HEADER_REPLY_PARTITION, one, 4));
        assert_int_equal(reps[i].partition, 1);
    }
    brook_test_records_free(reqs, N);
    brook_test_records_free(reps, N);
    stop_pair(replier, requester);
}

/* A request with no reply in time returns BROOK_ERR_TIMEOUT after its timeout; the reply that
 * comes later is dropped and counted late; the next request is answered. */
static void test_timeout_and_late_reply(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-c-replier", "rr.c.req", "rr.c.default", NULL);
    brook_app_t *requester = requester_app("rr-c-requester", "rr.c.req", "rr.c.rep", -1);
    start_pair(replier, requester);
    brook_template_t *ask = brook_app_template(requester, "ask");
    atomic_store(&rep.gated, true);
    brook_buf_t reply;
    brook_buf_init(&reply);
    brook_error_t err = {0};
    int64_t t0 = brook_test_now_ms();
    assert_int_equal(brook_template_request(ask, "k", "slow", &reply, 300, NULL, &err),
                     BROOK_ERR_TIMEOUT);
    int64_t took = brook_test_now_ms() - t0;
    print_message("timed out after %lld ms: %s\n", (long long)took, err.message);
    assert_true(took >= 300 && took < 5000);
    assert_int_equal(reply.len, 0);
    assert_stats(requester, 1, 0, 1, 0, 0);
    /* The replier got the request and was held: now it answers, too late. */
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&rep.waiting) == 1, 30000));
    atomic_store(&rep.gated, false);
    assert_true(BROOK_TEST_WAIT_UNTIL(stats_of(requester).late == 1, 30000));
    assert_stats(requester, 1, 0, 1, 1, 0);
    assert_int_equal(atomic_load(&rep.handled), 1);
    /* The late reply was sent, and read. */
    assert_int_equal(brook_test_end_offsets(cluster, "rr.c.rep"), 1);
    /* The next request is answered, its reply not taken for the late one's. */
    assert_int_equal(brook_template_request(ask, "k", "fast", &reply, 0, NULL, NULL), 0);
    assert_string_equal((const char *)reply.data, "re:fast");
    assert_stats(requester, 2, 1, 1, 1, 0);
    brook_buf_free(&reply);
    stop_pair(replier, requester);
}

static brook_header_t hdr(const char *name, const void *value, size_t len) {
    return (brook_header_t){name, value, len};
}

/* What a Spring ReplyingKafkaTemplate sends (and a request without reply headers): the reply
 * goes where the request says, with its correlation id as it came, keyed by its key. */
static void test_spring_shaped_requests(void **state) {
    replier_reset();
    assert_int_equal(brook_test_create_topic(cluster, "rr.d.elsewhere", 3), 0);
    brook_app_t *replier = replier_app("rr-d-replier", "rr.d.req", "rr.d.default", NULL);
    it_start(replier);
    assert_true(brook_test_wait_assigned(replier, 30000));
    /* Spring's binary correlation: 16 bytes (a UUID). */
    static const uint8_t uuid[16] = {0x6f, 0x1c, 0x2a, 0x01, 0x93, 0x4b, 0x4e, 0x11,
                                     0x8a, 0x77, 0x00, 0x12, 0xff, 0xee, 0x42, 0x17};
    static const uint8_t two[4] = {0, 0, 0, 2};
    brook_header_t spring[] = {hdr(BROOK_HEADER_REPLY_TOPIC, "rr.d.elsewhere", 14),
                               hdr(BROOK_HEADER_REPLY_PARTITION, two, 4),
                               hdr(BROOK_HEADER_CORRELATION_ID, uuid, 16)};
    assert_int_equal(brook_test_produce(cluster, "rr.d.req", 0, "sk", 2, "hello", 5, spring, 3), 0);
    /* Spring's string correlation (binaryCorrelation = false), no reply partition. */
    brook_header_t text[] = {hdr(BROOK_HEADER_REPLY_TOPIC, "rr.d.elsewhere", 14),
                             hdr(BROOK_HEADER_CORRELATION_ID, "corr-42", 7)};
    assert_int_equal(brook_test_produce(cluster, "rr.d.req", 1, "tk", 2, "text", 4, text, 2), 0);
    /* No reply topic: the template's own topic (as @SendTo("topic")). */
    brook_header_t bare[] = {hdr(BROOK_HEADER_CORRELATION_ID, "c-bare", 6)};
    assert_int_equal(brook_test_produce(cluster, "rr.d.req", 0, "bk", 2, "bare", 4, bare, 1), 0);
    /* A malformed reply partition: the record fails for good, with brook.ReplyFailure. */
    brook_header_t bad[] = {hdr(BROOK_HEADER_REPLY_TOPIC, "rr.d.elsewhere", 14),
                            hdr(BROOK_HEADER_REPLY_PARTITION, two, 3),
                            hdr(BROOK_HEADER_CORRELATION_ID, "c-bad", 5)};
    assert_int_equal(brook_test_produce(cluster, "rr.d.req", 1, "xk", 2, "bad", 3, bad, 3), 0);

    brook_test_record_t *out, *def, *dlt;
    assert_int_equal(brook_test_consume(cluster, "rr.d.elsewhere", 2, 30000, &out), 2);
    for (int i = 0; i < 2; i++) {
        if (out[i].key_len == 2 && !memcmp(out[i].key, "sk", 2)) {
            assert_int_equal(out[i].partition, 2);
            assert_true(header_is(&out[i], BROOK_HEADER_CORRELATION_ID, uuid, 16));
            assert_int_equal(out[i].value_len, 8);
            assert_memory_equal(out[i].value, "re:hello", 8);
        } else {
            assert_memory_equal(out[i].key, "tk", 2);
            assert_true(header_is(&out[i], BROOK_HEADER_CORRELATION_ID, "corr-42", 7));
            assert_memory_equal(out[i].value, "re:text", 7);
        }
        assert_null(brook_test_record_header(&out[i], BROOK_HEADER_REPLY_PARTITION));
    }
    assert_false(out[0].key_len == out[1].key_len && !memcmp(out[0].key, out[1].key, 2));
    assert_int_equal(brook_test_consume(cluster, "rr.d.default", 1, 30000, &def), 1);
    assert_memory_equal(def[0].key, "bk", 2);
    assert_true(header_is(&def[0], BROOK_HEADER_CORRELATION_ID, "c-bare", 6));
    assert_memory_equal(def[0].value, "re:bare", 7);
    assert_int_equal(brook_test_consume(cluster, "rr.d.req-dlt", 1, 30000, &dlt), 1);
    assert_true(header_is(&dlt[0], "kafka_dlt-exception-fqcn", "brook.ReplyFailure", 18));
    assert_memory_equal(dlt[0].value, "bad", 3);
    /* All four requests are done with: committed. */
    assert_true(
        BROOK_TEST_WAIT_UNTIL(it_committed_total("rr-d-replier", "rr.d.req", 2) == 4, 30000));
    brook_listener_stats_t ls;
    brook_listener_stats(brook_app_listener(replier, "answer"), &ls);
    assert_int_equal(ls.dead_lettered, 1);
    assert_int_equal(atomic_load(&rep.handled), 4); /* the bad one's handler ran too */
    assert_int_equal(brook_test_end_offsets(cluster, "rr.d.elsewhere"), 2);
    assert_int_equal(brook_test_end_offsets(cluster, "rr.d.default"), 1);
    brook_test_records_free(out, 2);
    brook_test_records_free(def, 1);
    brook_test_records_free(dlt, 1);
    assert_int_equal(brook_app_stop(replier), 0);
    brook_app_destroy(replier);
}

/* Records on the reply topic that answer no request of this app are dropped and counted; a
 * handler that does not ask for its reply sends none. */
static void test_unmatched_and_no_reply(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-e-replier", "rr.e.req", "rr.e.default", NULL);
    brook_app_t *requester = requester_app("rr-e-requester", "rr.e.req", "rr.e.rep", -1);
    start_pair(replier, requester);
    static const uint8_t foreign[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    brook_header_t h[] = {hdr(BROOK_HEADER_CORRELATION_ID, foreign, 16)};
    assert_int_equal(brook_test_produce(cluster, "rr.e.rep", 0, "x", 1, "no-one", 6, h, 1), 0);
    assert_int_equal(brook_test_produce(cluster, "rr.e.rep", 1, "y", 1, "bare", 4, NULL, 0), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(stats_of(requester).unmatched == 2, 30000));
    brook_template_t *ask = brook_app_template(requester, "ask");
    brook_buf_t reply;
    brook_buf_init(&reply);
    assert_int_equal(brook_template_request(ask, "k", "after", &reply, 0, NULL, NULL), 0);
    assert_string_equal((const char *)reply.data, "re:after");
    /* reply NULL: only waits. */
    assert_int_equal(brook_template_request(ask, "k", "again", NULL, 0, NULL, NULL), 0);
    /* No reply asked for: none sent, the request times out. */
    atomic_store(&rep.no_reply_ask, true);
    assert_int_equal(brook_template_request(ask, "k", "silence", &reply, 1000, NULL, NULL),
                     BROOK_ERR_TIMEOUT);
    assert_true(
        BROOK_TEST_WAIT_UNTIL(it_committed_total("rr-e-replier", "rr.e.req", 2) == 3, 30000));
    assert_int_equal(brook_test_end_offsets(cluster, "rr.e.rep"), 2 + 2);
    assert_stats(requester, 3, 2, 1, 0, 2);
    brook_buf_free(&reply);
    stop_pair(replier, requester);
}

/* The acceptance test: 10,000 requests from 4 threads at once, every reply to its own request,
 * none lost, none mismatched, none late. */
enum { THREADS = 4, PER_THREAD = 2500 };

typedef struct {
    brook_template_t *ask;
    int index;
    int ok, mismatched, failed;
    int64_t *rtt_us; /* per request */
    char first_error[256];
} asker_t;

static void *ask_many(void *arg) {
    asker_t *a = arg;
    brook_buf_t reply;
    brook_buf_init(&reply);
    for (int i = 0; i < PER_THREAD; i++) {
        char key[32], value[48], want[64];
        snprintf(key, sizeof(key), "t%d-%d", a->index, i % 16);
        snprintf(value, sizeof(value), "t%d-%d", a->index, i);
        snprintf(want, sizeof(want), "re:%s", value);
        brook_error_t err = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = brook_template_request(a->ask, key, value, &reply, 20000, NULL, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        a->rtt_us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        if (rc) {
            if (!a->failed++)
                snprintf(a->first_error, sizeof(a->first_error), "%s", err.message);
        } else if (reply.len != strlen(want) || strcmp((const char *)reply.data, want)) {
            a->mismatched++;
        } else {
            a->ok++;
        }
    }
    brook_buf_free(&reply);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_requests(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-f-replier", "rr.f.req", "rr.f.default", NULL);
    brook_app_t *requester = requester_app("rr-f-requester", "rr.f.req", "rr.f.rep", -1);
    start_pair(replier, requester);
    asker_t askers[THREADS];
    pthread_t threads[THREADS];
    int64_t *rtt = calloc(THREADS * PER_THREAD, sizeof(*rtt));
    int64_t t0 = brook_test_now_ms();
    for (int t = 0; t < THREADS; t++) {
        askers[t] = (asker_t){.ask = brook_app_template(requester, "ask"),
                              .index = t,
                              .rtt_us = rtt + t * PER_THREAD};
        assert_int_equal(pthread_create(&threads[t], NULL, ask_many, &askers[t]), 0);
    }
    int ok = 0, mismatched = 0, failed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        ok += askers[t].ok;
        mismatched += askers[t].mismatched;
        failed += askers[t].failed;
        if (askers[t].failed)
            print_message("thread %d: %d failed, first: %s\n", t, askers[t].failed,
                          askers[t].first_error);
    }
    int64_t took = brook_test_now_ms() - t0;
    qsort(rtt, THREADS * PER_THREAD, sizeof(*rtt), cmp_i64);
    print_message("%d requests from %d threads in %lld ms (%.0f/s); round trip p50 %.2f ms, "
                  "p99 %.2f ms\n",
                  THREADS * PER_THREAD, THREADS, (long long)took,
                  THREADS * PER_THREAD * 1000.0 / (double)(took ? took : 1),
                  rtt[THREADS * PER_THREAD / 2] / 1000.0,
                  rtt[THREADS * PER_THREAD * 99 / 100] / 1000.0);
    free(rtt);
    assert_int_equal(failed, 0);
    assert_int_equal(mismatched, 0);
    assert_int_equal(ok, THREADS * PER_THREAD);
    assert_stats(requester, THREADS * PER_THREAD, THREADS * PER_THREAD, 0, 0, 0);
    assert_int_equal(atomic_load(&rep.handled), THREADS * PER_THREAD);
    assert_int_equal(atomic_load(&rep.errors), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        it_committed_total("rr-f-replier", "rr.f.req", 2) == THREADS * PER_THREAD, 30000));
    assert_int_equal(brook_test_end_offsets(cluster, "rr.f.rep"), THREADS * PER_THREAD);
    stop_pair(replier, requester);
}

static int in_transaction(brook_app_t *app, void *opaque) {
    brook_error_t *err = opaque;
    return brook_template_request(brook_app_template(app, "ask"), "k", "v", NULL, 1000, NULL, err);
}

typedef struct {
    brook_app_t *app;
    int rc;
    int64_t returned_at;
} waiter_t;

static void *wait_long(void *arg) {
    waiter_t *w = arg;
    w->rc = brook_template_request(brook_app_template(w->app, "ask"), "k", "held", NULL, 30000,
                                   NULL, NULL);
    w->returned_at = brook_test_now_ms();
    return NULL;
}

/* What a request refuses, and a stop ends a waiting request at once. */
static void test_refusals_and_stop(void **state) {
    replier_reset();
    brook_app_t *replier = replier_app("rr-g-replier", "rr.g.req", "rr.g.default", NULL);
    brook_app_t *requester = requester_app("rr-g-requester", "rr.g.req", "rr.g.rep", -1);
    brook_template_t *ask = brook_app_template(requester, "ask");
    brook_error_t err = {0};
    /* Before start. */
    assert_int_equal(brook_template_request(ask, "k", "v", NULL, 100, NULL, &err), BROOK_ERR_STATE);
    start_pair(replier, requester);
    /* A template without a reply. */
    assert_int_equal(brook_template_request(brook_app_template(requester, "plain"), "k", "v", NULL,
                                            100, NULL, &err),
                     BROOK_ERR_INVALID_ARG);
    assert_int_equal(brook_template_request(NULL, "k", "v", NULL, 100, NULL, NULL),
                     BROOK_ERR_INVALID_ARG);
    /* In a transaction: refused before anything is sent. */
    brook_error_t inner = {0};
    assert_int_equal(brook_app_execute_in_transaction(requester, in_transaction, &inner, &err),
                     BROOK_ERR_STATE);
    assert_int_equal(inner.code, BROOK_ERR_STATE);
    assert_stats(requester, 0, 0, 0, 0, 0);
    /* A stop ends a request that waits. */
    atomic_store(&rep.gated, true);
    waiter_t w = {.app = requester};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_long, &w), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&rep.waiting) == 1, 30000));
    int64_t stop_at = brook_test_now_ms();
    assert_int_equal(brook_app_stop(requester), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, BROOK_ERR_STATE);
    print_message("the waiting request returned %lld ms after the stop began\n",
                  (long long)(w.returned_at - stop_at));
    assert_true(w.returned_at - stop_at < 5000);
    /* After stop. */
    assert_int_equal(brook_template_request(ask, "k", "v", NULL, 100, NULL, &err), BROOK_ERR_STATE);
    assert_stats(requester, 1, 0, 0, 0, 0);
    atomic_store(&rep.gated, false);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&rep.handled) == 1, 30000));
    assert_int_equal(brook_app_stop(replier), 0);
    brook_app_destroy(requester);
    brook_app_destroy(replier);
}

/* A handler that makes a request through its own app's template "ask" (opaque: the app), and
 * notes how it ended. */
static atomic_int handler_request_rc = -1;

static brook_result_t ask_from_handler(brook_ctx_t *ctx, const void *key, const void *value,
                                       void *op) {
    (void)ctx;
    (void)key;
    brook_error_t err = {0};
    int rc = brook_template_request(brook_app_template(op, "ask"), "k", value, NULL, 0, NULL, &err);
    print_message("the handler's request returned %d: %s\n", rc, err.message);
    atomic_store(&handler_request_rc, rc);
    return BROOK_OK;
}

/* A stop does not wait past its shutdown timeout for a handler waiting for a reply: the
 * handler's request (its template allows 20 s) gives up at the stop's deadline, as stopped. */
static void test_stop_ends_handler_request(void **state) {
    replier_reset();
    atomic_store(&handler_request_rc, -1);
    brook_app_t *replier = replier_app("rr-i-replier", "rr.i.req", "rr.i.default", NULL);
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"rr-i-requester\"; shutdown_timeout_ms = 1000;\n"
             "  kafka = { linger_ms = 0; }; };\n"
             "topics = ( { name = \"rr.i.rep\"; partitions = 2; },\n"
             "           { name = \"rr.i.in\"; partitions = 1; } );\n"
             "templates = ( { name = \"ask\"; topic = \"rr.i.req\"; value = \"string\";\n"
             "  reply = { topic = \"rr.i.rep\"; value = \"string\"; timeout_ms = 20000; }; } );\n"
             "listeners = ( { id = \"in\"; topics = [ \"rr.i.in\" ]; value = \"string\";\n"
             "  handler = \"ask_from_handler\"; } );\n");
    brook_app_t *requester = it_app(decl);
    assert_int_equal(brook_app_set_handler(requester, "in", ask_from_handler, requester), 0);
    start_pair(replier, requester);
    assert_true(brook_test_wait_assigned(requester, 30000));
    atomic_store(&rep.gated, true); /* the request is read, not answered */
    assert_int_equal(brook_test_produce(cluster, "rr.i.in", 0, "k", 1, "held", 4, NULL, 0), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&rep.waiting) == 1, 30000));
    int rc = brook_app_stop(requester);
    assert_true(rc == 0 || rc == BROOK_ERR_TIMEOUT); /* the record's commit may come too late */
    assert_int_equal(atomic_load(&handler_request_rc), BROOK_ERR_STATE);
    atomic_store(&rep.gated, false);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&rep.handled) == 1, 30000));
    assert_int_equal(brook_app_stop(replier), 0);
    brook_app_destroy(requester);
    brook_app_destroy(replier);
}

/* An exactly-once replier: the reply is in its transaction, read once that commits. */
static void test_exactly_once_replier(void **state) {
    replier_reset();
    brook_app_t *replier =
        replier_app("rr-h-replier", "rr.h.req", "rr.h.default", "exactly_once = true;");
    brook_app_t *requester = requester_app("rr-h-requester", "rr.h.req", "rr.h.rep", -1);
    start_pair(replier, requester);
    brook_template_t *ask = brook_app_template(requester, "ask");
    brook_buf_t reply;
    brook_buf_init(&reply);
    for (int i = 0; i < 5; i++) {
        brook_error_t err = {0};
        if (brook_template_request(ask, "k", "tx", &reply, 0, NULL, &err))
            fail_msg("request %d: %s", i, err.message);
        assert_string_equal((const char *)reply.data, "re:tx");
    }
    brook_buf_free(&reply);
    assert_stats(requester, 5, 5, 0, 0, 0);
    brook_listener_stats_t ls;
    brook_listener_stats(brook_app_listener(replier, "answer"), &ls);
    assert_true(ls.transactions >= 1);
    assert_int_equal(ls.aborted_transactions, 0);
    assert_true(
        BROOK_TEST_WAIT_UNTIL(it_committed_total("rr-h-replier", "rr.h.req", 2) == 5, 30000));
    stop_pair(replier, requester);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_reply),
        cmocka_unit_test(test_reply_partition),
        cmocka_unit_test(test_timeout_and_late_reply),
        cmocka_unit_test(test_spring_shaped_requests),
        cmocka_unit_test(test_unmatched_and_no_reply),
        cmocka_unit_test(test_refusals_and_stop),
        cmocka_unit_test(test_stop_ends_handler_request),
        cmocka_unit_test(test_exactly_once_replier),
        cmocka_unit_test(test_concurrent_requests),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
