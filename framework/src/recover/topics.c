/*
 * The names of a listener's retry and dead-letter topics. A failed record goes to
 * <topic>-retry-<delay_ms> (one topic per distinct delay) or to <topic>-retry when every delay
 * is the same, and finally to <topic>-dlt (or the declared dlt.topic).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "recover/topics.h"

#define MAX_DELAYS 64

/* Past this many attempts the delays have reached max_delay_ms in any sane declaration; the
 * retry topics are those of the distinct delays up to here. */
#define MAX_RETRY_TOPICS 10000

/* Fills delays[] with the backoff before attempts 2, 3, ... (up to MAX_DELAYS of them) and
 * returns how many attempts follow the first (attempts - 1), which may be more than
 * MAX_DELAYS: see delay_at. */
static size_t delays_of(const brook_decl_listener_t *d, int64_t *delays) {
    const brook_decl_retry_t *r = &d->retry;
    if (!r->declared || r->attempts <= 1)
        return 0;
    return brook_decl_retry_delays(r, delays, MAX_DELAYS);
}

/* The backoff after failed attempt i + 1. Delays never shrink (multiplier >= 1) and stop at
 * max_delay_ms, so past the MAX_DELAYS computed ones the last one computed is either the cap
 * or still growing; in the second case it is carried on with decl.c's arithmetic. */
static int64_t delay_at(const brook_decl_listener_t *d, const int64_t *delays, size_t i) {
    if (i < MAX_DELAYS)
        return delays[i];
    const brook_decl_retry_t *r = &d->retry;
    double v = (double)r->delay_ms * pow(r->multiplier, (double)i);
    return v >= (double)r->max_delay_ms ? r->max_delay_ms : (int64_t)v;
}

/* One retry topic for every attempt (Spring's single topic for a fixed backoff). Delays never
 * shrink, so they are all equal when the last equals the first. */
static bool fixed_delay(const brook_decl_listener_t *d, const int64_t *delays, size_t n) {
    return n == 0 || delay_at(d, delays, n - 1) == delays[0];
}

static void retry_topic_name(char *out, size_t size, const char *source, int64_t delay,
                             bool fixed) {
    if (fixed)
        snprintf(out, size, "%s-retry", source);
    else
        snprintf(out, size, "%s-retry-%lld", source, (long long)delay);
}

/* A DLT gets no DLT of its own: a record a DLT handler fails on stays where it is. */
static bool is_dlt(const char *topic) {
    size_t n = strlen(topic);
    return n >= 4 && !strcmp(topic + n - 4, "-dlt");
}

bool brook__recover_not_retryable(const brook_decl_listener_t *d, const char *name) {
    for (size_t i = 0; i < d->retry.not_retryable_count; i++)
        if (!strcmp(d->retry.not_retryable[i], name))
            return true;
    return false;
}

bool brook__recover_uses_retry_topics(const brook_decl_listener_t *d) {
    return d->retry.declared && d->retry.mode == BROOK_RETRY_TOPICS && d->retry.attempts > 1;
}

int64_t brook__recover_backoff(const brook_decl_listener_t *d, int attempt) {
    int64_t delays[MAX_DELAYS];
    size_t n = delays_of(d, delays);
    if (attempt < 1 || (size_t)attempt > n)
        return -1;
    return delay_at(d, delays, (size_t)attempt - 1);
}

void brook__recover_retry_topic(const brook_decl_listener_t *d, const char *source, int64_t delay,
                                char *out, size_t size) {
    int64_t delays[MAX_DELAYS];
    size_t n = delays_of(d, delays);
    retry_topic_name(out, size, source, delay, fixed_delay(d, delays, n));
}

bool brook__recover_dlt_topic(const brook_decl_listener_t *d, const char *source, char *out,
                              size_t size) {
    if (!d->dlt.enabled || is_dlt(source))
        return false;
    if (d->dlt.topic)
        snprintf(out, size, "%s", d->dlt.topic);
    else
        snprintf(out, size, "%s-dlt", source);
    return true;
}

void brook__recover_topics_foreach(const brook_decl_listener_t *d,
                                   void (*fn)(const char *topic, const char *source,
                                              brook__topic_kind_t kind, void *opaque),
                                   void *opaque) {
    int64_t delays[MAX_DELAYS];
    size_t n = delays_of(d, delays);
    bool fixed = fixed_delay(d, delays, n);
    const brook_decl_retry_t *r = &d->retry;
    char name[512];
    for (size_t t = 0; t < d->topic_count; t++) {
        const char *source = d->topics[t];
        if (brook__recover_uses_retry_topics(d))
            for (size_t i = 0; i < n && i < MAX_RETRY_TOPICS; i++) {
                int64_t delay = delay_at(d, delays, i);
                /* Consecutive equal delays share a topic: name each topic once. */
                if (i > 0 && delay == delay_at(d, delays, i - 1))
                    continue;
                retry_topic_name(name, sizeof(name), source, delay, fixed);
                fn(name, source, BROOK__TOPIC_RETRY, opaque);
                if (fixed || delay >= r->max_delay_ms)
                    break; /* every later attempt uses this topic */
            }
        if (brook__recover_dlt_topic(d, source, name, sizeof(name)))
            fn(name, source, BROOK__TOPIC_DLT, opaque);
    }
}

bool brook__recover_keeps_key_order(const brook_decl_listener_t *d) {
    return d->retry.preserve_key_order && brook__recover_uses_retry_topics(d);
}

void brook__recover_parking_topic(const char *source, char *out, size_t size) {
    snprintf(out, size, "%s-parked", source);
}

void brook__recover_parking_foreach(const brook_decl_listener_t *d,
                                    void (*fn)(const char *topic, const char *source,
                                               brook__topic_kind_t kind, void *opaque),
                                    void *opaque) {
    if (!brook__recover_keeps_key_order(d))
        return;
    char name[512];
    for (size_t t = 0; t < d->topic_count; t++) {
        brook__recover_parking_topic(d->topics[t], name, sizeof(name));
        fn(name, d->topics[t], BROOK__TOPIC_PARKING, opaque);
    }
}
