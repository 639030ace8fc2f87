/*
 * Exactly-once listener members (consume/member.h): consume, transform, produce in one Kafka
 * transaction per batch of records (KIP-98, with KIP-447's consumer group metadata fencing).
 *
 * The member's thread is bound to its transactional producer, so the handler's template sends
 * and the retry and DLT forwards join the open transaction; the input offsets are sent to it
 * with the group's metadata, and the commit makes outputs and offsets visible together. A
 * read_committed reader never sees the outputs of an aborted transaction.
 *
 * A handler that fails has sends in the transaction that must not commit, and so may the
 * records handled before it in the same transaction: the transaction is aborted and every
 * partition goes back to where it started. The failed record's failure is remembered, not
 * handled again: when it comes back after the records before it (handled again, each in a
 * transaction of its own so that a failure among them aborts only itself), the retry policy
 * applies to it as if it had just failed (Spring's DefaultAfterRollbackProcessor counts
 * attempts the same way). A transaction that cannot
 * commit is aborted and its inputs handled again. A member fenced by a newer producer with
 * the same transactional id (another instance with the same BROOK_INSTANCE_ID) stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume/member.h"
#include "core/core.h"

typedef struct brook__eos_s {
    brook__txn_t *txn;
    /* The open transaction: where each partition started (for an abort) and the next offset
     * to commit; records done in it; when it began. */
    rd_kafka_topic_partition_list_t *start, *next;
    int records;
    int64_t began_ms;
    bool fenced;
    /* Until a deferred failure's record is back, each record is a transaction of its own, so
     * that another failure on the way there aborts only itself (no livelock with a handler
     * that fails often). */
    bool solo;
    /* The open transaction's records, kept so that an abort handles them again from memory
     * (no seek, no fetch); after an abort they wait in `replay`, handled before any poll. */
    rd_kafka_message_t **kept, **replay;
    size_t kept_count, kept_cap, replay_count, replay_next;
    bool kept_all; /* false once one could not be kept (no memory): an abort seeks instead */
    /* A failure waiting for its record to come back (see above). */
    struct {
        bool set;
        char *topic;
        int32_t partition;
        int64_t offset;
        int attempt;
        brook_result_t res;
        char name[128];
        char message[512];
    } deferred;
} brook__eos_t;

static void destroy_msgs(rd_kafka_message_t **v, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        rd_kafka_message_destroy(v[i]);
}

int brook__eos_start(brook__member_t *m, brook_error_t *err) {
    const brook_decl_listener_t *d = m->listener->decl;
    const brook__consume_t *c = m->listener->consume;
    if (!d->exactly_once)
        return 0;
    brook__eos_t *e = calloc(1, sizeof(*e));
    if (!e)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    m->eos = e;
    e->start = rd_kafka_topic_partition_list_new(8);
    e->next = rd_kafka_topic_partition_list_new(8);
    e->kept_all = true;
    /* Stable across restarts of one instance, so a restarted instance fences the producer it
     * left behind and aborts its open transaction at once. */
    char inst[256], id[768];
    brook__kafka_instance_id(inst, sizeof(inst));
    snprintf(id, sizeof(id), "%s-%s-%s-%d", c->decl->name, inst, d->id, m->index);
    if (!(e->txn = brook__txn_new(c->env.producer, id, err)))
        return err ? err->code : BROOK_ERR_KAFKA;
    return 0;
}

void brook__eos_free(brook__member_t *m) {
    brook__eos_t *e = m->eos;
    if (!e)
        return;
    brook__txn_free(e->txn);
    if (e->start)
        rd_kafka_topic_partition_list_destroy(e->start);
    if (e->next)
        rd_kafka_topic_partition_list_destroy(e->next);
    destroy_msgs(e->kept, 0, e->kept_count);
    destroy_msgs(e->replay, e->replay_next, e->replay_count);
    free(e->kept);
    free(e->replay);
    free(e->deferred.topic);
    free(e);
    m->eos = NULL;
}

void brook__eos_bind(brook__member_t *m) {
    brook__txn_bind(m->eos ? m->eos->txn : NULL);
}

bool brook__eos_fenced(const brook__member_t *m) {
    return m->eos && m->eos->fenced;
}

static void keep(brook__eos_t *e, rd_kafka_message_t *msg) {
    if (e->kept_count == e->kept_cap) {
        size_t cap = e->kept_cap ? e->kept_cap * 2 : 64;
        rd_kafka_message_t **v = realloc(e->kept, cap * sizeof(*v));
        if (!v) {
            e->kept_all = false;
            rd_kafka_message_destroy(msg);
            return;
        }
        e->kept = v;
        e->kept_cap = cap;
    }
    e->kept[e->kept_count++] = msg;
}

/* The kept records, then what was still to be replayed, are handled (again) next. false
 * when they cannot be (no memory): the caller seeks instead. */
static bool replay_kept(brook__eos_t *e) {
    size_t rest = e->replay_count - e->replay_next;
    rd_kafka_message_t **v = e->kept_all ? malloc((e->kept_count + rest + 1) * sizeof(*v)) : NULL;
    if (!v)
        return false;
    if (e->kept_count)
        memcpy(v, e->kept, e->kept_count * sizeof(*v));
    if (rest)
        memcpy(v + e->kept_count, e->replay + e->replay_next, rest * sizeof(*v));
    free(e->replay);
    e->replay = v;
    e->replay_count = e->kept_count + rest;
    e->replay_next = 0;
    e->kept_count = 0;
    return true;
}

/* Forgets the records waiting to be replayed of msg's partition (those that follow msg, the
 * record handled last), or without msg, of the partitions in `parts` (NULL: all). */
static void drop_replay(brook__eos_t *e, const rd_kafka_message_t *msg,
                        const rd_kafka_topic_partition_list_t *parts) {
    size_t w = e->replay_next;
    for (size_t i = e->replay_next; i < e->replay_count; i++) {
        rd_kafka_message_t *r = e->replay[i];
        bool drop = msg ? r->rkt == msg->rkt && r->partition == msg->partition
                        : !parts || rd_kafka_topic_partition_list_find(
                                        parts, rd_kafka_topic_name(r->rkt), r->partition);
        if (drop)
            rd_kafka_message_destroy(r);
        else
            e->replay[w++] = r;
    }
    e->replay_count = w;
}

static void clear_open(brook__eos_t *e) {
    destroy_msgs(e->kept, 0, e->kept_count);
    e->kept_count = 0;
    e->kept_all = true;
    rd_kafka_topic_partition_list_destroy(e->start);
    rd_kafka_topic_partition_list_destroy(e->next);
    e->start = rd_kafka_topic_partition_list_new(8);
    e->next = rd_kafka_topic_partition_list_new(8);
    e->records = 0;
}

static void fenced(brook__member_t *m, const brook_error_t *err) {
    m->eos->fenced = true;
    m->stop_err = BROOK_ERR_FENCED;
    brook_log(BROOK_LOG_ERROR, "listener", "%s[%d]: %s; this member stops", m->listener->decl->id,
              m->index, err->message);
    brook_app_request_stop(m->listener->consume->app);
}

/* What becomes of an aborted transaction's records. */
typedef enum {
    AGAIN_NONE,   /* there were none */
    AGAIN_REPLAY, /* handled again from memory, before the next poll (no seek, no fetch) */
    AGAIN_SEEK,   /* their partitions sought back (a revoke: what was polled is given up) */
} again_t;

static void rewind_open(brook__member_t *m, again_t again) {
    brook__eos_t *e = m->eos;
    if (again == AGAIN_NONE || (again == AGAIN_REPLAY && replay_kept(e))) {
        clear_open(e);
        return;
    }
    /* Back to the first record not committed of each partition: of this transaction, or
     * waiting to be replayed. */
    for (size_t i = e->replay_next; i < e->replay_count; i++) {
        const rd_kafka_message_t *r = e->replay[i];
        const char *topic = rd_kafka_topic_name(r->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(e->start, topic, r->partition);
        if (!p)
            rd_kafka_topic_partition_list_add(e->start, topic, r->partition)->offset = r->offset;
        else if (r->offset < p->offset)
            p->offset = r->offset;
    }
    destroy_msgs(e->replay, e->replay_next, e->replay_count);
    e->replay_count = e->replay_next = 0;
    if (e->start->cnt) {
        rd_kafka_error_t *err = rd_kafka_seek_partitions(m->rk, e->start, 0);
        if (err)
            rd_kafka_error_destroy(err);
    }
    clear_open(e);
}

rd_kafka_message_t *brook__eos_next_replay(brook__member_t *m) {
    brook__eos_t *e = m->eos;
    if (!e || e->replay_next == e->replay_count)
        return NULL;
    return e->replay[e->replay_next++];
}

static void aborted(brook__member_t *m, int rc, const brook_error_t *err, again_t again) {
    if (m->eos->records || m->eos->start->cnt) /* it held work: outputs were dropped */
        atomic_fetch_add(&m->listener->aborted_transactions, 1);
    if (rc == BROOK_ERR_FENCED) {
        fenced(m, err);
        return;
    }
    if (rc)
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: %s; its %d input(s) are handled again",
                  m->listener->decl->id, m->index, err->message, m->eos->records);
    rewind_open(m, again);
    brook__outputs_clear_failed(m->outputs);
}

static int abort_open(brook__member_t *m, again_t again) {
    brook_error_t err = {0};
    int rc = brook__txn_abort(m->eos->txn, &err);
    aborted(m, rc, &err, again);
    return rc;
}

static int commit_open(brook__member_t *m, again_t again) {
    brook__eos_t *e = m->eos;
    if (!brook__txn_is_open(e->txn))
        return 0;
    if (!e->records)
        return abort_open(m, again);
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(m->rk);
    brook_error_t err = {0};
    int rc = brook__txn_commit(e->txn, e->next, cgmd, &err);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (rc) {
        aborted(m, rc, &err, again);
    } else {
        atomic_fetch_add(&m->listener->transactions, 1);
        /* The embedded cluster does not keep the offsets a transaction commits: there they
         * are committed through the consumer too, or a restart or rebalance would start the
         * group over (docs/transactions.md). */
        if (m->listener->consume->env.embedded)
            brook__member_commit(m, e->next, true);
        clear_open(e);
    }
    brook__outputs_clear_failed(m->outputs);
    return rc;
}

static bool begin(brook__member_t *m) {
    brook__eos_t *e = m->eos;
    if (brook__txn_is_open(e->txn))
        return true;
    brook_error_t err = {0};
    int rc = brook__txn_begin(e->txn, &err);
    if (rc == BROOK_ERR_FENCED)
        fenced(m, &err);
    else if (rc)
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: %s", m->listener->decl->id, m->index,
                  err.message);
    else
        e->began_ms = brook__now_ms();
    return rc == 0;
}

static void track_start(brook__eos_t *e, const rd_kafka_message_t *msg) {
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (!rd_kafka_topic_partition_list_find(e->start, topic, msg->partition))
        rd_kafka_topic_partition_list_add(e->start, topic, msg->partition)->offset = msg->offset;
}

/* msg is done (handled, or forwarded to a retry topic or the DLT) in the open transaction. */
static void done(brook__eos_t *e, const rd_kafka_message_t *msg) {
    const char *topic = rd_kafka_topic_name(msg->rkt);
    track_start(e, msg);
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(e->next, topic, msg->partition);
    if (!p)
        p = rd_kafka_topic_partition_list_add(e->next, topic, msg->partition);
    p->offset = msg->offset + 1;
    e->records++;
}

static bool is_deferred(const brook__eos_t *e, const rd_kafka_message_t *msg) {
    return e->deferred.set && e->deferred.partition == msg->partition &&
           e->deferred.offset == msg->offset &&
           !strcmp(e->deferred.topic, rd_kafka_topic_name(msg->rkt));
}

static void defer(brook__eos_t *e, const brook_ctx_t *ctx, brook_result_t res) {
    free(e->deferred.topic);
    e->deferred.set = true;
    e->solo = true;
    e->deferred.topic = strdup(ctx->record.topic);
    e->deferred.partition = ctx->record.partition;
    e->deferred.offset = ctx->record.offset;
    e->deferred.attempt = ctx->attempt;
    e->deferred.res = res;
    snprintf(e->deferred.name, sizeof(e->deferred.name), "%s", ctx->failure_name);
    snprintf(e->deferred.message, sizeof(e->deferred.message), "%s", ctx->failure_message);
}

/* No transaction can begin for msg: it is fetched again (with what waits to be replayed) once
 * one can. */
static void fetch_again(brook__member_t *m, rd_kafka_message_t *msg) {
    track_start(m->eos, msg);
    rd_kafka_message_destroy(msg);
    rewind_open(m, AGAIN_SEEK);
}

void brook__eos_handle(brook__member_t *m, rd_kafka_message_t *msg) {
    brook__eos_t *e = m->eos;
    brook_listener_t *l = m->listener;
    brook_ctx_t *ctx = &m->ctx;
    if (!begin(m)) {
        fetch_again(m, msg);
        return;
    }
    brook__ctx_reset(ctx, msg);
    if (brook__recover_reads_headers(m->recover))
        brook__ctx_headers(ctx);
    brook_result_t res;
    bool was_deferred = is_deferred(e, msg);
    if (was_deferred) {
        e->deferred.set = false;
        e->solo = false;
        ctx->attempt = e->deferred.attempt;
        snprintf(ctx->failure_name, sizeof(ctx->failure_name), "%s", e->deferred.name);
        snprintf(ctx->failure_message, sizeof(ctx->failure_message), "%s", e->deferred.message);
        res = e->deferred.res;
    } else {
        ctx->attempt = brook__recover_attempt_of(m->recover, &ctx->record);
        track_start(e, msg);
        res = brook__member_invoke(m);
    }
    if (res == BROOK_OK || res == BROOK__FILTERED) {
        brook__recover_succeeded(m->recover, &ctx->record);
        done(e, msg);
        keep(e, msg);
        brook__eos_tick(m);
        return;
    }
    if (res == BROOK__WAIT) {
        /* Not handled (no sends to undo): its partition waits, sought back to it. */
        brook__recover_wait(m->recover, &ctx->record, ctx->attempt, ctx->failure_message);
        drop_replay(e, msg, NULL);
        rd_kafka_message_destroy(msg);
        brook__eos_tick(m);
        return;
    }
    if (!was_deferred) {
        /* The failed handler's sends must not commit. */
        if (e->records) {
            /* Nor may the records before it be committed without their outputs: all are
             * handled again, and this failure waits for its record, the last of them. */
            defer(e, ctx, res);
            keep(e, msg);
            abort_open(m, AGAIN_REPLAY);
            return;
        }
        /* Aborted, by a new producer when the abort failed for good: the failure goes on to
         * the retry policy in a transaction of its own. */
        abort_open(m, AGAIN_NONE);
        if (e->fenced || !begin(m)) {
            fetch_again(m, msg);
            return;
        }
    }
    brook__ctx_headers(ctx); /* forwards copy them */
    brook__failure_t f = {.record = &ctx->record,
                          .attempt = ctx->attempt,
                          .name = ctx->failure_name,
                          .message = ctx->failure_message};
    switch (brook__recover_failed(m->recover, &f, res)) {
    case BROOK__RECOVER_AGAIN:
        atomic_fetch_add(&l->retried, 1);
        /* fall through */
    case BROOK__RECOVER_FORWARD_FAILED:
        /* Its partition was sought back to it: what follows it there comes again after it. */
        drop_replay(e, msg, NULL);
        rd_kafka_message_destroy(msg);
        break;
    case BROOK__RECOVER_RETRIED:
        atomic_fetch_add(&l->retried, 1);
        done(e, msg);
        keep(e, msg);
        break;
    case BROOK__RECOVER_DEAD_LETTERED:
        atomic_fetch_add(&l->dead_lettered, 1);
        done(e, msg);
        keep(e, msg);
        break;
    case BROOK__RECOVER_GIVEN_UP:
        done(e, msg);
        keep(e, msg);
        break;
    }
    brook__eos_tick(m);
}

void brook__eos_tick(brook__member_t *m) {
    brook__eos_t *e = m->eos;
    brook__txn_poll(e->txn);
    if (!brook__txn_is_open(e->txn))
        return;
    const brook_decl_listener_t *d = m->listener->decl;
    if (e->records >= (e->solo ? 1 : d->tx_max_records) ||
        brook__now_ms() - e->began_ms >= d->tx_max_ms)
        commit_open(m, AGAIN_REPLAY);
}

int brook__eos_wait_ms(const brook__member_t *m, int wait_ms) {
    const brook__eos_t *e = m->eos;
    if (!e || !brook__txn_is_open(e->txn))
        return wait_ms;
    int64_t left = e->began_ms + m->listener->decl->tx_max_ms - brook__now_ms();
    return left <= 0 ? 0 : left < wait_ms ? (int)left : wait_ms;
}

int brook__eos_finish(brook__member_t *m, bool lost,
                      const rd_kafka_topic_partition_list_t *revoked) {
    brook__eos_t *e = m->eos;
    if (e->fenced) {
        /* What it polled is given up (the consumer waits for its records at close). */
        destroy_msgs(e->replay, e->replay_next, e->replay_count);
        e->replay_count = e->replay_next = 0;
        clear_open(e);
        return BROOK_ERR_FENCED;
    }
    e->deferred.set = false;
    e->solo = false;
    /* An aborted transaction's partitions go back to where it started: those being revoked
     * are gone a moment later anyway, but one a cooperative rebalance leaves here must not
     * move on past inputs whose outputs were just aborted. */
    int rc = lost ? abort_open(m, AGAIN_SEEK) : commit_open(m, AGAIN_SEEK);
    /* What waits to be replayed of the revoked partitions is their next owner's to handle,
     * from the offsets committed: handled here too, it would be handled twice. */
    drop_replay(e, NULL, revoked);
    return rc;
}
