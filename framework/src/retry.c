/*
 * Failure handling: blocking retries, retry topics and dead-letter topics.
 *
 * Blocking retry: the failed record's partition is paused and sought back to the record, so
 * the member keeps polling (and stays in the group) while the backoff runs; when it is due
 * the partition resumes and the record comes again, with its attempt number remembered here.
 *
 * Retry topics: a failed record is forwarded to <topic>-retry[-<delay>] with Spring's
 * retry_topic-* headers; the listener consumes its retry topics itself. A retry record that
 * is not due yet pauses its partition and seeks back to it (records behind it are due later
 * still), so nothing is handled early, the poll loop never sleeps, and the main topic keeps
 * flowing.
 *
 * Either way, exhausted or not-retryable failures go to the dead-letter topic with Spring's
 * kafka_dlt-* headers. A record's offset is stored only once it is handled or forwarded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

#define MAX_DELAYS 64
/* A forward that failed (broker down, say) is tried again after this long. */
#define FORWARD_RETRY_MS 1000
/* Spring's KafkaBackoffAwareMessageListenerAdapter.MAX_BACKOFF_MS: one day. */
#define MAX_BACKOFF_MS (24 * 3600 * 1000LL)

/* A paused partition and why: a blocking retry waiting for its backoff, or a retry-topic
 * record not yet due. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    int attempt;    /* blocking: the attempt the record will be delivered with */
    int64_t due_ms; /* wall clock */
    bool paused;
} held_t;

typedef struct brook__retry_state_s {
    held_t *held;
    size_t count, cap;
} retry_state_t;

/* ---- topic names ------------------------------------------------------------------------- */

/* Fills delays[] with the backoff before attempts 2, 3, ... (up to MAX_DELAYS of them) and
 * returns how many attempts follow the first (attempts - 1), which may be more than
 * MAX_DELAYS: see delay_at. */
static size_t delays_of(const brook_listener_t *l, int64_t *delays) {
    const brook_decl_retry_t *r = &l->decl->retry;
    if (!r->declared || r->attempts <= 1)
        return 0;
    return brook_decl_retry_delays(r, delays, MAX_DELAYS);
}

/* The backoff after failed attempt i + 1. Delays never shrink (multiplier >= 1) and stop at
 * max_delay_ms, so past the MAX_DELAYS computed ones the last one computed is either the cap
 * or still growing; in the second case it is carried on with decl.c's arithmetic. */
static int64_t delay_at(const brook_listener_t *l, const int64_t *delays, size_t i) {
    if (i < MAX_DELAYS)
        return delays[i];
    const brook_decl_retry_t *r = &l->decl->retry;
    double d = (double)r->delay_ms * pow(r->multiplier, (double)i);
    return d >= (double)r->max_delay_ms ? r->max_delay_ms : (int64_t)d;
}

/* One retry topic for every attempt (Spring's single topic for a fixed backoff). Delays never
 * shrink, so they are all equal when the last equals the first. */
static bool fixed_delay(const brook_listener_t *l, const int64_t *delays, size_t n) {
    return n == 0 || delay_at(l, delays, n - 1) == delays[0];
}

/* Past this many attempts the delays have reached max_delay_ms in any sane declaration; the
 * retry topics are those of the distinct delays up to here. */
#define MAX_RETRY_TOPICS 10000

static bool uses_retry_topics(const brook_listener_t *l) {
    return l->decl->retry.declared && l->decl->retry.mode == BROOK_RETRY_TOPICS &&
           l->decl->retry.attempts > 1;
}

static void retry_topic_name(char *out, size_t size, const char *source, int64_t delay,
                             bool fixed) {
    if (fixed)
        snprintf(out, size, "%s-retry", source);
    else
        snprintf(out, size, "%s-retry-%lld", source, (long long)delay);
}

static void dlt_name(const brook_listener_t *l, const char *source, char *out, size_t size) {
    if (l->decl->dlt.topic)
        snprintf(out, size, "%s", l->decl->dlt.topic);
    else
        snprintf(out, size, "%s-dlt", source);
}

/* A DLT gets no DLT of its own: a record a DLT handler fails on stays where it is. */
static bool is_dlt(const char *topic) {
    size_t n = strlen(topic);
    return n >= 4 && !strcmp(topic + n - 4, "-dlt");
}

void brook__retry_topics_foreach(const brook_listener_t *l,
                                 void (*fn)(const char *topic, const char *source,
                                            brook__topic_kind_t kind, void *opaque),
                                 void *opaque) {
    int64_t delays[MAX_DELAYS];
    size_t n = delays_of(l, delays);
    bool fixed = fixed_delay(l, delays, n);
    const brook_decl_retry_t *r = &l->decl->retry;
    char name[512];
    for (size_t t = 0; t < l->decl->topic_count; t++) {
        const char *source = l->decl->topics[t];
        if (uses_retry_topics(l))
            for (size_t i = 0; i < n && i < MAX_RETRY_TOPICS; i++) {
                int64_t delay = delay_at(l, delays, i);
                /* Consecutive equal delays share a topic: name each topic once. */
                if (i > 0 && delay == delay_at(l, delays, i - 1))
                    continue;
                retry_topic_name(name, sizeof(name), source, delay, fixed);
                fn(name, source, BROOK__TOPIC_RETRY, opaque);
                if (fixed || delay >= r->max_delay_ms)
                    break; /* every later attempt uses this topic */
            }
        if (l->decl->dlt.enabled && !is_dlt(source)) {
            dlt_name(l, source, name, sizeof(name));
            fn(name, source, BROOK__TOPIC_DLT, opaque);
        }
    }
}

static void add_to_subscription(const char *topic, const char *source, brook__topic_kind_t kind,
                                void *opaque) {
    rd_kafka_topic_partition_list_t *sub = opaque;
    if (kind != BROOK__TOPIC_RETRY)
        return; /* the DLT is not consumed by the listener itself */
    if (!rd_kafka_topic_partition_list_find(sub, topic, RD_KAFKA_PARTITION_UA))
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
}

void brook__retry_subscription(brook_listener_t *l, rd_kafka_topic_partition_list_t *sub) {
    if (uses_retry_topics(l))
        brook__retry_topics_foreach(l, add_to_subscription, sub);
}

/* The main topic a record belongs to: the declared topic it was read from, or whose retry
 * topic it was read from. The kafka_dlt-original-topic header is only a fallback (a pattern
 * listener): a record replayed onto the main topic from some DLT carries one that names
 * another service's topic. */
static void source_topic(const brook_ctx_t *ctx, char *out, size_t size) {
    const brook_decl_listener_t *d = ctx->member->listener->decl;
    const char *topic = ctx->record.topic;
    out[0] = 0;
    for (size_t t = 0; t < d->topic_count; t++) {
        size_t len = strlen(d->topics[t]);
        if (!strncmp(topic, d->topics[t], len) &&
            (topic[len] == 0 || !strncmp(topic + len, "-retry", 6))) {
            snprintf(out, size, "%s", d->topics[t]);
            /* The longest match wins: "a" and "a-retry-x" may both be declared. */
            if (topic[len] == 0)
                return;
        }
    }
    if (out[0])
        return;
    const void *v;
    size_t len;
    if (strstr(topic, "-retry") && brook_ctx_header(ctx, BROOK_HDR_DLT_TOPIC, &v, &len) && v &&
        len < size) {
        memcpy(out, v, len);
        out[len] = 0;
    } else {
        snprintf(out, size, "%s", topic);
    }
}

/* ---- Spring's header encodings -------------------------------------------------------------- */

static void put_be32(uint8_t *b, int32_t v) {
    uint32_t u = (uint32_t)v;
    b[0] = (uint8_t)(u >> 24), b[1] = (uint8_t)(u >> 16), b[2] = (uint8_t)(u >> 8),
    b[3] = (uint8_t)u;
}

static void put_be64(uint8_t *b, int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        b[i] = (uint8_t)u;
}

/* Java's BigInteger.toByteArray(): minimal big-endian two's complement. */
static size_t put_bigint(uint8_t *b, int64_t v) {
    uint8_t full[8];
    put_be64(full, v);
    size_t skip = 0;
    while (skip < 7 && ((full[skip] == 0x00 && !(full[skip + 1] & 0x80)) ||
                        (full[skip] == 0xff && (full[skip + 1] & 0x80))))
        skip++;
    memcpy(b, full + skip, 8 - skip);
    return 8 - skip;
}

static int64_t header_bigint(const void *value, size_t len) {
    const uint8_t *b = value;
    if (!b || len == 0 || len > 8)
        return -1;
    int64_t v = (b[0] & 0x80) ? -1 : 0;
    for (size_t i = 0; i < len; i++)
        v = (int64_t)(((uint64_t)v << 8) | b[i]);
    return v;
}

static int header_attempts(const void *value, size_t len) {
    const uint8_t *b = value;
    if (b && len == 4)
        return (int)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
                     b[3]);
    if (b && len == 1)
        return b[0];
    return 0;
}

/* The original record's headers, minus what a forward sets anew. kafka_dlt-original-* and
 * retry_topic-original-timestamp stay when present: they describe the first record. */
static rd_kafka_headers_t *forward_headers(const brook_ctx_t *ctx) {
    brook__ctx_headers((brook_ctx_t *)ctx);
    const brook_record_t *r = &ctx->record;
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->header_count + 12);
    for (size_t i = 0; i < r->header_count; i++) {
        const char *n = r->headers[i].name;
        if (!strncmp(n, "kafka_dlt-exception-", 20) || !strcmp(n, BROOK_HDR_ATTEMPTS) ||
            !strcmp(n, BROOK_HDR_BACKOFF_TS))
            continue;
        rd_kafka_header_add(h, n, -1, r->headers[i].value,
                            r->headers[i].value ? (ssize_t)r->headers[i].len : 0);
    }
    const char *fqcn = ctx->failure_name[0] ? ctx->failure_name : "brook.HandlerFailure";
    rd_kafka_header_add(h, BROOK_HDR_DLT_FQCN, -1, fqcn, -1);
    rd_kafka_header_add(h, BROOK_HDR_DLT_MESSAGE, -1, ctx->failure_message, -1);
    /* Spring (DeadLetterRecordManager.maybeAddOriginalHeaders, appendOriginalHeaders false as
     * its retry topics set it) adds each original-* header only when the record has none. */
    uint8_t b[8];
    const brook_listener_t *l = ctx->member->listener;
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_TOPIC, NULL, NULL))
        rd_kafka_header_add(h, BROOK_HDR_DLT_TOPIC, -1, r->topic, -1);
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_PARTITION, NULL, NULL)) {
        put_be32(b, r->partition);
        rd_kafka_header_add(h, BROOK_HDR_DLT_PARTITION, -1, b, 4);
    }
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_OFFSET, NULL, NULL)) {
        put_be64(b, r->offset);
        rd_kafka_header_add(h, BROOK_HDR_DLT_OFFSET, -1, b, 8);
    }
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_TIMESTAMP, NULL, NULL)) {
        put_be64(b, r->timestamp);
        rd_kafka_header_add(h, BROOK_HDR_DLT_TIMESTAMP, -1, b, 8);
    }
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_TIMESTAMP_TYPE, NULL, NULL))
        /* Java's TimestampType.toString(). */
        rd_kafka_header_add(h, BROOK_HDR_DLT_TIMESTAMP_TYPE, -1,
                            r->timestamp_type == BROOK_TS_LOG_APPEND_TIME ? "LogAppendTime"
                            : r->timestamp_type == BROOK_TS_CREATE_TIME   ? "CreateTime"
                                                                          : "NoTimestampType",
                            -1);
    if (!brook_ctx_header(ctx, BROOK_HDR_DLT_GROUP, NULL, NULL))
        rd_kafka_header_add(h, BROOK_HDR_DLT_GROUP, -1, l->decl->group, -1);
    return h;
}

/* ---- held partitions ------------------------------------------------------------------------- */

int brook__retry_member_init(brook__member_t *m, brook_error_t *err) {
    m->retry = calloc(1, sizeof(*m->retry));
    if (!m->retry)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    return 0;
}

static void held_remove(retry_state_t *s, size_t i) {
    free(s->held[i].topic);
    s->held[i] = s->held[--s->count];
}

void brook__retry_member_free(brook__member_t *m) {
    if (!m->retry)
        return;
    brook__retry_drop(m);
    free(m->retry->held);
    free(m->retry);
    m->retry = NULL;
}

void brook__retry_drop(brook__member_t *m) {
    if (!m->retry)
        return;
    while (m->retry->count)
        held_remove(m->retry, 0);
}

static held_t *held_find(retry_state_t *s, const char *topic, int32_t partition) {
    for (size_t i = 0; i < s->count; i++)
        if (s->held[i].partition == partition && !strcmp(s->held[i].topic, topic))
            return &s->held[i];
    return NULL;
}

static void pause_or_resume(brook__member_t *m, const char *topic, int32_t partition,
                            int64_t seek_to, bool pause) {
    rd_kafka_topic_partition_list_t *p = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(p, topic, partition);
    if (pause) {
        rd_kafka_pause_partitions(m->rk, p);
        /* Seeking makes librdkafka drop what it already fetched past the record, and
         * fetch from the record again on resume. */
        tp->offset = seek_to;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, p, 0);
        if (e) {
            brook_log(BROOK_LOG_ERROR, "retry", "seek %s [%d] to %lld: %s", topic, (int)partition,
                      (long long)seek_to, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_resume_partitions(m->rk, p);
    }
    rd_kafka_topic_partition_list_destroy(p);
}

/* Pauses r's partition until due_ms, to deliver r again then with `attempt`. */
static void hold(brook__member_t *m, const brook_record_t *r, int attempt, int64_t due_ms) {
    retry_state_t *s = m->retry;
    held_t *h = held_find(s, r->topic, r->partition);
    if (!h) {
        if (s->count == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            held_t *held = realloc(s->held, cap * sizeof(*held));
            if (!held) {
                brook_log(BROOK_LOG_ERROR, "retry", "out of memory holding %s [%d]", r->topic,
                          (int)r->partition);
                return;
            }
            s->held = held;
            s->cap = cap;
        }
        h = &s->held[s->count];
        if (!(h->topic = strdup(r->topic)))
            return;
        s->count++;
        h->partition = r->partition;
    }
    h->offset = r->offset;
    h->attempt = attempt;
    h->due_ms = due_ms;
    h->paused = true;
    pause_or_resume(m, r->topic, r->partition, r->offset, true);
}

void brook__retry_tick(brook__member_t *m) {
    retry_state_t *s = m->retry;
    if (!s->count)
        return;
    int64_t now = brook__wall_ms();
    for (size_t i = 0; i < s->count; i++) {
        held_t *h = &s->held[i];
        if (h->paused && now >= h->due_ms) {
            h->paused = false;
            pause_or_resume(m, h->topic, h->partition, 0, false);
        }
    }
}

bool brook__retry_intercept(brook__member_t *m, rd_kafka_message_t *msg) {
    if (!uses_retry_topics(m->listener))
        return false;
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(msg, &hdrs) ||
        rd_kafka_header_get_last(hdrs, BROOK_HDR_BACKOFF_TS, &v, &len))
        return false;
    int64_t due = header_bigint(v, len), now = brook__wall_ms();
    /* As Spring's KafkaBackoffAwareMessageListenerAdapter: a due time more than a day ahead
     * (beyond what this listener could have set) is taken as bogus and ignored, so a bad
     * header cannot hold a partition for ever. */
    int64_t horizon = m->listener->decl->retry.max_delay_ms;
    if (horizon < MAX_BACKOFF_MS)
        horizon = MAX_BACKOFF_MS;
    if (due <= now || due - now > horizon)
        return false;
    brook_record_t r = {
        .topic = rd_kafka_topic_name(msg->rkt), .partition = msg->partition, .offset = msg->offset};
    hold(m, &r, 0, due);
    rd_kafka_message_destroy(msg);
    return true;
}

int brook__retry_attempt_of(brook__member_t *m, const brook_record_t *r) {
    if (uses_retry_topics(m->listener)) {
        brook__ctx_headers(&m->ctx);
        for (size_t i = 0; i < r->header_count; i++)
            if (!strcmp(r->headers[i].name, BROOK_HDR_ATTEMPTS)) {
                int a = header_attempts(r->headers[i].value, r->headers[i].len);
                return a > 0 ? a : 1;
            }
        return 1;
    }
    held_t *h = held_find(m->retry, r->topic, r->partition);
    return h && h->offset == r->offset && h->attempt > 0 ? h->attempt : 1;
}

static void forget(brook__member_t *m, const brook_record_t *r) {
    retry_state_t *s = m->retry;
    for (size_t i = 0; i < s->count; i++)
        if (s->held[i].partition == r->partition && !strcmp(s->held[i].topic, r->topic) &&
            !s->held[i].paused) {
            held_remove(s, i);
            return;
        }
}

void brook__retry_succeeded(brook__member_t *m, const brook_record_t *r) {
    if (m->retry->count)
        forget(m, r);
}

void brook__retry_assigned(brook__member_t *m, rd_kafka_topic_partition_list_t *parts) {}

void brook__retry_revoked(brook__member_t *m, rd_kafka_topic_partition_list_t *parts) {
    retry_state_t *s = m->retry;
    for (size_t i = 0; i < s->count;) {
        if (rd_kafka_topic_partition_list_find(parts, s->held[i].topic, s->held[i].partition)) {
            /* Whoever gets the partition next starts from its committed offset, unpaused;
             * so does this member if it gets it back. */
            if (s->held[i].paused)
                pause_or_resume(m, s->held[i].topic, s->held[i].partition, 0, false);
            held_remove(s, i);
        } else {
            i++;
        }
    }
}

/* ---- failures
 * ------------------------------------------------------------------------------------ */

static bool forward(brook__member_t *m, const char *topic, rd_kafka_headers_t *h) {
    brook_ctx_t *ctx = &m->ctx;
    const brook_record_t *r = &ctx->record;
    int32_t partition = r->partition;
    /* Retry and DLT topics have the source topic's partitions, so a record keeps its
     * partition; a DLT with fewer falls back to the partitioner. */
    int err = brook__forward_sync(m->listener->app, topic, partition, r->key, r->key_len, r->value,
                                  r->value_len, rd_kafka_headers_copy(h));
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        err = brook__forward_sync(m->listener->app, topic, RD_KAFKA_PARTITION_UA, r->key,
                                  r->key_len, r->value, r->value_len, rd_kafka_headers_copy(h));
    rd_kafka_headers_destroy(h);
    if (err) {
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: cannot forward %s [%d] @%lld to %s: %s; trying again in %d ms",
                  m->listener->decl->id, r->topic, (int)r->partition, (long long)r->offset, topic,
                  rd_kafka_err2str(err), FORWARD_RETRY_MS);
        hold(m, r, ctx->attempt, brook__add_ms(brook__wall_ms(), FORWARD_RETRY_MS));
        return false;
    }
    forget(m, r);
    return true;
}

bool brook__retry_failed(brook__member_t *m, rd_kafka_message_t *msg, brook_result_t res) {
    brook_listener_t *l = m->listener;
    const brook_decl_listener_t *d = l->decl;
    brook_ctx_t *ctx = &m->ctx;
    const brook_record_t *r = &ctx->record;
    int64_t delays[MAX_DELAYS];
    size_t n = delays_of(l, delays);

    for (size_t i = 0; i < d->retry.not_retryable_count && res == BROOK_RETRY; i++)
        if (!strcmp(d->retry.not_retryable[i], ctx->failure_name))
            res = BROOK_FAIL;

    if (res == BROOK_RETRY && ctx->attempt >= 1 && (size_t)ctx->attempt <= n) {
        int64_t delay = delay_at(l, delays, (size_t)ctx->attempt - 1);
        atomic_fetch_add(&l->retried, 1);
        if (d->retry.mode == BROOK_RETRY_BLOCKING) {
            brook_log(BROOK_LOG_DEBUG, "retry",
                      "%s: %s [%d] @%lld attempt %d failed (%s), again in %lld ms", d->id, r->topic,
                      (int)r->partition, (long long)r->offset, ctx->attempt, ctx->failure_name,
                      (long long)delay);
            hold(m, r, ctx->attempt + 1, brook__add_ms(brook__wall_ms(), delay));
            return false;
        }
        char source[512], topic[600];
        source_topic(ctx, source, sizeof(source));
        retry_topic_name(topic, sizeof(topic), source, delay, fixed_delay(l, delays, n));
        rd_kafka_headers_t *h = forward_headers(ctx);
        uint8_t b[8];
        put_be32(b, ctx->attempt + 1);
        rd_kafka_header_add(h, BROOK_HDR_ATTEMPTS, -1, b, 4);
        size_t bl = put_bigint(b, brook__add_ms(brook__wall_ms(), delay));
        rd_kafka_header_add(h, BROOK_HDR_BACKOFF_TS, -1, b, (ssize_t)bl);
        if (!brook_ctx_header(ctx, BROOK_HDR_ORIGINAL_TS, NULL, NULL)) {
            bl = put_bigint(b, r->timestamp);
            rd_kafka_header_add(h, BROOK_HDR_ORIGINAL_TS, -1, b, (ssize_t)bl);
        }
        return forward(m, topic, h);
    }

    char source[512], topic[600];
    source_topic(ctx, source, sizeof(source));
    if (!d->dlt.enabled || is_dlt(source)) {
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: giving up on %s [%d] @%lld after %d attempt(s): %s: %s (%s)", d->id,
                  r->topic, (int)r->partition, (long long)r->offset, ctx->attempt,
                  ctx->failure_name, ctx->failure_message,
                  d->dlt.enabled ? "a DLT's record stays in the DLT" : "no DLT declared");
        forget(m, r);
        return true;
    }
    dlt_name(l, source, topic, sizeof(topic));
    brook_log(BROOK_LOG_WARN, "retry", "%s: %s [%d] @%lld to %s after %d attempt(s): %s: %s", d->id,
              r->topic, (int)r->partition, (long long)r->offset, topic, ctx->attempt,
              ctx->failure_name[0] ? ctx->failure_name : "brook.HandlerFailure",
              ctx->failure_message);
    if (!forward(m, topic, forward_headers(ctx)))
        return false;
    atomic_fetch_add(&l->dead_lettered, 1);
    (void)msg;
    return true;
}
