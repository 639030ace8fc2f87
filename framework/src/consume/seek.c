/*
 * Seeks (brook_ctx_seek* in brook.h, Spring's ConsumerSeekCallback; docs/seek-and-control.md),
 * on the member's poll thread.
 *
 * A seek is resolved when it is asked for, to an absolute offset within the partition's
 * watermarks (so an error can be returned, and a seek past the end does not fall back on
 * auto.offset.reset, which would read the partition again from start_from). From a handler it
 * is applied once the handler's record is done (its offset stored, or its retry or forward
 * started): the sought offset is stored after the record's own, a blocking retry holding the
 * partition is abandoned, and rd_kafka_seek_partitions drops what the consumer had fetched past
 * it. From an on-assigned callback the offsets go into the assignment itself (librdkafka starts
 * fetching there instead of at the committed offset; a seek would be refused before the fetch
 * has started) and are stored once the partitions are assigned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume/member.h"
#include "core/core.h"

/* How long a watermark or timestamp lookup, or a seek, may take. */
#define SEEK_TIMEOUT_MS 10000

typedef enum { TO_OFFSET, TO_BEGINNING, TO_END, TO_TIMESTAMP } seek_kind_t;

static const char *kind_name(seek_kind_t kind) {
    switch (kind) {
    case TO_OFFSET:
        return "offset";
    case TO_BEGINNING:
        return "beginning";
    case TO_END:
        return "end";
    case TO_TIMESTAMP:
        return "timestamp";
    }
    return "?";
}

void brook__seek_clear(brook__member_control_t *mc) {
    for (size_t i = 0; i < mc->seek_count; i++)
        free(mc->seeks[i].topic);
    mc->seek_count = 0;
}

/* Notes a handler's seek (the last of one partition counts). */
static int note_seek(brook__member_control_t *mc, const char *topic, int32_t partition,
                     int64_t offset) {
    for (size_t i = 0; i < mc->seek_count; i++)
        if (mc->seeks[i].partition == partition && !strcmp(mc->seeks[i].topic, topic)) {
            mc->seeks[i].offset = offset;
            return 0;
        }
    if (mc->seek_count == mc->seek_cap) {
        size_t cap = mc->seek_cap ? mc->seek_cap * 2 : 4;
        brook__seek_t *v = realloc(mc->seeks, cap * sizeof(*v));
        if (!v)
            return BROOK_ERR_NOMEM;
        mc->seeks = v;
        mc->seek_cap = cap;
    }
    brook__seek_t *s = &mc->seeks[mc->seek_count];
    if (!(s->topic = strdup(topic)))
        return BROOK_ERR_NOMEM;
    s->partition = partition;
    s->offset = offset;
    mc->seek_count++;
    return 0;
}

/* The partitions of `topic` (one, or all with BROOK_PARTITION_ALL) in `scope`, into `out`. */
static void select_parts(const rd_kafka_topic_partition_list_t *scope, const char *topic,
                         int32_t partition, rd_kafka_topic_partition_list_t *out) {
    for (int i = 0; i < scope->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &scope->elems[i];
        if (!strcmp(p->topic, topic) &&
            (partition == BROOK_PARTITION_ALL || p->partition == partition))
            rd_kafka_topic_partition_list_add(out, p->topic, p->partition);
    }
}

/* librdkafka 2.0.2's mock cluster answers every lookup by timestamp with "none" (its ListOffsets
 * has no time index): on the embedded cluster the partition is read from `lo` by a consumer of
 * its own (no group) until a record's timestamp is >= ts, as Kafka's time index would find it.
 * In memory, and at most about 100k records a partition. `hi` when none is, or on failure. */
static int64_t embedded_offset_for_time(const char *bootstrap, const char *topic, int32_t partition,
                                        int64_t ts, int64_t lo, int64_t hi) {
    if (lo >= hi)
        return hi;
    char errstr[256];
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    rd_kafka_t *rk = NULL;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        return hi;
    }
    int64_t found = hi;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt && !rd_kafka_consume_start(rkt, partition, lo)) {
        int64_t deadline = brook__add_ms(brook__now_ms(), SEEK_TIMEOUT_MS);
        bool done = false;
        while (!done && brook__now_ms() < deadline) {
            rd_kafka_message_t *msg = rd_kafka_consume(rkt, partition, 100);
            if (!msg)
                continue;
            if (!msg->err) {
                if (rd_kafka_message_timestamp(msg, NULL) >= ts) {
                    found = msg->offset;
                    done = true;
                }
                done |= msg->offset >= hi - 1;
            }
            rd_kafka_message_destroy(msg);
        }
        rd_kafka_consume_stop(rkt, partition);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return found;
}

/* The partitions' low (`which` RD_KAFKA_OFFSET_BEGINNING) or high (RD_KAFKA_OFFSET_END)
 * watermarks into out[], in the order of `parts`: one ListOffsets request per leader for all of
 * them. 0 or librdkafka's error. */
static rd_kafka_resp_err_t watermarks(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                                      int64_t which, int64_t *out) {
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < q->cnt; i++)
        q->elems[i].offset = which;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, q, SEEK_TIMEOUT_MS);
    for (int i = 0; i < parts->cnt && !err; i++) {
        const rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(q, parts->elems[i].topic, parts->elems[i].partition);
        err = !p ? RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION : p->err;
        if (!err)
            out[i] = p->offset;
    }
    rd_kafka_topic_partition_list_destroy(q);
    return err;
}

/* Sets each offset of `parts` to where the seek goes: an absolute offset within the partition's
 * watermarks. 0, librdkafka's error or BROOK_ERR_NOMEM. */
static int resolve(brook__member_t *m, rd_kafka_topic_partition_list_t *parts, seek_kind_t kind,
                   int64_t arg) {
    rd_kafka_t *rk = m->rk;
    const brook__consume_env_t *env = &m->listener->consume->env;
    int64_t *lows = calloc((size_t)parts->cnt * 2, sizeof(*lows));
    if (!lows)
        return BROOK_ERR_NOMEM;
    int64_t *highs = lows + parts->cnt;
    rd_kafka_resp_err_t err = watermarks(rk, parts, RD_KAFKA_OFFSET_BEGINNING, lows);
    if (!err)
        err = watermarks(rk, parts, RD_KAFKA_OFFSET_END, highs);
    if (err) {
        free(lows);
        return err;
    }
    if (kind == TO_TIMESTAMP) {
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = arg;
        err = rd_kafka_offsets_for_times(rk, parts, SEEK_TIMEOUT_MS);
        for (int i = 0; i < parts->cnt && !err; i++)
            err = parts->elems[i].err;
        if (err) {
            free(lows);
            return err;
        }
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = lows[i], hi = highs[i];
        if (kind == TO_TIMESTAMP && p->offset < 0 && env->embedded)
            p->offset =
                embedded_offset_for_time(env->bootstrap, p->topic, p->partition, arg, lo, hi);
        int64_t to = kind == TO_BEGINNING ? lo
                     : kind == TO_END     ? hi
                     : kind == TO_OFFSET  ? arg
                                          : p->offset; /* timestamp: -1 when none is as late */
        if (to < 0 || to > hi)
            to = hi;
        if (to < lo)
            to = lo;
        brook_log(BROOK_LOG_DEBUG, "listener",
                  "%s[%d]: seek %s [%d] to %s: offset %lld (%lld..%lld)", m->listener->decl->id,
                  m->index, p->topic, (int)p->partition, kind_name(kind), (long long)to,
                  (long long)lo, (long long)hi);
        p->offset = to;
    }
    free(lows);
    return 0;
}

static int seek(brook_ctx_t *ctx, const char *topic, int32_t partition, seek_kind_t kind,
                int64_t arg) {
    if (!ctx || !topic || partition < BROOK_PARTITION_ALL || (kind == TO_OFFSET && arg < 0))
        return BROOK_ERR_INVALID_ARG;
    brook__member_t *m = ctx->member;
    brook__member_control_t *mc = &m->control;
    bool assigning = mc->assigning != NULL;
    if (!assigning && (ctx != &m->ctx || !ctx->msg))
        return BROOK_ERR_STATE; /* neither in a handler nor in an on-assigned callback */
    if (!assigning && m->eos)
        return BROOK_ERR_UNSUPPORTED; /* its offsets go with its transactions */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    if (!parts)
        return BROOK_ERR_NOMEM;
    /* m->owned is written on this thread only. */
    select_parts(assigning ? mc->assigning : m->owned, topic, partition, parts);
    int rc = parts->cnt ? resolve(m, parts, kind, arg) : BROOK_ERR_NOT_FOUND;
    for (int i = 0; i < parts->cnt && !rc; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (assigning)
            rd_kafka_topic_partition_list_find(mc->assigning, p->topic, p->partition)->offset =
                p->offset;
        else
            rc = note_seek(mc, p->topic, p->partition, p->offset);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int brook_ctx_seek(brook_ctx_t *ctx, const char *topic, int32_t partition, int64_t offset) {
    return seek(ctx, topic, partition, TO_OFFSET, offset);
}

int brook_ctx_seek_to_beginning(brook_ctx_t *ctx, const char *topic, int32_t partition) {
    return seek(ctx, topic, partition, TO_BEGINNING, 0);
}

int brook_ctx_seek_to_end(brook_ctx_t *ctx, const char *topic, int32_t partition) {
    return seek(ctx, topic, partition, TO_END, 0);
}

int brook_ctx_seek_to_timestamp(brook_ctx_t *ctx, const char *topic, int32_t partition,
                                int64_t timestamp_ms) {
    return seek(ctx, topic, partition, TO_TIMESTAMP, timestamp_ms);
}

void brook__seek_apply(brook__member_t *m) {
    brook__member_control_t *mc = &m->control;
    /* ack "batch": the batch's records handled so far are stored first, so that the sought
     * offset is the last stored. */
    for (size_t i = 0; i < m->pending_count; i++) {
        brook__store_offset(m, m->pending[i]);
        rd_kafka_message_destroy(m->pending[i]);
    }
    m->pending_count = 0;
    for (size_t i = 0; i < mc->seek_count; i++) {
        const brook__seek_t *s = &mc->seeks[i];
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, s->topic, s->partition)->offset = s->offset;
        /* Stored before the seek (librdkafka's advice for a partition paused later). */
        brook__store_at(m, s->topic, s->partition, s->offset);
        bool held = brook__recover_release(m->recover, s->topic, s->partition);
        rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, one, SEEK_TIMEOUT_MS);
        rd_kafka_resp_err_t err = e ? rd_kafka_error_code(e) : one->elems[0].err;
        if (err)
            brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: seek %s [%d] to %lld: %s",
                      m->listener->decl->id, m->index, s->topic, (int)s->partition,
                      (long long)s->offset, e ? rd_kafka_error_string(e) : rd_kafka_err2str(err));
        if (e)
            rd_kafka_error_destroy(e);
        /* A retry had it paused: it goes on from the sought offset now, unless the listener
         * is paused (its resume resumes it). */
        if (held && !brook__control_paused(mc))
            rd_kafka_resume_partitions(m->rk, one);
        rd_kafka_topic_partition_list_destroy(one);
    }
    brook__seek_clear(mc);
}

rd_kafka_topic_partition_list_t *brook__seek_assigning(brook__member_t *m,
                                                       rd_kafka_topic_partition_list_t *parts) {
    brook_listener_t *l = m->listener;
    brook__member_control_t *mc = &m->control;
    brook_assigned_fn *fn = l->control.on_assigned;
    if (!fn || !parts->cnt || atomic_load(&m->stopping))
        return parts;
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_copy(parts);
    brook_topic_partition_t *tps = calloc((size_t)parts->cnt, sizeof(*tps));
    if (!start || !tps) {
        brook_log(BROOK_LOG_ERROR, "listener", "%s[%d]: out of memory: on-assigned not called",
                  l->decl->id, m->index);
        if (start)
            rd_kafka_topic_partition_list_destroy(start);
        free(tps);
        return parts;
    }
    for (int i = 0; i < start->cnt; i++) {
        start->elems[i].offset = RD_KAFKA_OFFSET_INVALID; /* the committed offset */
        tps[i].topic = start->elems[i].topic;
        tps[i].partition = start->elems[i].partition;
    }
    /* A context without a record: the seeks go into `start`. */
    brook_ctx_t ctx = {.member = m};
    mc->assigning = start;
    fn(&ctx, tps, (size_t)start->cnt, l->control.on_assigned_opaque);
    mc->assigning = NULL;
    free(tps);
    return start;
}

void brook__seek_assigned(brook__member_t *m, rd_kafka_topic_partition_list_t *start,
                          rd_kafka_topic_partition_list_t *parts,
                          const rd_kafka_topic_partition_list_t *all) {
    if (start != parts) {
        for (int i = 0; i < start->cnt; i++)
            if (start->elems[i].offset >= 0)
                brook__store_at(m, start->elems[i].topic, start->elems[i].partition,
                                start->elems[i].offset);
        rd_kafka_topic_partition_list_destroy(start);
    }
    if (atomic_load(&m->stopping))
        return; /* rejoining only to commit: rebalance_cb pauses them */
    /* A paused listener's member pauses what it is given too; a pause asked for meanwhile is
     * applied now, before any record of them is handled. */
    if (brook__control_paused(&m->control))
        rd_kafka_pause_partitions(m->rk, (rd_kafka_topic_partition_list_t *)all);
    else
        brook__control_tick(m);
}

int brook_listener_on_assigned(brook_listener_t *l, brook_assigned_fn *fn, void *opaque) {
    if (!l)
        return BROOK_ERR_INVALID_ARG;
    if (atomic_load(&l->consume->running))
        return BROOK_ERR_STATE;
    l->control.on_assigned = fn;
    l->control.on_assigned_opaque = opaque;
    return 0;
}
