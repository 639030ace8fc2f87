/* Spring Kafka's header encodings (recover/headers.h). */
#include <stdlib.h>
#include <string.h>

#include "recover/headers.h"

/* The last of that name, as Kafka's Headers.lastHeader() and Spring read them: a forward
 * that appends a newer value of a header it copied must be read by its newer value. */
const brook_header_t *brook__record_header(const brook_record_t *r, const char *name) {
    for (size_t i = r->header_count; i-- > 0;)
        if (!strcmp(r->headers[i].name, name))
            return &r->headers[i];
    return NULL;
}

void brook__put_be32(uint8_t *b, int32_t v) {
    uint32_t u = (uint32_t)v;
    b[0] = (uint8_t)(u >> 24), b[1] = (uint8_t)(u >> 16), b[2] = (uint8_t)(u >> 8),
    b[3] = (uint8_t)u;
}

void brook__put_be64(uint8_t *b, int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        b[i] = (uint8_t)u;
}

/* Java's BigInteger.toByteArray(): minimal big-endian two's complement. */
size_t brook__put_bigint(uint8_t *b, int64_t v) {
    uint8_t full[8];
    brook__put_be64(full, v);
    size_t skip = 0;
    while (skip < 7 && ((full[skip] == 0x00 && !(full[skip + 1] & 0x80)) ||
                        (full[skip] == 0xff && (full[skip + 1] & 0x80))))
        skip++;
    memcpy(b, full + skip, 8 - skip);
    return 8 - skip;
}

int64_t brook__header_bigint(const void *value, size_t len) {
    const uint8_t *b = value;
    if (!b || len == 0 || len > 8)
        return -1;
    int64_t v = (b[0] & 0x80) ? -1 : 0;
    for (size_t i = 0; i < len; i++)
        v = (int64_t)(((uint64_t)v << 8) | b[i]);
    return v;
}

int brook__header_attempts(const void *value, size_t len) {
    const uint8_t *b = value;
    if (b && len == 4)
        return (int)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
                     b[3]);
    if (b && len == 1)
        return b[0];
    return 0;
}

/* The names a forward writes the failure under. Spring's retry topics
 * (DeadLetterPublishingRecovererFactory, for their retry records and their DLT alike) use
 * kafka_original-* and kafka_exception-*; a plain DeadLetterPublishingRecoverer kafka_dlt-*.
 * The consumer group header is kafka_dlt-original-consumer-group in both. */
typedef struct {
    const char *topic, *partition, *offset, *timestamp, *timestamp_type;
    const char *exception_prefix, *fqcn, *cause_fqcn, *message, *stacktrace;
} header_names_t;

static const header_names_t dlt_names = {BROOK_HDR_DLT_TOPIC,          BROOK_HDR_DLT_PARTITION,
                                         BROOK_HDR_DLT_OFFSET,         BROOK_HDR_DLT_TIMESTAMP,
                                         BROOK_HDR_DLT_TIMESTAMP_TYPE, "kafka_dlt-exception-",
                                         BROOK_HDR_DLT_FQCN,           BROOK_HDR_DLT_CAUSE_FQCN,
                                         BROOK_HDR_DLT_MESSAGE,        BROOK_HDR_DLT_STACKTRACE};
static const header_names_t retry_names = {
    BROOK_HDR_ORIG_TOPIC,     BROOK_HDR_ORIG_PARTITION,      BROOK_HDR_ORIG_OFFSET,
    BROOK_HDR_ORIG_TIMESTAMP, BROOK_HDR_ORIG_TIMESTAMP_TYPE, "kafka_exception-",
    BROOK_HDR_EX_FQCN,        BROOK_HDR_EX_CAUSE_FQCN,       BROOK_HDR_EX_MESSAGE,
    BROOK_HDR_EX_STACKTRACE};

/* Adds `name` unless the record has one and `append` is false (Spring's maybeAddHeader with
 * appendOriginalHeaders). */
static bool want_original(const brook_record_t *r, const char *name, bool append) {
    return append || !brook__record_header(r, name);
}

/* As Spring's DeadLetterPublishingRecoverer: every header of the record, minus the exception
 * headers of the names it writes (stripPreviousExceptionHeaders), then the failure's, then
 * the original-* coordinates: appended by a plain DLT forward (appendOriginalHeaders), added
 * only when absent by a retry-topic forward (so they keep naming the main topic's record). */
rd_kafka_headers_t *brook__forward_headers(const brook__failure_t *f,
                                           const brook_decl_listener_t *d, bool retry_topics) {
    const header_names_t *names = retry_topics ? &retry_names : &dlt_names;
    const bool append = !retry_topics;
    const brook_record_t *r = f->record;
    size_t prefix = strlen(names->exception_prefix);
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->header_count + 16);
    for (size_t i = 0; i < r->header_count; i++) {
        const char *n = r->headers[i].name;
        if (!strncmp(n, names->exception_prefix, prefix))
            continue;
        rd_kafka_header_add(h, n, -1, r->headers[i].value,
                            r->headers[i].value ? (ssize_t)r->headers[i].len : 0);
    }
    const char *fqcn = f->name[0] ? f->name : "brook.HandlerFailure";
    rd_kafka_header_add(h, names->fqcn, -1, fqcn, -1);
    rd_kafka_header_add(h, names->message, -1, f->message, -1);
    /* Spring writes the Java stack trace; Brook's says where the failure was, in its shape. */
    char trace[1024];
    int n = snprintf(trace, sizeof(trace), "%s: %s\n\tat %s(listener %s)", fqcn, f->message,
                     d->handler ? d->handler : "?", d->id);
    rd_kafka_header_add(h, names->stacktrace, -1, trace,
                        n < (int)sizeof(trace) ? n : (int)sizeof(trace) - 1);
    uint8_t b[8];
    if (want_original(r, names->topic, append))
        rd_kafka_header_add(h, names->topic, -1, r->topic, -1);
    if (want_original(r, names->partition, append)) {
        brook__put_be32(b, r->partition);
        rd_kafka_header_add(h, names->partition, -1, b, 4);
    }
    if (want_original(r, names->offset, append)) {
        brook__put_be64(b, r->offset);
        rd_kafka_header_add(h, names->offset, -1, b, 8);
    }
    if (want_original(r, names->timestamp, append)) {
        brook__put_be64(b, r->timestamp);
        rd_kafka_header_add(h, names->timestamp, -1, b, 8);
    }
    if (want_original(r, names->timestamp_type, append))
        /* Java's TimestampType.toString(). */
        rd_kafka_header_add(h, names->timestamp_type, -1,
                            r->timestamp_type == BROOK_TS_LOG_APPEND_TIME ? "LogAppendTime"
                            : r->timestamp_type == BROOK_TS_CREATE_TIME   ? "CreateTime"
                                                                          : "NoTimestampType",
                            -1);
    if (want_original(r, BROOK_HDR_DLT_GROUP, append))
        rd_kafka_header_add(h, BROOK_HDR_DLT_GROUP, -1, d->group, -1);
    return h;
}

/* A big-endian integer header of exactly n bytes (Spring's ByteBuffer.putInt/putLong), or -1. */
static int64_t header_be(const brook_header_t *h, size_t n) {
    if (!h || !h->value || h->len != n)
        return -1;
    const uint8_t *b = h->value;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return n == 4 ? (int32_t)(uint32_t)v : (int64_t)v;
}

/* The later in r's header list of the last `a` and the last `b`: what the most recent
 * forward wrote, whichever of Spring's two naming schemes it used. */
static const brook_header_t *latest(const brook_record_t *r, const char *a, const char *b) {
    const brook_header_t *ha = brook__record_header(r, a), *hb = brook__record_header(r, b);
    return !ha ? hb : !hb ? ha : ha > hb ? ha : hb;
}

static int header_text(const brook_header_t *h, brook_text_t *out) {
    out->data = h && h->value ? h->value : NULL;
    out->len = out->data ? h->len : 0;
    return out->data != NULL;
}

static int header_int(const brook_header_t *h, size_t n, int64_t *out) {
    *out = header_be(h, n);
    return h != NULL;
}

int brook_record_failure_info(const brook_record_t *r, brook_failure_info_t *out) {
    memset(out, 0, sizeof(*out));
    if (!r)
        return 0;
    const header_names_t *a = &dlt_names, *b = &retry_names;
    int64_t partition;
    int n = header_text(latest(r, a->topic, b->topic), &out->original_topic) +
            header_int(latest(r, a->partition, b->partition), 4, &partition) +
            header_int(latest(r, a->offset, b->offset), 8, &out->original_offset) +
            header_int(latest(r, a->timestamp, b->timestamp), 8, &out->original_timestamp) +
            header_text(latest(r, a->timestamp_type, b->timestamp_type),
                        &out->original_timestamp_type) +
            header_text(brook__record_header(r, BROOK_HDR_DLT_GROUP), &out->original_group) +
            header_text(latest(r, a->fqcn, b->fqcn), &out->exception_fqcn) +
            header_text(latest(r, a->cause_fqcn, b->cause_fqcn), &out->exception_cause_fqcn) +
            header_text(latest(r, a->message, b->message), &out->exception_message) +
            header_text(latest(r, a->stacktrace, b->stacktrace), &out->exception_stacktrace);
    out->original_partition = (int32_t)partition;
    const brook_header_t *h = brook__record_header(r, BROOK_HDR_ATTEMPTS);
    out->attempts = h ? brook__header_attempts(h->value, h->len) : 0;
    h = brook__record_header(r, BROOK_HDR_BACKOFF_TS);
    out->backoff_timestamp = h ? brook__header_bigint(h->value, h->len) : -1;
    n += h != NULL;
    h = brook__record_header(r, BROOK_HDR_ORIGINAL_TS);
    out->first_timestamp = h ? brook__header_bigint(h->value, h->len) : -1;
    n += h != NULL;
    return n + (out->attempts > 0);
}
