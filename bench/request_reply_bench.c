/*
 * Request-reply benchmark: round trips through Brook (the generated rr_bench_ask_request() of
 * request_reply.brook, a replying listener in the same app) against a hand-written librdkafka
 * program doing the same work with the same settings: a producer for requests and replies, a
 * reply consumer reading its reply topic from the end without a group (a correlation id per
 * request, a table of waiting requests, a condition per request), and a replier group of two
 * consumers that copy each request's correlation id into a reply to its kafka_replyTopic. Both
 * run side by side in this process on one cluster: the embedded one, or a real broker when
 * BROOK_TEST_KAFKA names one (figures then prefixed "kafka_").
 *
 *   latency     one thread, requests one after another, rounds interleaved between the two:
 *               p50 / p99 / p99.9 of the round trip (the requesting thread's clock, from the
 *               call to the reply in hand)
 *   throughput  four threads at once: requests per second
 *
 * Prints `bench: <name> <value> <unit>` and `ratio: <name> <value>` lines.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook_test.h"
#include "rr_bench.brook.h"

#define VALUE_LEN 100
#define THREADS 4

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A request's value: VALUE_LEN characters, numbered. */
static void value_of(char *out, int thread, int i) {
    int n = snprintf(out, VALUE_LEN + 1, "t%d-%d:", thread, i);
    memset(out + n, 'x', VALUE_LEN - (size_t)n);
    out[VALUE_LEN] = 0;
}

/* ---- Brook --------------------------------------------------------------------------------- */

brook_result_t on_ask(brook_ctx_t *ctx, const char *key, const char *value, brook_buf_t *reply) {
    brook_buf_append(reply, "re:", 3);
    brook_buf_append(reply, value, strlen(value));
    return BROOK_OK;
}

static rr_bench_t *svc;

/* One request through Brook: 0, or -1 when the reply is missing or wrong. */
static int brook_ask(const char *key, const char *value, brook_buf_t *reply) {
    if (rr_bench_ask_request(svc, key, value, reply, 0))
        return -1;
    return reply->len == strlen(value) + 3 && !memcmp(reply->data + 3, value, strlen(value)) ? 0
                                                                                             : -1;
}

/* ---- hand-written librdkafka ------------------------------------------------------------------
 */

#define RAW_REQ "rrbench.raw.req"
#define RAW_REP "rrbench.raw.rep"
#define RAW_SLOTS 4096 /* more than the requests in flight at once */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seq; /* the request waiting in this slot, 0 for none */
    bool done;
    char *value;
    size_t len;
} raw_slot_t;

static struct {
    rd_kafka_t *producer, *replies, *members[2];
    rd_kafka_topic_t *req_rkt, *rep_rkt;
    rd_kafka_queue_t *queue;
    pthread_t reply_thread, member_threads[2], poll_thread;
    atomic_bool stop;
    atomic_uint_fast64_t seq;
    uint8_t instance[8];
    raw_slot_t slots[RAW_SLOTS];
} raw;

/* BROOK_KAFKA_FETCH_WAIT_MAX_MS, which Brook applies to its listener and its reply consumer, for
 * the raw consumers too; unset: librdkafka's default. On the embedded cluster main() sets it to
 * 1 ms: the cluster answers a Fetch that finds no data only after fetch.wait.max.ms, even when
 * data arrives meanwhile, so each hop of a round trip waits for the next fetch of its consumer,
 * and in a ping-pong the two consumers' fetch cycles lock into a phase that makes the round trip
 * one or two whole periods (at 10 ms: p50 11 or 21 ms from one run to the next, for either
 * program). At 1 ms the cycles no longer decide. A real broker answers a waiting Fetch as soon as
 * data arrives. */
static const char *fetch_wait_max_ms(void) {
    return getenv("BROOK_KAFKA_FETCH_WAIT_MAX_MS");
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "request_reply_bench: %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

/* The replier's members: each request answered with "re:" + its value, its correlation id copied,
 * to its kafka_replyTopic; offsets stored once answered and auto-committed every second. */
static void *raw_member_main(void *arg) {
    rd_kafka_t *c = arg;
    while (!atomic_load(&raw.stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_headers_t *h = NULL;
        const void *corr = NULL, *topic = NULL;
        size_t corr_len = 0, topic_len = 0;
        if (!rd_kafka_message_headers(m, &h)) {
            rd_kafka_header_get_last(h, "kafka_correlationId", &corr, &corr_len);
            rd_kafka_header_get_last(h, "kafka_replyTopic", &topic, &topic_len);
        }
        char t[256], value[VALUE_LEN + 8];
        snprintf(t, sizeof(t), "%.*s", (int)topic_len, topic ? (const char *)topic : RAW_REP);
        size_t n = m->len < VALUE_LEN + 4 ? m->len : VALUE_LEN + 4;
        memcpy(value, "re:", 3);
        memcpy(value + 3, m->payload, n);
        rd_kafka_headers_t *rh = rd_kafka_headers_new(1);
        rd_kafka_header_add(rh, "kafka_correlationId", -1, corr, (ssize_t)corr_len);
        if (rd_kafka_producev(raw.producer, RD_KAFKA_V_TOPIC(t),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                              RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(value, n + 3),
                              RD_KAFKA_V_HEADERS(rh), RD_KAFKA_V_END))
            rd_kafka_headers_destroy(rh);
        rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    return NULL;
}

/* The requester's reply consumer: a reply goes to the slot of its correlation id's sequence. */
static void *raw_reply_main(void *arg) {
    while (!atomic_load(&raw.stop)) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(raw.queue, 100);
        if (!m)
            continue;
        rd_kafka_headers_t *h = NULL;
        const void *corr = NULL;
        size_t len = 0;
        if (!m->err && !rd_kafka_message_headers(m, &h) &&
            !rd_kafka_header_get_last(h, "kafka_correlationId", &corr, &len) && len == 16 &&
            !memcmp(corr, raw.instance, 8)) {
            uint64_t seq = 0;
            for (int i = 8; i < 16; i++)
                seq = seq << 8 | ((const uint8_t *)corr)[i];
            raw_slot_t *s = &raw.slots[seq % RAW_SLOTS];
            pthread_mutex_lock(&s->lock);
            if (s->seq == seq && !s->done) {
                s->value = malloc(m->len + 1);
                memcpy(s->value, m->payload, m->len);
                s->len = m->len;
                s->done = true;
                pthread_cond_signal(&s->cond);
            }
            pthread_mutex_unlock(&s->lock);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* Serves the producer's events (no delivery callback is set). */
static void *raw_poll_main(void *arg) {
    while (!atomic_load(&raw.stop))
        rd_kafka_poll(raw.producer, 100);
    return NULL;
}

static int raw_ask(const char *key, const char *value, brook_buf_t *reply) {
    uint64_t seq = atomic_fetch_add(&raw.seq, 1) + 1;
    raw_slot_t *s = &raw.slots[seq % RAW_SLOTS];
    pthread_mutex_lock(&s->lock);
    s->seq = seq;
    s->done = false;
    pthread_mutex_unlock(&s->lock);
    uint8_t corr[16];
    memcpy(corr, raw.instance, 8);
    for (int i = 15; i >= 8; i--, seq >>= 8)
        corr[i] = (uint8_t)seq;
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "kafka_correlationId", -1, corr, sizeof(corr));
    rd_kafka_header_add(h, "kafka_replyTopic", -1, RAW_REP, -1);
    if (rd_kafka_producev(raw.producer, RD_KAFKA_V_RKT(raw.req_rkt),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_END)) {
        rd_kafka_headers_destroy(h);
        return -1;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->done && !rc)
        rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
    char *v = s->value;
    size_t len = s->len;
    bool done = s->done;
    s->value = NULL;
    s->seq = 0;
    pthread_mutex_unlock(&s->lock);
    if (!done)
        return -1;
    brook_buf_reset(reply);
    brook_buf_append(reply, v, len);
    free(v);
    return len == strlen(value) + 3 && !memcmp(reply->data + 3, value, strlen(value)) ? 0 : -1;
}

/* Brook's settings (kafka/kafka.c, request.c) and request_reply.brook's. */
static int raw_setup(brook_test_cluster_t *cluster) {
    char errstr[512];
    const char *bootstrap = brook_test_bootstrap(cluster);
    if (brook_test_create_topic(cluster, RAW_REQ, 4) ||
        brook_test_create_topic(cluster, RAW_REP, 1))
        return -1;
    for (int i = 0; i < RAW_SLOTS; i++) {
        pthread_mutex_init(&raw.slots[i].lock, NULL);
        pthread_cond_init(&raw.slots[i].cond, NULL);
    }
    srand((unsigned)now_ns());
    for (int i = 0; i < 8; i++)
        raw.instance[i] = (uint8_t)rand();
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    if (conf_set(pc, "bootstrap.servers", bootstrap) || conf_set(pc, "client.id", "raw") ||
        conf_set(pc, "enable.idempotence", "true") ||
        conf_set(pc, "partitioner", "murmur2_random") || conf_set(pc, "linger.ms", "0"))
        return -1;
    if (!(raw.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr)))) {
        fprintf(stderr, "request_reply_bench: %s\n", errstr);
        return -1;
    }
    raw.req_rkt = rd_kafka_topic_new(raw.producer, RAW_REQ, NULL);

    /* The reply consumer: no group, the reply topic from its end. */
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    if (conf_set(rc, "bootstrap.servers", bootstrap) || conf_set(rc, "client.id", "raw-replies") ||
        conf_set(rc, "enable.partition.eof", "false") ||
        conf_set(rc, "isolation.level", "read_committed") ||
        (fetch_wait_max_ms() && conf_set(rc, "fetch.wait.max.ms", fetch_wait_max_ms())))
        return -1;
    if (!(raw.replies = rd_kafka_new(RD_KAFKA_CONSUMER, rc, errstr, sizeof(errstr))))
        return -1;
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(raw.replies, RAW_REP, 0, &lo, &hi, 10000))
        return -1;
    raw.queue = rd_kafka_queue_new(raw.replies);
    raw.rep_rkt = rd_kafka_topic_new(raw.replies, RAW_REP, NULL);
    if (rd_kafka_consume_start_queue(raw.rep_rkt, 0, hi, raw.queue))
        return -1;

    /* The replier: a group of two. */
    for (int k = 0; k < 2; k++) {
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        if (conf_set(cc, "bootstrap.servers", bootstrap) ||
            conf_set(cc, "client.id", "raw-replier") || conf_set(cc, "group.id", "rrbench-raw") ||
            conf_set(cc, "enable.auto.commit", "true") ||
            conf_set(cc, "auto.commit.interval.ms", "1000") ||
            conf_set(cc, "enable.auto.offset.store", "false") ||
            conf_set(cc, "auto.offset.reset", "earliest") ||
            conf_set(cc, "enable.partition.eof", "false") ||
            conf_set(cc, "session.timeout.ms", "6000") ||
            conf_set(cc, "heartbeat.interval.ms", "500") ||
            conf_set(cc, "partition.assignment.strategy", "cooperative-sticky") ||
            (fetch_wait_max_ms() && conf_set(cc, "fetch.wait.max.ms", fetch_wait_max_ms())))
            return -1;
        if (!(raw.members[k] = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr))))
            return -1;
        rd_kafka_poll_set_consumer(raw.members[k]);
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, RAW_REQ, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(raw.members[k], sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e || pthread_create(&raw.member_threads[k], NULL, raw_member_main, raw.members[k]))
            return -1;
    }
    if (pthread_create(&raw.reply_thread, NULL, raw_reply_main, NULL) ||
        pthread_create(&raw.poll_thread, NULL, raw_poll_main, NULL))
        return -1;
    return 0;
}

static void raw_teardown(void) {
    atomic_store(&raw.stop, true);
    for (int k = 0; k < 2; k++) {
        pthread_join(raw.member_threads[k], NULL);
        rd_kafka_destroy(raw.members[k]);
    }
    pthread_join(raw.reply_thread, NULL);
    pthread_join(raw.poll_thread, NULL);
    rd_kafka_consume_stop(raw.rep_rkt, 0);
    rd_kafka_topic_destroy(raw.rep_rkt);
    rd_kafka_queue_destroy(raw.queue);
    rd_kafka_destroy(raw.replies);
    rd_kafka_flush(raw.producer, 10000);
    rd_kafka_topic_destroy(raw.req_rkt);
    rd_kafka_destroy(raw.producer);
}

/* ---- measuring ------------------------------------------------------------------------------ */

typedef int(ask_fn)(const char *key, const char *value, brook_buf_t *reply);

typedef struct {
    const char *name;
    ask_fn *ask;
    int64_t *rtt_ns;
    int n, failed;
    double rps;
} variant_t;

/* n requests one after another from this thread, round trips appended to v->rtt_ns. */
static void sequential(variant_t *v, int n, bool record) {
    brook_buf_t reply;
    brook_buf_init(&reply);
    char key[32], value[VALUE_LEN + 1];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key-%d", i % 64);
        value_of(value, 0, i);
        int64_t t0 = now_ns();
        int rc = v->ask(key, value, &reply);
        int64_t t = now_ns() - t0;
        if (rc)
            v->failed++;
        else if (record)
            v->rtt_ns[v->n++] = t;
    }
    brook_buf_free(&reply);
}

typedef struct {
    variant_t *v;
    int index, n, failed;
} worker_t;

static void *worker_main(void *arg) {
    worker_t *w = arg;
    brook_buf_t reply;
    brook_buf_init(&reply);
    char key[32], value[VALUE_LEN + 1];
    for (int i = 0; i < w->n; i++) {
        snprintf(key, sizeof(key), "key-%d-%d", w->index, i % 16);
        value_of(value, w->index, i);
        if (w->v->ask(key, value, &reply))
            w->failed++;
    }
    brook_buf_free(&reply);
    return NULL;
}

static void concurrent(variant_t *v, int per_thread) {
    worker_t w[THREADS];
    pthread_t th[THREADS];
    int64_t t0 = now_ns();
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker_t){v, t, per_thread, 0};
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        v->failed += w[t].failed;
    }
    v->rps = THREADS * per_thread / ((double)(now_ns() - t0) / 1e9);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const variant_t *v, double p) {
    size_t i = (size_t)(p * (double)(v->n - 1) + 0.5);
    return (double)v->rtt_ns[i] / 1e6;
}

int main(void) {
    brook_log_set_level(BROOK_LOG_WARN);
    brook_test_cluster_t *cluster = brook_test_cluster_new(1);
    if (!cluster) {
        fprintf(stderr, "request_reply_bench: no cluster\n");
        return 1;
    }
    bool real = !brook_test_is_embedded(cluster);
    const char *pfx = real ? "kafka_" : "";
    if (!real)
        setenv("BROOK_KAFKA_FETCH_WAIT_MAX_MS", "1", 0);
    brook_error_t err = {0};
    if (!(svc = rr_bench_new(NULL, &err)) || rr_bench_start(svc, &err)) {
        fprintf(stderr, "request_reply_bench: %s\n", err.message);
        return 1;
    }
    if (raw_setup(cluster)) {
        fprintf(stderr, "request_reply_bench: raw setup failed\n");
        return 1;
    }
    if (!brook_test_wait_assigned(rr_bench_app(svc), 60000)) {
        fprintf(stderr, "request_reply_bench: listener not assigned\n");
        return 1;
    }
    enum { ROUNDS = 4, PER_ROUND = 1000, WARMUP = 500, PER_THREAD = 1000 };
    variant_t vb = {
        .name = "brook", .ask = brook_ask, .rtt_ns = calloc(ROUNDS * PER_ROUND, sizeof(int64_t))};
    variant_t vr = {
        .name = "raw", .ask = raw_ask, .rtt_ns = calloc(ROUNDS * PER_ROUND, sizeof(int64_t))};
    variant_t *vs[2] = {&vb, &vr};
    /* Groups join (the embedded cluster waits 3 s for a first join), connections warm up. */
    for (int k = 0; k < 2; k++)
        sequential(vs[k], WARMUP, false);
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 2; k++)
            sequential(vs[k], PER_ROUND, true);
    for (int k = 0; k < 2; k++)
        concurrent(vs[k], PER_THREAD);

    for (int k = 0; k < 2; k++) {
        variant_t *v = vs[k];
        if (v->failed || !v->n) {
            fprintf(stderr, "request_reply_bench: %s: %d request(s) failed\n", v->name, v->failed);
            return 1;
        }
        qsort(v->rtt_ns, (size_t)v->n, sizeof(int64_t), cmp_i64);
        printf("bench: %srequest_reply_%s_p50 %.3f ms\n", pfx, v->name, pct(v, 0.50));
        printf("bench: %srequest_reply_%s_p99 %.3f ms\n", pfx, v->name, pct(v, 0.99));
        printf("bench: %srequest_reply_%s_p999 %.3f ms\n", pfx, v->name, pct(v, 0.999));
        printf("bench: %srequest_reply_%s_%dthreads %.0f requests/s\n", pfx, v->name, THREADS,
               v->rps);
    }
    /* Latency: Brook's over the hand-written program's (1.0: the same; above: slower).
     * Throughput: Brook's over the hand-written program's (below 1.0: slower). */
    printf("ratio: %srequest_reply_p50_brook_over_raw %.3f\n", pfx, pct(&vb, 0.5) / pct(&vr, 0.5));
    printf("ratio: %srequest_reply_p99_brook_over_raw %.3f\n", pfx,
           pct(&vb, 0.99) / pct(&vr, 0.99));
    printf("ratio: %srequest_reply_throughput_brook_vs_raw %.3f\n", pfx, vb.rps / vr.rps);
    printf("bench: %srequest_reply_fetch_wait_max_ms %s\n", pfx,
           fetch_wait_max_ms() ? fetch_wait_max_ms() : "default");
    brook_request_stats_t s;
    brook_template_request_stats(brook_app_template(rr_bench_app(svc), "ask"), &s);
    if (s.timeouts || s.late || s.replies != s.requests) {
        fprintf(stderr,
                "request_reply_bench: brook: %llu requests, %llu replies, %llu timeouts, "
                "%llu late\n",
                (unsigned long long)s.requests, (unsigned long long)s.replies,
                (unsigned long long)s.timeouts, (unsigned long long)s.late);
        return 1;
    }
    raw_teardown();
    rr_bench_stop(svc);
    rr_bench_destroy(svc);
    free(vb.rtt_ns);
    free(vr.rtt_ns);
    brook_test_cluster_destroy(cluster);
    return 0;
}
