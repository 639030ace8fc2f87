/*
 * Requests and the reply consumer (request/request.h, brook_template_request in brook.h).
 *
 * A request is a record with a correlation id; the thread that sends it waits on a condition of
 * its own, registered by that id in the app's table of waiting requests. The reply consumer
 * (one thread, one consumer without a group, assigned every reply topic or partition of the
 * app's templates) looks each reply's id up and hands the waiting request a copy of the value,
 * which the requesting thread decodes. A reply nobody waits for is dropped and counted: late
 * when the id is one of this app's (its request timed out, or was answered already), unmatched
 * otherwise.
 *
 * Correlation ids are 16 bytes, as Spring's: 8 random bytes drawn when the app is made, then a
 * big-endian 64-bit number whose top 16 bits are the template's index and the rest a sequence.
 * Repliers copy them back unread (Spring's @SendTo does), so their form is this file's alone.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "request/request.h"

#define BUCKETS 1024 /* of the table of waiting requests, by id */
#define CORRELATION_LEN 16

/* One request waiting for its reply, on its sender's stack; guarded by the table's lock. */
typedef struct pending_s {
    uint64_t id; /* the low half of the correlation id */
    struct pending_s *next;
    pthread_cond_t cond;
    bool done; /* a reply came, or the app stopped (err) */
    int err;
    uint8_t *value; /* a copy of the reply's value; NULL for a null value */
    size_t value_len;
} pending_t;

/* A template that declares a reply. */
typedef struct {
    struct brook__requests_s *owner;
    brook_template_t *tpl;
    const brook_decl_template_t *decl;
    brook__serde_t value; /* the reply's */
    uint16_t index;       /* in the correlation ids of its requests */
    atomic_uint_fast64_t requests, replies, timeouts, late, unmatched;
} requester_t;

struct brook__requests_s {
    const brook_decl_t *decl;
    requester_t *items;
    size_t count;
    uint8_t instance[8]; /* the high half of every correlation id of this app */
    atomic_uint_fast64_t seq;
    pthread_mutex_t lock;
    pending_t *buckets[BUCKETS];
    bool open; /* requests may wait (under lock): from start to stop */
    /* The app stops: requests waiting then wait no longer than this (brook__now_ms(); under
     * lock; INT64_MAX until then). */
    int64_t stop_deadline;
    /* The reply consumer: librdkafka's simple consumer, partitions started on one queue (no
     * group: librdkafka 2.0's assign() wants one). */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    rd_kafka_topic_partition_list_t *reading; /* started; each one's opaque: its topic handle */
    pthread_t thread;
    bool thread_started;
    atomic_bool run;
};

static void put_be64(uint8_t *b, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

brook__requests_t *brook__requests_new(const brook_decl_t *d, brook__producer_t *p) {
    brook__requests_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->decl = d;
    pthread_mutex_init(&r->lock, NULL);
    r->stop_deadline = INT64_MAX;
    size_t n = 0;
    for (size_t i = 0; i < d->template_count; i++)
        n += d->templates[i].reply.declared;
    if (n && !(r->items = calloc(n, sizeof(*r->items)))) {
        brook__requests_free(r);
        return NULL;
    }
    for (size_t i = 0; i < d->template_count; i++) {
        if (!d->templates[i].reply.declared)
            continue;
        requester_t *q = &r->items[r->count];
        q->owner = r;
        q->decl = &d->templates[i];
        q->tpl = brook__producer_template(p, q->decl->name);
        q->index = (uint16_t)r->count++;
        brook__template_set_requester(q->tpl, q);
    }
    /* Unique to this app: another app's requests, or an earlier run's, are never taken for
     * this one's. */
    if (getrandom(r->instance, sizeof(r->instance), 0) != (ssize_t)sizeof(r->instance)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec << 20 ^
                       (uint64_t)getpid() ^ (uint64_t)(uintptr_t)r;
        put_be64(r->instance, mix);
    }
    return r;
}

int brook__requests_resolve(brook__requests_t *r, const brook__types_t *types, brook_error_t *err) {
    for (size_t i = 0; i < r->count; i++) {
        requester_t *q = &r->items[i];
        int rc = brook__serde_resolve(&q->value, types, &q->decl->reply.value, r->decl->source,
                                      BROOK_AVRO_FRAMING_SINGLE_OBJECT, 0, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Adds (topic, partition) to the assignment once. */
static void assign_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition) {
    if (!rd_kafka_topic_partition_list_find(l, topic, partition))
        rd_kafka_topic_partition_list_add(l, topic, partition);
}

/* The partition count of `topic`, asked until the broker knows it (a topic just created may not
 * be in every broker's metadata yet); -1 with err set at the deadline. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int64_t deadline,
                            brook_error_t *err) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        brook_error_set(err, BROOK_ERR_KAFKA, "reply topic %s: %s", topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int n = -1;
    rd_kafka_resp_err_t e;
    do {
        const struct rd_kafka_metadata *md = NULL;
        e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        else if (!e)
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (n < 0) {
            struct timespec nap = {0, 100 * 1000000L};
            nanosleep(&nap, NULL);
        }
    } while (n < 0 && brook__now_ms() < deadline);
    rd_kafka_topic_destroy(rkt);
    if (n < 0)
        brook_error_set(err, e ? (int)e : BROOK_ERR_TIMEOUT, "reply topic %s: %s", topic,
                        e ? rd_kafka_err2str(e) : "no metadata");
    return n;
}

/* Sets each partition's offset to its end, asked until the broker answers. */
static int end_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, int64_t deadline,
                       brook_error_t *err) {
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t lo, hi;
        rd_kafka_resp_err_t e;
        while (
            (e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 5000)) &&
            brook__now_ms() < deadline) {
            struct timespec nap = {0, 100 * 1000000L};
            nanosleep(&nap, NULL);
        }
        if (e)
            return brook_error_set(err, e, "reply topic %s [%d]: end offset: %s", tp->topic,
                                   (int)tp->partition, rd_kafka_err2str(e));
        tp->offset = hi;
    }
    return 0;
}

static void on_reply(brook__requests_t *r, const rd_kafka_message_t *m);

/* The reply consumer's thread. */
static void *reply_main(void *arg) {
    brook__requests_t *r = arg;
    brook__log_service(r->decl->name);
    while (atomic_load(&r->run)) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(r->queue, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                brook_log(BROOK_LOG_WARN, "request", "%s: reply consumer: %s", r->decl->name,
                          rd_kafka_message_errstr(m));
        } else {
            on_reply(r, m);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int consumer_conf(brook__requests_t *r, rd_kafka_conf_t *conf, const char *bootstrap,
                         bool embedded, brook_error_t *err) {
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-replies", r->decl->name);
    struct {
        bool when;
        const char *name, *value;
    } props[] = {
        {true, "bootstrap.servers", bootstrap},
        {true, "client.id", client_id},
        /* No group: the reply topics' partitions are read from their end, nothing is
         * committed. */
        {true, "enable.auto.commit", "false"},
        {true, "enable.auto.offset.store", "false"},
        {true, "enable.partition.eof", "false"},
        /* A reply an exactly-once listener sent is read once its transaction commits. */
        {true, "isolation.level", "read_committed"},
        /* The embedded cluster answers a Fetch that finds no data only after this long, even
         * when a reply arrives meanwhile: it is most of a round trip there. */
        {embedded && !brook_decl_kafka_value(r->decl, "fetch.wait.max.ms"), "fetch.wait.max.ms",
         "5"},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) && !rc; i++)
        if (props[i].when)
            rc = brook__kafka_conf_set(conf, props[i].name, props[i].value, err);
    if (!rc)
        rc = brook__kafka_apply_user(r->decl, conf, false, err);
    return rc;
}

int brook__requests_start(brook__requests_t *r, const char *bootstrap, bool embedded,
                          brook_error_t *err) {
    if (!r->count)
        return 0;
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    int rc = consumer_conf(r, conf, bootstrap, embedded, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    char errstr[512];
    if (!(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "reply consumer: %s", errstr);
    }
    rd_kafka_topic_partition_list_t *parts = r->reading = rd_kafka_topic_partition_list_new(4);
    r->queue = rd_kafka_queue_new(r->rk);
    int64_t deadline = brook__now_ms() + 30000;
    for (size_t i = 0; i < r->count && !rc; i++) {
        const brook_decl_reply_t *d = &r->items[i].decl->reply;
        int n = topic_partitions(r->rk, d->topic, deadline, err);
        if (n < 0)
            rc = err ? err->code : BROOK_ERR_KAFKA;
        else if (d->partition >= n)
            rc = brook_error_set(err, BROOK_ERR_DECL,
                                 "%s:%d: templates \"%s\": reply.partition %d: topic %s has %d "
                                 "partition(s)",
                                 r->decl->source, d->line, r->items[i].decl->name,
                                 (int)d->partition, d->topic, n);
        for (int k = 0; !rc && k < n; k++)
            if (d->partition < 0 || d->partition == k)
                assign_add(parts, d->topic, k);
    }
    /* Replies to requests made from now on are after these offsets. */
    if (!rc)
        rc = end_offsets(r->rk, parts, deadline, err);
    for (int i = 0; i < parts->cnt && !rc; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, tp->topic, NULL);
        if (!rkt || rd_kafka_consume_start_queue(rkt, tp->partition, tp->offset, r->queue)) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (rkt)
                rd_kafka_topic_destroy(rkt);
            rc = brook_error_set(err, BROOK_ERR_KAFKA, "reply consumer: %s [%d]: %s", tp->topic,
                                 (int)tp->partition, rd_kafka_err2str(e));
            break;
        }
        tp->opaque = rkt;
    }
    if (!rc) {
        for (int i = 0; i < parts->cnt; i++)
            brook_log(BROOK_LOG_DEBUG, "request", "%s: replies from %s [%d] at offset %lld",
                      r->decl->name, parts->elems[i].topic, (int)parts->elems[i].partition,
                      (long long)parts->elems[i].offset);
        atomic_store(&r->run, true);
        if (pthread_create(&r->thread, NULL, reply_main, r))
            rc = brook_error_set(err, BROOK_ERR_STATE, "cannot start the reply consumer thread");
        else
            r->thread_started = true;
    }
    if (rc)
        return rc;
    pthread_mutex_lock(&r->lock);
    r->open = true;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void brook__requests_stopping(brook__requests_t *r, int64_t deadline) {
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop_deadline = deadline;
    for (size_t b = 0; b < BUCKETS; b++)
        for (pending_t *p = r->buckets[b]; p; p = p->next)
            pthread_cond_signal(&p->cond); /* to wait until the new deadline */
    pthread_mutex_unlock(&r->lock);
}

void brook__requests_stop(brook__requests_t *r) {
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->open = false;
    for (size_t b = 0; b < BUCKETS; b++)
        while (r->buckets[b]) {
            pending_t *p = r->buckets[b];
            r->buckets[b] = p->next;
            p->done = true;
            p->err = BROOK_ERR_STATE;
            pthread_cond_signal(&p->cond);
        }
    pthread_mutex_unlock(&r->lock);
    atomic_store(&r->run, false);
    if (r->thread_started) {
        pthread_join(r->thread, NULL);
        r->thread_started = false;
    }
    for (int i = 0; r->reading && i < r->reading->cnt; i++) {
        rd_kafka_topic_t *rkt = r->reading->elems[i].opaque;
        if (rkt) {
            rd_kafka_consume_stop(rkt, r->reading->elems[i].partition);
            rd_kafka_topic_destroy(rkt);
        }
    }
    if (r->reading) {
        rd_kafka_topic_partition_list_destroy(r->reading);
        r->reading = NULL;
    }
    if (r->queue) {
        rd_kafka_queue_destroy(r->queue);
        r->queue = NULL;
    }
    if (r->rk) {
        rd_kafka_destroy(r->rk);
        r->rk = NULL;
    }
}

void brook__requests_free(brook__requests_t *r) {
    if (!r)
        return;
    brook__requests_stop(r);
    free(r->items);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- the table of waiting requests --------------------------------------------------------- */

static pending_t **bucket_of(brook__requests_t *r, uint64_t id) {
    return &r->buckets[(id ^ id >> 32) % BUCKETS];
}

/* Under r->lock: takes the request waiting for `id` out of the table; NULL when none waits. */
static pending_t *take(brook__requests_t *r, uint64_t id) {
    for (pending_t **pp = bucket_of(r, id); *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            pending_t *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

/* The requester whose reply topic (partition) a record came from, for counting what it did
 * not expect. */
static requester_t *requester_of(brook__requests_t *r, const char *topic, int32_t partition) {
    for (size_t i = 0; i < r->count; i++) {
        const brook_decl_reply_t *d = &r->items[i].decl->reply;
        if (!strcmp(d->topic, topic) && (d->partition < 0 || d->partition == partition))
            return &r->items[i];
    }
    return &r->items[0];
}

/* On the reply consumer's thread. */
static void on_reply(brook__requests_t *r, const rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_headers_t *hdrs = NULL;
    const void *v = NULL;
    size_t len = 0;
    if (rd_kafka_message_headers(m, &hdrs) ||
        rd_kafka_header_get_last(hdrs, BROOK_HEADER_CORRELATION_ID, &v, &len) || !v ||
        len != CORRELATION_LEN || memcmp(v, r->instance, sizeof(r->instance))) {
        atomic_fetch_add(&requester_of(r, topic, m->partition)->unmatched, 1);
        brook_log(BROOK_LOG_DEBUG, "request",
                  "%s: %s [%d] at offset %lld answers no request of this app: dropped",
                  r->decl->name, topic, (int)m->partition, (long long)m->offset);
        return;
    }
    uint64_t id = get_be64((const uint8_t *)v + sizeof(r->instance));
    uint8_t *copy = NULL;
    if (m->payload && !(copy = malloc(m->len ? m->len : 1))) {
        brook_log(BROOK_LOG_ERROR, "request", "%s: out of memory for a reply", r->decl->name);
        return; /* its request times out */
    }
    if (copy)
        memcpy(copy, m->payload, m->len);
    size_t index = (size_t)(id >> 48);
    requester_t *q = index < r->count ? &r->items[index] : requester_of(r, topic, m->partition);
    pthread_mutex_lock(&r->lock);
    pending_t *p = take(r, id);
    if (p) {
        /* Counted before the request returns: its caller may look at once. */
        atomic_fetch_add(&q->replies, 1);
        p->value = copy;
        p->value_len = m->len;
        p->done = true;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&r->lock);
    if (p)
        return;
    free(copy);
    atomic_fetch_add(index < r->count ? &q->late : &q->unmatched, 1);
    brook_log(BROOK_LOG_DEBUG, "request",
              "%s: %s [%d] at offset %lld answers a request that no longer waits (timed out or "
              "answered): dropped",
              r->decl->name, topic, (int)m->partition, (long long)m->offset);
}

/* ---- requests (brook.h) ---------------------------------------------------------------------- */

/* Decodes the reply's value into `reply` as brook_template_request() says, on the requesting
 * thread. */
static int decode_reply(requester_t *q, const pending_t *p, void *reply, brook_error_t *err) {
    brook__decoded_t dec = {0};
    const void *out = NULL;
    int rc = 0;
    if (q->value.kind == BROOK_SERDE_AVRO) {
        if (!p->value)
            return brook_error_set(err, BROOK_ERR_DECODE, "template %s: the reply has no value",
                                   q->decl->name);
        rc = brook__serde_decode(&q->value, p->value, p->value_len, &dec, &out, err);
        if (!rc) {
            /* The decoded value moves into the caller's, with the arena it owns. */
            q->value.type->clear(reply);
            memcpy(reply, dec.value, q->value.type->size);
            dec.value_live = false;
        }
    } else {
        brook_buf_t *b = reply;
        brook_buf_reset(b);
        if (p->value)
            rc = brook__serde_decode(&q->value, p->value, p->value_len, &dec, &out, err);
        if (!rc && p->value && brook_buf_append(b, p->value, p->value_len))
            rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        if (!rc && !brook_buf_reserve(b, 1))
            b->data[b->len] = 0;
    }
    brook__decoded_free(&q->value, &dec);
    if (rc && rc != BROOK_ERR_NOMEM && err) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err->message);
        brook_error_set(err, rc, "template %s: reply: %s", q->decl->name, why);
    }
    return rc;
}

static bool has_header(const brook_send_opts_t *opts, const char *name) {
    for (size_t i = 0; i < opts->header_count; i++)
        if (!strcmp(opts->headers[i].name, name))
            return true;
    return false;
}

int brook_template_request(brook_template_t *tpl, const void *key, const void *value, void *reply,
                           int timeout_ms, const brook_send_opts_t *opts, brook_error_t *err) {
    static const brook_send_opts_t defaults = BROOK_SEND_OPTS_INIT;
    requester_t *q = tpl ? brook__template_requester(tpl) : NULL;
    if (!q)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG,
                               "the template (topic %s) declares no reply",
                               tpl ? brook_template_topic(tpl) : "none");
    brook__requests_t *r = q->owner;
    if (brook__txn_current())
        return brook_error_set(err, BROOK_ERR_STATE,
                               "template %s: a request inside a transaction would be seen only "
                               "once it commits",
                               q->decl->name);
    if (!opts)
        opts = &defaults;
    /* The caller's headers, then the correlation id and where the reply goes (unless the
     * caller named it, as Spring's ReplyingKafkaTemplate leaves a reply topic it was given). */
    size_t n = opts->header_count;
    brook_header_t local[8], *hs = n + 3 <= 8 ? local : malloc((n + 3) * sizeof(*hs));
    if (!hs)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    if (n)
        memcpy(hs, opts->headers, n * sizeof(*hs));
    uint8_t correlation[CORRELATION_LEN], partition[4];
    pending_t p = {0};
    p.id = (uint64_t)q->index << 48 | (atomic_fetch_add(&r->seq, 1) & 0xffffffffffffu);
    memcpy(correlation, r->instance, sizeof(r->instance));
    put_be64(correlation + sizeof(r->instance), p.id);
    hs[n++] = (brook_header_t){BROOK_HEADER_CORRELATION_ID, correlation, sizeof(correlation)};
    const brook_decl_reply_t *d = &q->decl->reply;
    if (!has_header(opts, BROOK_HEADER_REPLY_TOPIC))
        hs[n++] = (brook_header_t){BROOK_HEADER_REPLY_TOPIC, d->topic, strlen(d->topic)};
    if (d->partition >= 0 && !has_header(opts, BROOK_HEADER_REPLY_PARTITION)) {
        uint32_t u = (uint32_t)d->partition;
        partition[0] = (uint8_t)(u >> 24), partition[1] = (uint8_t)(u >> 16),
        partition[2] = (uint8_t)(u >> 8), partition[3] = (uint8_t)u;
        hs[n++] = (brook_header_t){BROOK_HEADER_REPLY_PARTITION, partition, sizeof(partition)};
    }
    brook_send_opts_t o = *opts;
    o.headers = hs;
    o.header_count = n;

    /* Waiting before the request is sent: its reply may come back before the send returns. */
    brook__cond_init_monotonic(&p.cond);
    pthread_mutex_lock(&r->lock);
    bool open = r->open;
    if (open) {
        pending_t **b = bucket_of(r, p.id);
        p.next = *b;
        *b = &p;
    }
    pthread_mutex_unlock(&r->lock);
    /* Counted before it is sent: its reply may be counted before the send returns. */
    if (open)
        atomic_fetch_add(&q->requests, 1);
    int rc = open ? brook_template_send(tpl, key, value, &o) : BROOK_ERR_STATE;
    if (hs != local)
        free(hs);
    if (rc) {
        if (open)
            atomic_fetch_sub(&q->requests, 1);
        if (open) {
            pthread_mutex_lock(&r->lock);
            take(r, p.id);
            pthread_mutex_unlock(&r->lock);
        }
        pthread_cond_destroy(&p.cond);
        free(p.value);
        return brook_error_set(err, rc, "template %s: request not sent: %s", q->decl->name,
                               rc == BROOK_ERR_STATE && !open ? "the app is not running"
                                                              : brook_err2str(rc));
    }
    int64_t wait = timeout_ms > 0 ? timeout_ms : d->timeout_ms;
    int64_t deadline = brook__add_ms(brook__now_ms(), wait);
    pthread_mutex_lock(&r->lock);
    /* Until the reply, the request's deadline, or the deadline of the app's stop (a handler's
     * request must not hold its listener's stop past it). */
    int64_t until_ms;
    while (!p.done && brook__now_ms() <
                          (until_ms = deadline < r->stop_deadline ? deadline : r->stop_deadline)) {
        struct timespec until = brook__deadline_ts(until_ms);
        pthread_cond_timedwait(&p.cond, &r->lock, &until);
    }
    /* Given up: out of the table, so that its reply, if it comes, is counted late. */
    bool given_up = !p.done && take(r, p.id) == &p;
    bool stopping = r->stop_deadline < deadline;
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&p.cond);
    if (given_up && stopping) {
        free(p.value);
        return brook_error_set(err, BROOK_ERR_STATE,
                               "template %s: the app stopped before the reply came", q->decl->name);
    }
    if (given_up) {
        atomic_fetch_add(&q->timeouts, 1);
        return brook_error_set(err, BROOK_ERR_TIMEOUT, "template %s: no reply on %s within %lld ms",
                               q->decl->name, d->topic, (long long)wait);
    }
    if (p.err)
        rc = brook_error_set(err, p.err, "template %s: the app stopped before the reply came",
                             q->decl->name);
    else if (reply)
        rc = decode_reply(q, &p, reply, err);
    free(p.value);
    return rc;
}

void brook_template_request_stats(const brook_template_t *tpl, brook_request_stats_t *out) {
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    const requester_t *q = tpl ? brook__template_requester(tpl) : NULL;
    if (!q)
        return;
    out->requests = atomic_load(&q->requests);
    out->replies = atomic_load(&q->replies);
    out->timeouts = atomic_load(&q->timeouts);
    out->late = atomic_load(&q->late);
    out->unmatched = atomic_load(&q->unmatched);
}
