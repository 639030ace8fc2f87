/* libFuzzer target for Spring Kafka's header encodings as Brook reads and writes them
 * (framework/src/recover/headers.c): brook__header_bigint, brook__header_attempts,
 * brook_record_failure_info on a record whose headers come from the input, and
 * brook__forward_headers (the headers of a retry or DLT forward of that record).
 *
 * Input: the record's headers, one after another:
 *   byte k       k < 0x80: the name is known name k % N (Spring's and Brook's headers);
 *                else the name is the next (k & 0x7f) bytes (a NUL in them ends it)
 *   byte n       n == 0xff: a null value; else the value is the next n bytes (fewer at the end)
 *
 * Properties: nothing crashes, reads out of bounds or leaks; the integer headers read as
 * Spring writes them (big-endian ints; BigInteger.toByteArray(): brook__header_bigint agrees
 * with a reference and brook__put_bigint writes it back minimal); brook_record_failure_info
 * reports the last value of each header (of either of Spring's names, the later one) as a
 * reference reading finds it; a forward's headers name the record and the failure whatever
 * headers the record came with (a DLT forward always; a retry forward keeps the
 * original-* coordinates a record already has, as Spring does).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recover/headers.h"

static const char *const known[] = {
    BROOK_HDR_ATTEMPTS,
    BROOK_HDR_BACKOFF_TS,
    BROOK_HDR_ORIGINAL_TS,
    BROOK_HDR_DLT_FQCN,
    BROOK_HDR_DLT_MESSAGE,
    BROOK_HDR_DLT_CAUSE_FQCN,
    BROOK_HDR_DLT_STACKTRACE,
    BROOK_HDR_DLT_TOPIC,
    BROOK_HDR_DLT_PARTITION,
    BROOK_HDR_DLT_OFFSET,
    BROOK_HDR_DLT_TIMESTAMP,
    BROOK_HDR_DLT_TIMESTAMP_TYPE,
    BROOK_HDR_DLT_GROUP,
    BROOK_HDR_ORIG_TOPIC,
    BROOK_HDR_ORIG_PARTITION,
    BROOK_HDR_ORIG_OFFSET,
    BROOK_HDR_ORIG_TIMESTAMP,
    BROOK_HDR_ORIG_TIMESTAMP_TYPE,
    BROOK_HDR_EX_FQCN,
    BROOK_HDR_EX_CAUSE_FQCN,
    BROOK_HDR_EX_MESSAGE,
    BROOK_HDR_EX_STACKTRACE,
    "kafka_dlt-exception-other",
    "kafka_exception-other",
    "traceparent",
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

/* Java's new BigInteger(bytes).longValue() for 1..8 bytes, by arithmetic. */
static int64_t ref_bigint(const uint8_t *b, size_t n) {
    if (!b || n == 0 || n > 8)
        return -1;
    __int128 v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 256 + b[i];
    if (b[0] & 0x80)
        v -= (__int128)1 << (8 * n);
    return (int64_t)v;
}

static void check_ints(const brook_header_t *h) {
    int64_t v = brook__header_bigint(h->value, h->len);
    if (v != ref_bigint(h->value, h->len))
        abort();
    if (h->value && h->len >= 1 && h->len <= 8) {
        uint8_t min[8];
        size_t n = brook__put_bigint(min, v);
        if (n < 1 || n > h->len || brook__header_bigint(min, n) != v)
            abort(); /* minimal, and the same number */
        if (n > 1 && ((min[0] == 0 && !(min[1] & 0x80)) || (min[0] == 0xff && (min[1] & 0x80))))
            abort(); /* no redundant sign byte */
    }
    const uint8_t *b = h->value;
    int a = brook__header_attempts(h->value, h->len);
    int want =
        !b ? 0
        : h->len == 4
            ? (int)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3])
        : h->len == 1 ? b[0]
                      : 0;
    if (a != want)
        abort();
}

/* The index of the last header named a or b, or -1. */
static long last_of(const brook_record_t *r, const char *a, const char *b) {
    for (size_t i = r->header_count; i-- > 0;)
        if (!strcmp(r->headers[i].name, a) || (b && !strcmp(r->headers[i].name, b)))
            return (long)i;
    return -1;
}

static void expect_text(const brook_record_t *r, brook_text_t t, const char *a, const char *b) {
    long i = last_of(r, a, b);
    const brook_header_t *h = i < 0 ? NULL : &r->headers[i];
    if (!h || !h->value) {
        if (t.data || t.len)
            abort();
    } else if (t.data != h->value || t.len != h->len) {
        abort();
    }
}

static int64_t be(const brook_header_t *h, size_t n) {
    if (!h || !h->value || h->len != n)
        return -1;
    const uint8_t *b = h->value;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | b[i];
    return n == 4 ? (int32_t)(uint32_t)v : (int64_t)v;
}

static const brook_header_t *header_at(const brook_record_t *r, long i) {
    return i < 0 ? NULL : &r->headers[i];
}

static void check_failure_info(const brook_record_t *r) {
    brook_failure_info_t f;
    brook_record_failure_info(r, &f);
    expect_text(r, f.original_topic, BROOK_HDR_DLT_TOPIC, BROOK_HDR_ORIG_TOPIC);
    expect_text(r, f.original_timestamp_type, BROOK_HDR_DLT_TIMESTAMP_TYPE,
                BROOK_HDR_ORIG_TIMESTAMP_TYPE);
    expect_text(r, f.original_group, BROOK_HDR_DLT_GROUP, NULL);
    expect_text(r, f.exception_fqcn, BROOK_HDR_DLT_FQCN, BROOK_HDR_EX_FQCN);
    expect_text(r, f.exception_cause_fqcn, BROOK_HDR_DLT_CAUSE_FQCN, BROOK_HDR_EX_CAUSE_FQCN);
    expect_text(r, f.exception_message, BROOK_HDR_DLT_MESSAGE, BROOK_HDR_EX_MESSAGE);
    expect_text(r, f.exception_stacktrace, BROOK_HDR_DLT_STACKTRACE, BROOK_HDR_EX_STACKTRACE);
    if (f.original_partition !=
            (int32_t)be(header_at(r, last_of(r, BROOK_HDR_DLT_PARTITION, BROOK_HDR_ORIG_PARTITION)),
                        4) ||
        f.original_offset !=
            be(header_at(r, last_of(r, BROOK_HDR_DLT_OFFSET, BROOK_HDR_ORIG_OFFSET)), 8) ||
        f.original_timestamp !=
            be(header_at(r, last_of(r, BROOK_HDR_DLT_TIMESTAMP, BROOK_HDR_ORIG_TIMESTAMP)), 8))
        abort();
    const brook_header_t *a = header_at(r, last_of(r, BROOK_HDR_ATTEMPTS, NULL));
    if (f.attempts != (a ? brook__header_attempts(a->value, a->len) : 0))
        abort();
    const brook_header_t *bo = header_at(r, last_of(r, BROOK_HDR_BACKOFF_TS, NULL));
    const brook_header_t *ot = header_at(r, last_of(r, BROOK_HDR_ORIGINAL_TS, NULL));
    if (f.backoff_timestamp != (bo ? ref_bigint(bo->value, bo->len) : -1) ||
        f.first_timestamp != (ot ? ref_bigint(ot->value, ot->len) : -1))
        abort();
}

static bool text_is(brook_text_t t, const char *s) {
    return t.data && t.len == strlen(s) && !memcmp(t.data, s, t.len);
}

/* The headers of a forward of r, read back as a consumer of the retry topic or DLT gets them. */
static void check_forward(const brook_record_t *r, const char *message, bool retry_topics) {
    brook_decl_listener_t d = {0};
    d.id = "fuzz";
    d.handler = "on_fuzz";
    d.group = "fuzz-group";
    brook__failure_t f = {.record = r, .attempt = 1, .name = "fuzz.Failure", .message = message};
    rd_kafka_headers_t *h = brook__forward_headers(&f, &d, retry_topics);
    size_t n = rd_kafka_header_cnt(h);
    brook_header_t *hs = calloc(n ? n : 1, sizeof(*hs));
    for (size_t i = 0; i < n; i++) {
        const void *v;
        if (rd_kafka_header_get_all(h, i, &hs[i].name, &v, &hs[i].len))
            abort();
        hs[i].value = v;
    }
    brook_record_t fwd = {.topic = "orders-dlt", .headers = hs, .header_count = n};
    brook_failure_info_t info;
    brook_record_failure_info(&fwd, &info);
    if (!text_is(info.exception_fqcn, "fuzz.Failure") || !text_is(info.exception_message, message))
        abort();
    /* A DLT forward appends the coordinates; a retry forward adds them when the record has none
     * (of the names it writes), so they keep naming the main topic's record. */
    bool ours = !retry_topics || last_of(r, BROOK_HDR_ORIG_TOPIC, NULL) < 0;
    if (ours && !text_is(info.original_topic, r->topic))
        abort();
    ours = !retry_topics || last_of(r, BROOK_HDR_ORIG_PARTITION, NULL) < 0;
    if (ours && info.original_partition != r->partition)
        abort();
    ours = !retry_topics || last_of(r, BROOK_HDR_ORIG_OFFSET, NULL) < 0;
    if (ours && info.original_offset != r->offset)
        abort();
    ours = !retry_topics || last_of(r, BROOK_HDR_DLT_GROUP, NULL) < 0;
    if (ours && !text_is(info.original_group, "fuzz-group"))
        abort();
    free(hs);
    rd_kafka_headers_destroy(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Names and values are copied to their own allocations: a read past one is caught. */
    brook_header_t hs[64];
    char *names[64];
    void *values[64];
    size_t n = 0, p = 0;
    while (p < size && n < 64) {
        uint8_t k = data[p++];
        if (k < 0x80) {
            names[n] = strdup(known[k % N_KNOWN]);
        } else {
            size_t len = k & 0x7f;
            if (len > size - p)
                len = size - p;
            names[n] = strndup((const char *)data + p, len);
            p += len;
        }
        values[n] = NULL;
        hs[n].len = 0;
        if (p < size && data[p] != 0xff) {
            size_t len = data[p++];
            if (len > size - p)
                len = size - p;
            values[n] = malloc(len ? len : 1);
            memcpy(values[n], data + p, len);
            hs[n].len = len;
            p += len;
        } else {
            p += p < size;
        }
        hs[n].name = names[n];
        hs[n].value = values[n];
        n++;
    }
    brook_record_t r = {.topic = "orders",
                        .partition = 3,
                        .offset = 42,
                        .timestamp = 1700000000123,
                        .timestamp_type = BROOK_TS_CREATE_TIME,
                        .headers = hs,
                        .header_count = n};
    for (size_t i = 0; i < n; i++)
        check_ints(&hs[i]);
    check_failure_info(&r);
    /* the failure's message: the first header's value as text, if any */
    char *message = strndup(n && hs[0].value ? hs[0].value : "", n ? hs[0].len : 0);
    check_forward(&r, message, false);
    check_forward(&r, message, true);
    free(message);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(values[i]);
    }
    return 0;
}
