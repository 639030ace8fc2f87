/* What a scrape reads of the listeners (consume/consume.h, docs/operations.md): counters and
 * histograms their members keep, and the lag of the partitions they own. */
#include <string.h>

#include "consume/member.h"

void brook__listener_metrics(const brook_listener_t *l, brook__listener_metrics_t *out) {
    memset(out, 0, sizeof(*out));
    brook_listener_stats(l, &out->stats);
    out->stopped = brook__control_stopped(l);
    out->paused = brook_listener_paused(l);
    brook__control_read_lock(l); /* a listener stopping or starting replaces the consumers */
    for (int i = 0; i < l->member_count; i++) {
        const brook__member_t *m = &l->members[i];
        brook__histogram_read(&m->handler_seconds, &out->handler_seconds);
        brook__histogram_read(&m->commit_seconds, &out->commit_seconds);
        out->commits += atomic_load_explicit(&m->commits, memory_order_relaxed);
        out->commit_failures += atomic_load_explicit(&m->commit_failures, memory_order_relaxed);
        out->members += m->rk != NULL;
        out->assigned += atomic_load(&m->assigned);
        out->fenced += atomic_load(&m->fenced);
    }
    brook__control_read_unlock(l);
}

/* The lag of one partition from its high watermark (as last fetched) and where the member
 * stands in it (`next`: the offset after the last record it read); -1 when unknown. */
static int64_t lag_of(int64_t lo, int64_t hi, int64_t next) {
    if (hi < 0)
        return -1;
    if (next >= 0)
        return hi > next ? hi - next : 0;
    return lo == hi ? 0 : -1; /* nothing to read in an empty partition */
}

/* Position first: librdkafka's cached figures, no request (both calls are thread-safe). A
 * partition without a position (just assigned, or sought back by a retry or an aborted
 * transaction and not read since) falls back on the group's committed offset, one request for
 * all of them. */
static int member_lag(brook__member_t *m, brook__lag_fn *fn, void *opaque) {
    pthread_mutex_lock(&m->owned_lock);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_copy(m->owned);
    pthread_mutex_unlock(&m->owned_lock);
    rd_kafka_topic_partition_list_t *unknown = rd_kafka_topic_partition_list_new(4);
    if (!parts || !unknown) {
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
        if (unknown)
            rd_kafka_topic_partition_list_destroy(unknown);
        return BROOK_ERR_NOMEM;
    }
    rd_kafka_position(m->rk, parts);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(unknown, parts->elems[i].topic,
                                              parts->elems[i].partition);
    bool committed_known = unknown->cnt && !rd_kafka_committed(m->rk, unknown, 1000);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi, next = p->offset;
        if (next < 0) {
            const rd_kafka_topic_partition_t *c =
                committed_known
                    ? rd_kafka_topic_partition_list_find(unknown, p->topic, p->partition)
                    : NULL;
            next = c && !c->err ? c->offset : -1;
        }
        if (rd_kafka_get_watermark_offsets(m->rk, p->topic, p->partition, &lo, &hi))
            continue;
        int64_t lag = lag_of(lo, hi, next);
        if (lag >= 0)
            fn(p->topic, p->partition, lag, opaque);
    }
    rd_kafka_topic_partition_list_destroy(unknown);
    rd_kafka_topic_partition_list_destroy(parts);
    return 0;
}

int brook__listener_lag(brook_listener_t *l, brook__lag_fn *fn, void *opaque) {
    int rc = 0;
    brook__control_read_lock(l);
    for (int i = 0; i < l->member_count && !rc; i++)
        if (l->members[i].rk && l->members[i].owned)
            rc = member_lag(&l->members[i], fn, opaque);
    brook__control_read_unlock(l);
    return rc;
}
