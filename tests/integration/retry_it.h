/* Shared by the failure-handling tests (retry*.c): Spring's header encodings decoded
 * independently of retry.c, a wall clock in the unit retry.c uses for due times, and a log of
 * what every handler call saw, filled on poll threads and checked on the test's thread. */
#ifndef BROOK_RETRY_IT_H
#define BROOK_RETRY_IT_H

#include <time.h>

#include "itest.h"

/* Epoch milliseconds: backoff timestamps are wall-clock times. */
static inline int64_t rt_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Java's ByteBuffer.getInt / getLong: big-endian. */
static inline int32_t rt_be32(const void *p) {
    const uint8_t *b = p;
    return (int32_t)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
                     b[3]);
}

static inline int64_t rt_be64(const void *p) {
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return (int64_t)v;
}

/* Java's new BigInteger(bytes).longValue() for 1..8 bytes; -1 with *ok false otherwise. Also
 * checks the form is minimal, as BigInteger.toByteArray() writes it. */
static inline int64_t rt_bigint(const void *p, size_t len, bool *ok) {
    const uint8_t *b = p;
    *ok = b && len >= 1 && len <= 8;
    if (!*ok)
        return -1;
    if (len > 1 && ((b[0] == 0x00 && !(b[1] & 0x80)) || (b[0] == 0xff && (b[1] & 0x80))))
        *ok = false; /* not minimal */
    int64_t v = (b[0] & 0x80) ? -1 : 0;
    for (size_t i = 0; i < len; i++)
        v = (int64_t)(((uint64_t)v << 8) | b[i]);
    return v;
}

/* One handler call. */
typedef struct {
    char value[64];
    char topic[96];
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    int attempt;            /* brook_ctx_attempt */
    int64_t wall_ms;        /* when the handler started */
    int hdr_attempts;       /* retry_topic-attempts, -1 absent, -2 not 4 bytes */
    int64_t hdr_due;        /* retry_topic-backoff-timestamp, -1 absent, -2 malformed */
    int64_t hdr_orig;       /* retry_topic-original-timestamp, likewise */
    char orig_topic[96];    /* kafka_original-topic (Spring's retry topics), "" absent */
    int32_t orig_partition; /* kafka_original-partition, -1 absent */
    bool info_agrees;       /* brook_record_failure_info read the same as above */
    int result;
} rt_call_t;

#define RT_MAX_CALLS 4096

typedef struct {
    pthread_mutex_t lock;
    int n;
    rt_call_t calls[RT_MAX_CALLS];
} rt_log_t;

static inline void rt_log_init(rt_log_t *g) {
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
}

static inline void rt_log_free(rt_log_t *g) {
    pthread_mutex_destroy(&g->lock);
}

/* Logs a handler call; returns how many earlier calls had the same value. Runs on a poll
 * thread. */
static inline int rt_log_call(rt_log_t *g, brook_ctx_t *ctx, const char *value) {
    rt_call_t c;
    memset(&c, 0, sizeof(c));
    c.wall_ms = rt_wall_ms();
    const brook_record_t *r = brook_ctx_record(ctx);
    snprintf(c.value, sizeof(c.value), "%s", value ? value : "(null)");
    snprintf(c.topic, sizeof(c.topic), "%s", r->topic);
    c.partition = r->partition;
    c.offset = r->offset;
    c.timestamp = r->timestamp;
    c.attempt = brook_ctx_attempt(ctx);
    const void *v;
    size_t len;
    bool ok;
    c.hdr_attempts = -1;
    if (brook_ctx_header(ctx, "retry_topic-attempts", &v, &len))
        c.hdr_attempts = len == 4 ? rt_be32(v) : -2;
    c.hdr_due = -1;
    if (brook_ctx_header(ctx, "retry_topic-backoff-timestamp", &v, &len)) {
        c.hdr_due = rt_bigint(v, len, &ok);
        if (!ok)
            c.hdr_due = -2;
    }
    c.hdr_orig = -1;
    if (brook_ctx_header(ctx, "retry_topic-original-timestamp", &v, &len)) {
        c.hdr_orig = rt_bigint(v, len, &ok);
        if (!ok)
            c.hdr_orig = -2;
    }
    if (brook_ctx_header(ctx, "kafka_original-topic", &v, &len) && v &&
        len < sizeof(c.orig_topic)) {
        memcpy(c.orig_topic, v, len);
        c.orig_topic[len] = 0;
    }
    c.orig_partition = -1;
    if (brook_ctx_header(ctx, "kafka_original-partition", &v, &len) && len == 4)
        c.orig_partition = rt_be32(v);
    brook_failure_info_t info;
    brook_record_failure_info(r, &info);
    c.info_agrees = info.attempts == (c.hdr_attempts < 0 ? 0 : c.hdr_attempts) &&
                    info.backoff_timestamp == c.hdr_due && info.first_timestamp == c.hdr_orig &&
                    info.original_partition == c.orig_partition &&
                    info.original_topic.len == strlen(c.orig_topic) &&
                    (!info.original_topic.len ||
                     !memcmp(info.original_topic.data, c.orig_topic, info.original_topic.len));
    pthread_mutex_lock(&g->lock);
    int before = 0;
    for (int i = 0; i < g->n; i++)
        before += !strcmp(g->calls[i].value, c.value);
    if (g->n < RT_MAX_CALLS)
        g->calls[g->n++] = c;
    pthread_mutex_unlock(&g->lock);
    return before;
}

/* Copies the calls made with `value` (in call order) into out[max]; returns how many. */
static inline int rt_calls_of(rt_log_t *g, const char *value, rt_call_t *out, int max) {
    int k = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->calls[i].value, value)) {
            if (k < max)
                out[k] = g->calls[i];
            k++;
        }
    pthread_mutex_unlock(&g->lock);
    return k;
}

static inline int rt_count(rt_log_t *g, const char *value) {
    return rt_calls_of(g, value, NULL, 0);
}

/* Asserts that consumed record r carries header `name` with exactly these bytes. */
static inline void rt_assert_header(const brook_test_record_t *r, const char *name,
                                    const void *value, size_t len) {
    const brook_header_t *h = brook_test_record_header(r, name);
    if (!h)
        fail_msg("%s [%d] @%lld: no header %s", r->topic, (int)r->partition, (long long)r->offset,
                 name);
    if (h->len != len || (len && memcmp(h->value, value, len)))
        fail_msg("%s [%d] @%lld: header %s has %zu bytes, want %zu (%.*s)", r->topic,
                 (int)r->partition, (long long)r->offset, name, h->len, len, (int)len,
                 (const char *)value);
}

static inline void rt_assert_header_str(const brook_test_record_t *r, const char *name,
                                        const char *text) {
    rt_assert_header(r, name, text, strlen(text));
}

/* Finds a record of `records` whose value is `value`, or NULL. */
static inline const brook_test_record_t *rt_find(const brook_test_record_t *records, size_t n,
                                                 const char *value) {
    for (size_t i = 0; i < n; i++)
        if (records[i].value && records[i].value_len == strlen(value) &&
            !memcmp(records[i].value, value, records[i].value_len))
            return &records[i];
    return NULL;
}

/* Every kafka_dlt-* header of a dead-lettered record, checked against the original record
 * `orig` (as read from its topic) with Spring's encodings. */
/* The DLT record of a listener with retry topics names the facts as Spring's retry topics do
 * (kafka_original-*, kafka_exception-*); a plain DLT forward kafka_dlt-*. */
static inline void rt_assert_dlt_headers(const brook_test_record_t *dlt,
                                         const brook_test_record_t *orig, const char *fqcn,
                                         const char *message, const char *group,
                                         bool retry_topics) {
    uint8_t b4[4], b8[8];
    const char *ex = retry_topics ? "kafka_exception" : "kafka_dlt-exception";
    const char *og = retry_topics ? "kafka_original" : "kafka_dlt-original";
    char name[64];
#define RT_NAME(prefix, suffix) (snprintf(name, sizeof(name), "%s-%s", prefix, suffix), name)
    rt_assert_header_str(dlt, RT_NAME(ex, "fqcn"), fqcn);
    if (message)
        rt_assert_header_str(dlt, RT_NAME(ex, "message"), message);
    else
        assert_non_null(brook_test_record_header(dlt, RT_NAME(ex, "message")));
    rt_assert_header_str(dlt, RT_NAME(og, "topic"), orig->topic);
    uint32_t p = (uint32_t)orig->partition;
    b4[0] = (uint8_t)(p >> 24), b4[1] = (uint8_t)(p >> 16), b4[2] = (uint8_t)(p >> 8),
    b4[3] = (uint8_t)p;
    rt_assert_header(dlt, RT_NAME(og, "partition"), b4, 4);
    uint64_t o = (uint64_t)orig->offset;
    for (int i = 7; i >= 0; i--, o >>= 8)
        b8[i] = (uint8_t)o;
    rt_assert_header(dlt, RT_NAME(og, "offset"), b8, 8);
    uint64_t t = (uint64_t)orig->timestamp;
    for (int i = 7; i >= 0; i--, t >>= 8)
        b8[i] = (uint8_t)t;
    rt_assert_header(dlt, RT_NAME(og, "timestamp"), b8, 8);
    rt_assert_header_str(dlt, RT_NAME(og, "timestamp-type"), "CreateTime");
#undef RT_NAME
    rt_assert_header_str(dlt, "kafka_dlt-original-consumer-group", group);
    /* Key and value bytes as they were, on the original's partition. */
    assert_int_equal(dlt->partition, orig->partition);
    assert_int_equal(dlt->key_len, orig->key_len);
    if (orig->key_len)
        assert_memory_equal(dlt->key, orig->key, orig->key_len);
    assert_int_equal(dlt->value_len, orig->value_len);
    if (orig->value_len)
        assert_memory_equal(dlt->value, orig->value, orig->value_len);
    /* Every original header, in order, before what the DLT adds. */
    assert_true(dlt->header_count >= orig->header_count);
    for (size_t i = 0; i < orig->header_count; i++) {
        assert_string_equal(dlt->headers[i].name, orig->headers[i].name);
        assert_int_equal(dlt->headers[i].len, orig->headers[i].len);
        if (orig->headers[i].len)
            assert_memory_equal(dlt->headers[i].value, orig->headers[i].value,
                                orig->headers[i].len);
    }
}

#endif
