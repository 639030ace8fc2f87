/* The handler context (brook_ctx_* in brook.h). Runs on the member's poll thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume/member.h"

void brook__store_offset(brook__member_t *m, const rd_kafka_message_t *msg) {
    rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
    /* The partition stored last is nearly always the one stored next: found by its topic
     * handle, without comparing names. */
    rd_kafka_topic_partition_list_t *l = m->stored;
    if (m->stored_last < l->cnt) {
        rd_kafka_topic_partition_t *p = &l->elems[m->stored_last];
        if (p->opaque == msg->rkt && p->partition == msg->partition) {
            p->offset = msg->offset + 1;
            m->stored_dirty = true;
            return;
        }
    }
    rd_kafka_topic_partition_t *p =
        brook__stored_set(m, rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset + 1);
    p->opaque = msg->rkt;
    m->stored_last = (int)(p - l->elems);
}

void brook__store_at(brook__member_t *m, const char *topic, int32_t partition, int64_t next) {
    if (m->eos)
        return; /* committed by the next transaction that handles a record of it */
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(m->rk, one);
    if (!err)
        err = one->elems[0].err;
    if (err)
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: storing offset %lld of %s [%d]: %s",
                  m->listener->decl->id, m->index, (long long)next, topic, (int)partition,
                  rd_kafka_err2str(err));
    else
        brook__stored_set(m, topic, partition, next);
    rd_kafka_topic_partition_list_destroy(one);
}

rd_kafka_topic_partition_t *brook__stored_set(brook__member_t *m, const char *topic,
                                              int32_t partition, int64_t next) {
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(m->stored, topic, partition);
    if (!p)
        p = rd_kafka_topic_partition_list_add(m->stored, topic, partition);
    p->offset = next;
    m->stored_dirty = true;
    return p;
}

void brook__ctx_reset(brook_ctx_t *ctx, rd_kafka_message_t *msg) {
    brook__kafka_record(msg, &ctx->record);
    ctx->headers_ready = false;
    ctx->msg = msg;
    ctx->acked = false;
    ctx->failure_name[0] = 0;
    ctx->failure_message[0] = 0;
}

/* librdkafka parses a record's header block (allocating a list even for an empty one) when
 * asked for it: ask only when the handler or the retry path looks. */
void brook__ctx_headers(brook_ctx_t *ctx) {
    if (ctx->headers_ready || !ctx->msg)
        return;
    ctx->headers_ready = true;
    brook__member_t *m = ctx->member;
    brook__kafka_record_headers(ctx->msg, &ctx->record, &m->headers, &m->headers_cap);
}

const brook_record_t *brook_ctx_record(brook_ctx_t *ctx) {
    /* An on-assigned callback's context has no record (seek.c). */
    if (!ctx || ctx->member->control.assigning)
        return NULL;
    brook__ctx_headers(ctx);
    return &ctx->record;
}

int brook_ctx_header(brook_ctx_t *ctx, const char *name, const void **value, size_t *len) {
    if (!ctx || !name)
        return 0;
    brook__ctx_headers(ctx);
    const brook_header_t *h = brook__record_header(&ctx->record, name);
    if (!h)
        return 0;
    if (value)
        *value = h->value;
    if (len)
        *len = h->len;
    return 1;
}

int brook_ctx_attempt(const brook_ctx_t *ctx) {
    return ctx ? ctx->attempt : 0;
}

brook_app_t *brook_ctx_app(brook_ctx_t *ctx) {
    return ctx ? ctx->member->listener->consume->app : NULL;
}

const char *brook_ctx_listener_id(const brook_ctx_t *ctx) {
    return ctx ? ctx->member->listener->decl->id : NULL;
}

brook_result_t brook_ctx_fail(brook_ctx_t *ctx, const char *name, const char *fmt, ...) {
    if (!ctx)
        return BROOK_FAIL;
    snprintf(ctx->failure_name, sizeof(ctx->failure_name), "%s",
             name ? name : "brook.HandlerFailure");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->failure_message, sizeof(ctx->failure_message), fmt, ap);
        va_end(ap);
    }
    return brook__recover_not_retryable(ctx->member->listener->decl, ctx->failure_name)
               ? BROOK_FAIL
               : BROOK_RETRY;
}

void brook_ctx_ack(brook_ctx_t *ctx) {
    if (ctx && ctx->msg && !ctx->acked) {
        brook__store_offset(ctx->member, ctx->msg);
        ctx->acked = true;
    }
}
