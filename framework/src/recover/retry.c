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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "recover/headers.h"
#include "recover/ordered.h"
#include "recover/recover.h"

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

struct brook__recover_s {
    rd_kafka_t *rk;
    const brook_decl_listener_t *decl;
    brook__producer_t *producer;
    held_t *held;
    size_t count, cap;
    int64_t wait_ms;           /* the next brook__recover_wait's backoff, 0 after a success */
    brook__ordered_t *ordered; /* retry.preserve_key_order (recover/ordered.c), else NULL */
};

/* The retry_topic-* headers of a forward by a listener with retry topics, appended after
 * those the record had (Spring's retainAllRetryHeaderValues; readers take the last): the first
 * record's timestamp, the delivery the record goes to, and when it is due. */
static void add_retry_headers(rd_kafka_headers_t *h, const brook__failure_t *f, int64_t due) {
    uint8_t b[8];
    const brook_header_t *first = brook__record_header(f->record, BROOK_HDR_ORIGINAL_TS);
    if (first)
        rd_kafka_header_add(h, BROOK_HDR_ORIGINAL_TS, -1, first->value, (ssize_t)first->len);
    else
        rd_kafka_header_add(h, BROOK_HDR_ORIGINAL_TS, -1, b,
                            (ssize_t)brook__put_bigint(b, f->record->timestamp));
    brook__put_be32(b, f->attempt + 1);
    rd_kafka_header_add(h, BROOK_HDR_ATTEMPTS, -1, b, 4);
    rd_kafka_header_add(h, BROOK_HDR_BACKOFF_TS, -1, b, (ssize_t)brook__put_bigint(b, due));
}

static void add_to_subscription(const char *topic, const char *source, brook__topic_kind_t kind,
                                void *opaque) {
    rd_kafka_topic_partition_list_t *sub = opaque;
    if (kind != BROOK__TOPIC_RETRY)
        return; /* the DLT is not consumed by the listener itself */
    if (!rd_kafka_topic_partition_list_find(sub, topic, RD_KAFKA_PARTITION_UA))
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
}

void brook__recover_subscription(const brook_decl_listener_t *d,
                                 rd_kafka_topic_partition_list_t *sub) {
    /* Keeping key order, the owner of a main partition assigns itself its retry partitions. */
    if (brook__recover_uses_retry_topics(d) && !brook__recover_keeps_key_order(d))
        brook__recover_topics_foreach(d, add_to_subscription, sub);
}

/* The main topic a record belongs to: the declared topic it was read from, or whose retry
 * topic it was read from. The kafka_original-topic header is only a fallback (a pattern
 * listener): a record replayed onto the main topic from some DLT carries one that names
 * another service's topic. */
static void source_topic(const brook_decl_listener_t *d, const brook_record_t *r, char *out,
                         size_t size) {
    const char *topic = r->topic;
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
    const brook_header_t *h = brook__record_header(r, BROOK_HDR_ORIG_TOPIC);
    if (!h) /* a record a Brook older than Spring's retry-topic names put there */
        h = brook__record_header(r, BROOK_HDR_DLT_TOPIC);
    if (strstr(topic, "-retry") && h && h->value && h->len < size) {
        memcpy(out, h->value, h->len);
        out[h->len] = 0;
    } else {
        snprintf(out, size, "%s", topic);
    }
}

/* ---- held partitions ------------------------------------------------------------------------- */

brook__recover_t *brook__recover_new(rd_kafka_t *rk, const brook_decl_listener_t *d,
                                     brook__producer_t *producer) {
    brook__recover_t *r = calloc(1, sizeof(*r));
    if (r) {
        r->rk = rk;
        r->decl = d;
        r->producer = producer;
        if (brook__recover_keeps_key_order(d) &&
            !(r->ordered = brook__ordered_new(rk, d, producer))) {
            free(r);
            return NULL;
        }
    }
    return r;
}

static void held_remove(brook__recover_t *s, size_t i) {
    free(s->held[i].topic);
    s->held[i] = s->held[--s->count];
}

void brook__recover_free(brook__recover_t *r) {
    if (!r)
        return;
    brook__recover_drop(r);
    brook__ordered_free(r->ordered);
    free(r->held);
    free(r);
}

void brook__recover_drop(brook__recover_t *r) {
    while (r->count)
        held_remove(r, 0);
    if (r->ordered)
        brook__ordered_drop(r->ordered);
}

static held_t *held_find(brook__recover_t *s, const char *topic, int32_t partition) {
    for (size_t i = 0; i < s->count; i++)
        if (s->held[i].partition == partition && !strcmp(s->held[i].topic, topic))
            return &s->held[i];
    return NULL;
}

static void resume(brook__recover_t *s, const char *topic, int32_t partition) {
    rd_kafka_topic_partition_list_t *p = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(p, topic, partition);
    rd_kafka_resume_partitions(s->rk, p);
    rd_kafka_topic_partition_list_destroy(p);
}

/* Pauses r's partition until due_ms, to deliver r again then with `attempt`. */
static void hold(brook__recover_t *s, const brook_record_t *r, int attempt, int64_t due_ms) {
    /* A released parked record has no place in a partition to seek back to: it waits in
     * memory (and in its parking topic). */
    if (s->ordered && brook__ordered_hold(s->ordered, r, due_ms))
        return;
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
    brook__kafka_pause_at(s->rk, r->topic, r->partition, r->offset);
}

void brook__recover_tick(brook__recover_t *s) {
    if (s->ordered)
        brook__ordered_tick(s->ordered);
    if (!s->count)
        return;
    int64_t now = brook__wall_ms();
    for (size_t i = 0; i < s->count; i++) {
        held_t *h = &s->held[i];
        if (h->paused && now >= h->due_ms) {
            h->paused = false;
            resume(s, h->topic, h->partition);
        }
    }
}

bool brook__recover_intercept(brook__recover_t *m, rd_kafka_message_t *msg) {
    if (!brook__recover_uses_retry_topics(m->decl))
        return false;
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t len;
    if (m->ordered && brook__ordered_is_parking(m->ordered, rd_kafka_topic_name(msg->rkt))) {
        /* Parking partitions are paused: what was fetched before is read when rebuilding. */
        rd_kafka_message_destroy(msg);
        return true;
    }
    if (rd_kafka_message_headers(msg, &hdrs) ||
        rd_kafka_header_get_last(hdrs, BROOK_HDR_BACKOFF_TS, &v, &len))
        return false;
    int64_t due = brook__header_bigint(v, len), now = brook__wall_ms();
    /* As Spring's KafkaBackoffAwareMessageListenerAdapter: a due time more than a day ahead
     * (beyond what this listener could have set) is taken as bogus and ignored, so a bad
     * header cannot hold a partition for ever. */
    int64_t horizon = m->decl->retry.max_delay_ms;
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

bool brook__recover_quiet(const brook__recover_t *s) {
    return !s->count && !s->ordered && !s->wait_ms && !brook__recover_uses_retry_topics(s->decl);
}

bool brook__recover_reads_headers(const brook__recover_t *m) {
    return brook__recover_uses_retry_topics(m->decl);
}

int brook__recover_attempt_of(brook__recover_t *m, const brook_record_t *r) {
    if (brook__recover_uses_retry_topics(m->decl)) {
        /* A record on a main topic is a first delivery, whatever headers it carries (a
         * record republished from a DLT keeps its retry_topic-attempts); a retry record's
         * count is a stranger's bytes: kept within what this listener can reach. */
        for (size_t t = 0; t < m->decl->topic_count; t++)
            if (!strcmp(r->topic, m->decl->topics[t]))
                return 1;
        const brook_header_t *a = brook__record_header(r, BROOK_HDR_ATTEMPTS);
        int n = a ? brook__header_attempts(a->value, a->len) : 1;
        return n < 1 ? 1 : n > m->decl->retry.attempts ? m->decl->retry.attempts : n;
    }
    held_t *h = held_find(m, r->topic, r->partition);
    return h && h->offset == r->offset && h->attempt > 0 ? h->attempt : 1;
}

static void forget(brook__recover_t *s, const brook_record_t *r) {
    for (size_t i = 0; i < s->count; i++)
        if (s->held[i].partition == r->partition && !strcmp(s->held[i].topic, r->topic) &&
            !s->held[i].paused) {
            held_remove(s, i);
            return;
        }
}

void brook__recover_succeeded(brook__recover_t *s, const brook_record_t *r) {
    s->wait_ms = 0;
    if (s->ordered)
        brook__ordered_done(s->ordered, r, BROOK__ORDERED_FINISHED);
    if (s->count)
        forget(s, r);
}

#define WAIT_FIRST_MS 100
#define WAIT_MAX_MS 5000

void brook__recover_wait(brook__recover_t *s, const brook_record_t *r, int attempt,
                         const char *why) {
    int64_t delay = s->wait_ms ? s->wait_ms : WAIT_FIRST_MS;
    s->wait_ms = delay * 2 > WAIT_MAX_MS ? WAIT_MAX_MS : delay * 2;
    brook_log(BROOK_LOG_WARN, "listener", "%s: %s [%d] @%lld waits %lld ms: %s", s->decl->id,
              r->topic, (int)r->partition, (long long)r->offset, (long long)delay, why);
    hold(s, r, attempt, brook__add_ms(brook__wall_ms(), delay));
}

/* Whether topic/partition is paused here and will be resumed by brook__recover_tick. */
static bool holds(const brook__recover_t *s, const char *topic, int32_t partition) {
    for (size_t i = 0; i < s->count; i++)
        if (s->held[i].paused && s->held[i].partition == partition &&
            !strcmp(s->held[i].topic, topic))
            return true;
    return false;
}

void brook__recover_revoked(brook__recover_t *s, rd_kafka_topic_partition_list_t *parts) {
    for (size_t i = 0; i < s->count;) {
        if (rd_kafka_topic_partition_list_find(parts, s->held[i].topic, s->held[i].partition)) {
            /* Whoever gets the partition next starts from its committed offset, unpaused;
             * so does this member if it gets it back. */
            if (s->held[i].paused)
                resume(s, s->held[i].topic, s->held[i].partition);
            held_remove(s, i);
        } else {
            i++;
        }
    }
    if (s->ordered)
        brook__ordered_revoked(s->ordered, parts);
}

bool brook__recover_keeps_paused(const brook__recover_t *s, const char *topic, int32_t partition) {
    return holds(s, topic, partition) ||
           (s->ordered && brook__ordered_is_parking(s->ordered, topic));
}

bool brook__recover_release(brook__recover_t *s, const char *topic, int32_t partition) {
    held_t *h = held_find(s, topic, partition);
    if (!h)
        return false;
    bool paused = h->paused;
    held_remove(s, (size_t)(h - s->held));
    return paused;
}

/* ---- failures
 * ------------------------------------------------------------------------------------ */

static bool forward(brook__recover_t *m, const brook__failure_t *f, const char *topic,
                    rd_kafka_headers_t *h) {
    const brook_record_t *r = f->record;
    int32_t partition = r->partition;
    /* Retry and DLT topics have the source topic's partitions, so a record keeps its
     * partition; a DLT with fewer falls back to the partitioner. */
    int err = brook__producer_forward(m->producer, topic, partition, r->key, r->key_len, r->value,
                                      r->value_len, rd_kafka_headers_copy(h));
    /* Keeping key order, a key stays on its partition number in the retry topics: no fallback
     * there (the DLT ends the chain: any partition will do). */
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
        !(m->ordered && brook__ordered_keeps_partition(m->ordered, topic)))
        err = brook__producer_forward(m->producer, topic, RD_KAFKA_PARTITION_UA, r->key, r->key_len,
                                      r->value, r->value_len, rd_kafka_headers_copy(h));
    rd_kafka_headers_destroy(h);
    if (err) {
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: cannot forward %s [%d] @%lld to %s: %s; trying again in %d ms", m->decl->id,
                  r->topic, (int)r->partition, (long long)r->offset, topic, rd_kafka_err2str(err),
                  FORWARD_RETRY_MS);
        hold(m, r, f->attempt, brook__add_ms(brook__wall_ms(), FORWARD_RETRY_MS));
        return false;
    }
    forget(m, r);
    return true;
}

brook__recover_outcome_t brook__recover_failed(brook__recover_t *m, const brook__failure_t *f,
                                               brook_result_t res) {
    const brook_decl_listener_t *d = m->decl;
    const brook_record_t *r = f->record;
    if (res == BROOK_RETRY && brook__recover_not_retryable(d, f->name))
        res = BROOK_FAIL;

    int64_t delay = res == BROOK_RETRY ? brook__recover_backoff(d, f->attempt) : -1;
    if (delay >= 0) {
        if (d->retry.mode == BROOK_RETRY_BLOCKING) {
            brook_log(BROOK_LOG_DEBUG, "retry",
                      "%s: %s [%d] @%lld attempt %d failed (%s), again in %lld ms", d->id, r->topic,
                      (int)r->partition, (long long)r->offset, f->attempt, f->name,
                      (long long)delay);
            hold(m, r, f->attempt + 1, brook__add_ms(brook__wall_ms(), delay));
            return BROOK__RECOVER_AGAIN;
        }
        char source[512], topic[600];
        source_topic(d, r, source, sizeof(source));
        brook__recover_retry_topic(d, source, delay, topic, sizeof(topic));
        rd_kafka_headers_t *h = brook__forward_headers(f, d, true);
        add_retry_headers(h, f, brook__add_ms(brook__wall_ms(), delay));
        if (m->ordered)
            brook__ordered_forward_headers(m->ordered, r, h);
        if (!forward(m, f, topic, h))
            return BROOK__RECOVER_FORWARD_FAILED;
        if (m->ordered)
            brook__ordered_done(m->ordered, r, BROOK__ORDERED_CHAINED);
        return BROOK__RECOVER_RETRIED;
    }

    char source[512], topic[600];
    source_topic(d, r, source, sizeof(source));
    if (!brook__recover_dlt_topic(d, source, topic, sizeof(topic))) {
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: giving up on %s [%d] @%lld after %d attempt(s): %s: %s (%s)", d->id,
                  r->topic, (int)r->partition, (long long)r->offset, f->attempt, f->name,
                  f->message,
                  d->dlt.enabled ? "a DLT's record stays in the DLT" : "no DLT declared");
        forget(m, r);
        if (m->ordered)
            brook__ordered_done(m->ordered, r, BROOK__ORDERED_FINISHED);
        return BROOK__RECOVER_GIVEN_UP;
    }
    brook_log(BROOK_LOG_WARN, "retry", "%s: %s [%d] @%lld to %s after %d attempt(s): %s: %s", d->id,
              r->topic, (int)r->partition, (long long)r->offset, topic, f->attempt,
              f->name[0] ? f->name : "brook.HandlerFailure", f->message);
    /* Spring's retry topics give their DLT records the retry headers too (due now). */
    rd_kafka_headers_t *h = brook__forward_headers(f, d, brook__recover_uses_retry_topics(d));
    if (brook__recover_uses_retry_topics(d))
        add_retry_headers(h, f, brook__wall_ms());
    if (!forward(m, f, topic, h))
        return BROOK__RECOVER_FORWARD_FAILED;
    if (m->ordered)
        brook__ordered_done(m->ordered, r, BROOK__ORDERED_FINISHED);
    return BROOK__RECOVER_DEAD_LETTERED;
}

/* ---- ordered retries: the member's hooks (recover/ordered.c) -------------------------------- */

void brook__recover_set_env(brook__recover_t *r, const brook_decl_t *service, const char *bootstrap,
                            brook__recover_store_fn *store, void *opaque) {
    if (r->ordered)
        brook__ordered_set_env(r->ordered, service, bootstrap, store, opaque);
}

brook__admit_t brook__recover_admit(brook__recover_t *r, const brook_record_t *rec) {
    if (!r->ordered)
        return BROOK__ADMIT_HANDLE;
    int64_t hold_ms = 0;
    switch (brook__ordered_admit(r->ordered, rec, &hold_ms)) {
    case BROOK__ORDERED_DONE:
        return BROOK__ADMIT_DONE;
    case BROOK__ORDERED_HOLD:
        hold(r, rec, 0, brook__add_ms(brook__wall_ms(), hold_ms));
        return BROOK__ADMIT_HELD;
    default:
        return BROOK__ADMIT_HANDLE;
    }
}

const brook_record_t *brook__recover_released(brook__recover_t *r) {
    return r->ordered ? brook__ordered_released(r->ordered) : NULL;
}

rd_kafka_topic_partition_list_t *
brook__recover_with_derived(brook__recover_t *r, const rd_kafka_topic_partition_list_t *parts,
                            bool assigning) {
    if (r->ordered)
        return brook__ordered_with_derived(r->ordered, parts, assigning);
    return rd_kafka_topic_partition_list_copy(parts);
}

void brook__recover_assigned(brook__recover_t *r, const rd_kafka_topic_partition_list_t *all) {
    if (r->ordered)
        brook__ordered_assigned(r->ordered, all);
}

void brook__recover_rewound(brook__recover_t *r) {
    if (r->ordered)
        brook__ordered_rewound(r->ordered);
}
