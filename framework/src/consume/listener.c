/*
 * Listeners: each unit of concurrency is one consumer group member with its own poll thread.
 * Handlers run on that thread, so one partition (assigned to one member at a time) is handled
 * in offset order and never concurrently, and a rebalance callback (served inside poll) never
 * runs while a handler does: "finish in-flight work before giving partitions up" holds by
 * construction.
 *
 * Offsets: a record's offset is stored once it is done (handled, retried elsewhere or
 * dead-lettered); the member commits stored offsets asynchronously every commit_interval_ms
 * (not librdkafka's auto-commit, which would also commit at a crash-like destroy), and
 * synchronously on revoke and stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consume/batch.h"
#include "consume/member.h"
#include "consume/reply.h"
#include "core/core.h"

/* ---- offsets --------------------------------------------------------------------------------- */

static void store_pending(brook__member_t *m) {
    for (size_t i = 0; i < m->pending_count; i++) {
        brook__store_offset(m, m->pending[i]);
        rd_kafka_message_destroy(m->pending[i]);
    }
    m->pending_count = 0;
}

static void drop_pending(brook__member_t *m) {
    for (size_t i = 0; i < m->pending_count; i++)
        rd_kafka_message_destroy(m->pending[i]);
    m->pending_count = 0;
}

/* The longest a rebalance or a per-record commit waits for the member's sends. */
#define DRAIN_MAX_MS 10000

/* Waits for the member's sends; 0 when they were all delivered, so what was handled may be
 * committed; BROOK_ERR_TIMEOUT when some are still in flight at `deadline`, BROOK_ERR_KAFKA
 * when one failed for good. */
static int outputs_durable(brook__member_t *m, int64_t deadline, const char *why) {
    /* An input's offset is committed only once the outputs of its handler are durable:
     * otherwise a crash could keep the input committed and lose the output. */
    if (!brook__outputs_drain(m->outputs, deadline)) {
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: no commit on %s: %d record(s) sent by handlers still undelivered "
                  "(their inputs will be delivered again)",
                  m->listener->decl->id, m->index, why, brook__outputs_inflight(m->outputs));
        return BROOK_ERR_TIMEOUT;
    }
    if (brook__outputs_failed(m->outputs)) {
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: no commit on %s: a record sent by a handler was not delivered (its "
                  "input will be delivered again)",
                  m->listener->decl->id, m->index, why);
        return BROOK_ERR_KAFKA;
    }
    return 0;
}

/* A handler's send failed for good: the inputs handled since the last commit go back to the
 * committed offsets and are handled again, so no output is lost (at-least-once). */
static void rewind_to_committed(brook__member_t *m) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(m->rk, &parts) || !parts)
        return;
    if (parts->cnt && !rd_kafka_committed(m->rk, parts, 10000)) {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_offsets_store(m->rk, parts);
        for (int i = 0; i < parts->cnt; i++)
            brook__stored_set(m, parts->elems[i].topic, parts->elems[i].partition,
                              parts->elems[i].offset);
        rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, parts, 0);
        if (e)
            rd_kafka_error_destroy(e);
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: a handler's output was not delivered: %d partition(s) go back to "
                  "their committed offsets",
                  m->listener->decl->id, m->index, parts->cnt);
        brook__recover_rewound(m->recover);
        brook__batch_rewound(m);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

rd_kafka_resp_err_t brook__member_commit(brook__member_t *m,
                                         const rd_kafka_topic_partition_list_t *offsets,
                                         bool async) {
    size_t slot = m->commits_sent % (sizeof(m->commit_sent) / sizeof(m->commit_sent[0]));
    m->commit_sent[slot].seq = m->commits_sent++;
    m->commit_sent[slot].ns = brook__now_ns();
    return rd_kafka_commit(m->rk, offsets, async);
}

/* In commit_cb: the answer to the oldest commit not answered yet, counted and timed. */
static void commit_done(brook__member_t *m, rd_kafka_resp_err_t err) {
    uint64_t seq = m->commits_answered++;
    size_t slot = seq % (sizeof(m->commit_sent) / sizeof(m->commit_sent[0]));
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return; /* nothing was stored: no commit */
    brook__histogram_add(&m->commits, 1);
    if (err)
        brook__histogram_add(&m->commit_failures, 1);
    if (seq < m->commits_sent && m->commit_sent[slot].seq == seq)
        brook__histogram_observe(&m->commit_seconds, brook__now_ns() - m->commit_sent[slot].ns);
}

/* Returns false when what was handled stays uncommitted. */
static bool commit_sync(brook__member_t *m, const char *why, int64_t deadline) {
    if (outputs_durable(m, deadline, why))
        return false;
    rd_kafka_resp_err_t err = brook__member_commit(m, NULL, false);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: commit on %s failed: %s",
                  m->listener->decl->id, m->index, why, rd_kafka_err2str(err));
        return false;
    }
    return true;
}

/* A commit refused because the group moved on to a new generation while this member was not
 * polling (another instance left or joined): the member can still commit once it has
 * rejoined, keeping its partitions under cooperative assignment. */
static bool generation_moved(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* At a graceful stop, after handling has stopped: the member's partitions are paused and it
 * keeps polling only so that it can take part in a rebalance (its own group may be moving on
 * while other instances stop too). Records polled meanwhile are dropped unhandled and
 * uncommitted: the next owner gets them. */
static void pause_for_stop(brook__member_t *m) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    atomic_store(&m->stopping, true);
    if (!rd_kafka_assignment(m->rk, &parts) && parts) {
        rd_kafka_pause_partitions(m->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
}

void brook__member_poll_paused(brook__member_t *m) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 50);
    if (msg)
        rd_kafka_message_destroy(msg);
}

/* The commit at a graceful stop. If the group rebalanced meanwhile, the commit is refused for
 * its old generation: then the member polls (paused) until it has rejoined, keeping its
 * partitions under cooperative assignment, and commits again, until the stop deadline. */
static void commit_on_stop(brook__member_t *m, int64_t deadline) {
    if ((m->stop_err = outputs_durable(m, deadline, "stop")))
        return;
    rd_kafka_resp_err_t err = brook__member_commit(m, NULL, false);
    while (generation_moved(err) && brook__now_ms() < deadline) {
        brook__member_poll_paused(m);
        if (brook__kafka_join_steady(&m->join))
            err = brook__member_commit(m, NULL, false);
    }
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: commit on stop failed: %s",
                  m->listener->decl->id, m->index, rd_kafka_err2str(err));
        m->stop_err = err;
    }
}

/* msg is done with: store its offset as the ack mode says. Returns true when msg was kept
 * (batch ack holds it until the batch ends) and must not be destroyed by the caller. */
static bool member_done(brook__member_t *m, rd_kafka_message_t *msg, bool recovered) {
    switch (m->listener->decl->ack) {
    case BROOK_ACK_RECORD:
        brook__store_offset(m, msg);
        break;
    case BROOK_ACK_RECORD_SYNC:
        brook__store_offset(m, msg);
        /* Not while the member rejoins (see member_log_cb): the next commit takes it. */
        if (brook__kafka_join_steady(&m->join))
            commit_sync(m, "record", brook__now_ms() + DRAIN_MAX_MS);
        break;
    case BROOK_ACK_MANUAL:
        /* The handler acks what it handled; a record given to a retry topic or the DLT, or
         * dropped by a filter, is done on its behalf. */
        if (recovered)
            brook__store_offset(m, msg);
        break;
    case BROOK_ACK_BATCH:
        m->pending[m->pending_count++] = msg;
        if (m->pending_count == m->pending_cap)
            store_pending(m);
        return true;
    }
    return false;
}

/* ---- rebalance
 * ----------------------------------------------------------------------------------- */

/* Runs on the member's poll thread, inside rd_kafka_consumer_poll or consumer_close. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    brook__member_t *m = opaque;
    brook_listener_t *l = m->listener;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && atomic_load(&l->consume->crashing)) {
        /* After a crash (brook__consume_free): answered only so that the consumer's destroy
         * does not wait for it. */
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_fetch_add(&l->rebalances, 1);
        atomic_store(&m->assigned, true);
        brook_log(BROOK_LOG_DEBUG, "listener", "%s[%d]: assigned %d partition(s)", l->decl->id,
                  m->index, parts->cnt);
        pthread_mutex_lock(&m->owned_lock);
        for (int i = 0; i < parts->cnt; i++)
            if (!rd_kafka_topic_partition_list_find(m->owned, parts->elems[i].topic,
                                                    parts->elems[i].partition))
                rd_kafka_topic_partition_list_add(m->owned, parts->elems[i].topic,
                                                  parts->elems[i].partition);
        pthread_mutex_unlock(&m->owned_lock);
        /* The on-assigned callback's seeks go into the assignment (seek.c). */
        rd_kafka_topic_partition_list_t *start = brook__seek_assigning(m, parts);
        /* Ordered retries: with the retry and parking partitions of the main ones. */
        rd_kafka_topic_partition_list_t *all = brook__recover_with_derived(m->recover, start, true);
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, all));
        else
            rd_kafka_assign(rk, all);
        brook__recover_assigned(m->recover, all);
        brook__seek_assigned(m, start, parts, all);
        rd_kafka_topic_partition_list_destroy(all);
        if (atomic_load(&m->stopping))
            rd_kafka_pause_partitions(rk, parts); /* rejoining only to commit (stop) */
        return;
    }
    /* Revoked (or lost): what was handled is committed before the partitions go. */
    brook_log(BROOK_LOG_DEBUG, "listener", "%s[%d]: revoking %d partition(s)", l->decl->id,
              m->index, parts->cnt);
    /* From here on with their retry and parking partitions (ordered retries): a copy. */
    parts = brook__recover_with_derived(m->recover, parts, false);
    brook__control_revoked(m, parts);
    brook__recover_revoked(m->recover, parts);
    brook__batch_revoked(m, parts);
    if (m->eos) {
        /* Committed in the member's transaction, or aborted when they were lost. */
        brook__eos_finish(m,
                          atomic_load(&l->consume->crashing) ||
                              err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ||
                              rd_kafka_assignment_lost(rk),
                          parts);
    } else if (atomic_load(&l->consume->crashing)) {
        drop_pending(m);
    } else {
        store_pending(m);
        /* At a stop (the consumer closing) no later than the stop's deadline. */
        int64_t deadline = brook__now_ms() + DRAIN_MAX_MS;
        if (atomic_load(&m->stopping) && brook__control_stop_deadline(m) < deadline)
            deadline = brook__control_stop_deadline(m);
        /* Otherwise the partitions' next owner handles again what was not committed. */
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk) ||
            !commit_sync(m, "revoke", deadline))
            atomic_fetch_add(&l->revokes_uncommitted, 1);
    }
    /* Their offsets are the next owner's to commit. */
    pthread_mutex_lock(&m->owned_lock);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_list_del(m->stored, parts->elems[i].topic,
                                          parts->elems[i].partition);
        rd_kafka_topic_partition_list_del(m->owned, parts->elems[i].topic,
                                          parts->elems[i].partition);
    }
    pthread_mutex_unlock(&m->owned_lock);
    if (cooperative)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* ---- handling -----------------------------------------------------------------------------------
 */

brook_result_t brook__member_invoke(brook__member_t *m) {
    brook_listener_t *l = m->listener;
    brook_ctx_t *ctx = &m->ctx;
    const brook_record_t *r = &ctx->record;
    const void *key, *value;
    brook_error_t err; /* not zeroed: 260 bytes per record; read only when a decode failed */
    err.code = 0;
    err.message[0] = 0;
    brook_result_t res;
    ctx->failure_name[0] = 0;
    ctx->failure_message[0] = 0;
    if (l->filters[BROOK_FILTER_RAW] &&
        !l->filters[BROOK_FILTER_RAW](ctx, NULL, NULL, l->filter_opaques[BROOK_FILTER_RAW])) {
        atomic_fetch_add(&l->filtered, 1);
        return BROOK__FILTERED;
    }
    if (brook__serde_decode(&l->key, r->key, r->key_len, &m->key_dec, &key, &err) ||
        brook__serde_decode(&l->value, r->value, r->value_len, &m->value_dec, &value, &err)) {
        snprintf(ctx->failure_message, sizeof(ctx->failure_message), "%s", err.message);
        snprintf(ctx->failure_name, sizeof(ctx->failure_name), "brook.DeserializationError");
        res = err.code == BROOK_ERR_UNAVAILABLE ? BROOK__WAIT : BROOK_FAIL;
    } else {
        int64_t started = brook__now_ns();
        if (l->filters[BROOK_FILTER_DECODED] &&
            !l->filters[BROOK_FILTER_DECODED](ctx, key, value,
                                              l->filter_opaques[BROOK_FILTER_DECODED]))
            res = BROOK__FILTERED;
        else
            res = brook__listener_call(l, ctx, key, value);
        brook__histogram_observe(&m->handler_seconds, brook__now_ns() - started);
        if (l->replier)
            res = brook__reply_finish(m, res, key);
        if (res == BROOK__FILTERED) {
            atomic_fetch_add(&l->filtered, 1);
        } else if (res != BROOK_OK && res != BROOK_RETRY && res != BROOK_FAIL) {
            brook_log(BROOK_LOG_WARN, "listener", "%s: handler returned %d, taken as FAIL",
                      l->decl->id, (int)res);
            res = BROOK_FAIL;
        }
    }
    /* What the handler was given stays in the member's scratch until the next record is
     * decoded over it (a generated decoder empties the value and reuses its memory) or the
     * member ends (brook__decoded_free). */
    if (res == BROOK_OK)
        atomic_fetch_add(&l->handled, 1);
    else if (res != BROOK__WAIT && res != BROOK__FILTERED)
        atomic_fetch_add(&l->failed, 1);
    return res;
}

/* Handles msg; returns true when msg is kept (see member_done) and must not be destroyed. */
static bool handle_message(brook__member_t *m, rd_kafka_message_t *msg, bool quiet) {
    brook_ctx_t *ctx = &m->ctx;
    brook__ctx_reset(ctx, msg);
    ctx->attempt = 1;
    if (!quiet) {
        if (brook__recover_reads_headers(m->recover))
            brook__ctx_headers(ctx);
        ctx->attempt = brook__recover_attempt_of(m->recover, &ctx->record);
        switch (brook__recover_admit(m->recover, &ctx->record)) {
        case BROOK__ADMIT_DONE: /* parked behind its key's retry record (ordered retries) */
            return member_done(m, msg, true);
        case BROOK__ADMIT_HELD:
            return false;
        case BROOK__ADMIT_HANDLE:
            break;
        }
    }
    brook_result_t res = brook__member_invoke(m);
    if (res == BROOK_OK || res == BROOK__FILTERED) {
        if (!quiet)
            brook__recover_succeeded(m->recover, &ctx->record);
        return member_done(m, msg, res == BROOK__FILTERED);
    }
    if (res == BROOK__WAIT) {
        brook__recover_wait(m->recover, &ctx->record, ctx->attempt, ctx->failure_message);
        return false;
    }
    brook__ctx_headers(ctx); /* forwards copy them */
    brook__failure_t f = {.record = &ctx->record,
                          .attempt = ctx->attempt,
                          .name = ctx->failure_name,
                          .message = ctx->failure_message};
    brook_listener_t *l = m->listener;
    switch (brook__recover_failed(m->recover, &f, res)) {
    case BROOK__RECOVER_AGAIN:
        atomic_fetch_add(&l->retried, 1);
        return false;
    case BROOK__RECOVER_FORWARD_FAILED:
        return false;
    case BROOK__RECOVER_RETRIED:
        atomic_fetch_add(&l->retried, 1);
        break;
    case BROOK__RECOVER_DEAD_LETTERED:
        atomic_fetch_add(&l->dead_lettered, 1);
        break;
    case BROOK__RECOVER_GIVEN_UP:
        break;
    }
    return member_done(m, msg, true);
}

/* Ordered retries (recover/ordered.c): a parked record whose key's retry record is done,
 * handled as the record it is on its main topic, a first delivery. Its parking offset is
 * stored by recover once it is done. Returns whether there was one. */
static bool handle_released(brook__member_t *m) {
    const brook_record_t *rec = brook__recover_released(m->recover);
    if (!rec)
        return false;
    brook_ctx_t *ctx = &m->ctx;
    ctx->record = *rec;
    ctx->msg = NULL;
    ctx->headers_ready = true;
    ctx->acked = false;
    ctx->attempt = 1;
    brook_result_t res = brook__member_invoke(m);
    if (res == BROOK_OK || res == BROOK__FILTERED) {
        brook__recover_succeeded(m->recover, &ctx->record);
    } else if (res == BROOK__WAIT) {
        brook__recover_wait(m->recover, &ctx->record, 1, ctx->failure_message);
    } else {
        brook__failure_t f = {.record = &ctx->record,
                              .attempt = 1,
                              .name = ctx->failure_name,
                              .message = ctx->failure_message};
        brook__recover_outcome_t out = brook__recover_failed(m->recover, &f, res);
        if (out == BROOK__RECOVER_RETRIED)
            atomic_fetch_add(&m->listener->retried, 1);
        else if (out == BROOK__RECOVER_DEAD_LETTERED)
            atomic_fetch_add(&m->listener->dead_lettered, 1);
    }
    return true;
}

/* Stores an offset of a partition whose records the member does not poll (ordered retries'
 * parking partitions): in librdkafka, for the commits on revoke and stop, and in m->stored. */
static void store_elsewhere(void *opaque, const char *topic, int32_t partition, int64_t next) {
    brook__store_at(opaque, topic, partition, next);
}

/* Runs on the member's thread, inside poll: an asynchronous commit finished. Refusals while
 * the group rebalances are expected; the offsets stay stored for the next commit. */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    brook__member_t *m = opaque;
    commit_done(m, err);
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    m->stored_dirty = true; /* sent again at the next interval */
    bool rebalancing = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                       err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
    brook_log(rebalancing ? BROOK_LOG_DEBUG : BROOK_LOG_WARN, "listener",
              "%s[%d]: commit failed: %s (stored offsets are committed again at the next "
              "interval)",
              m->listener->decl->id, m->index, rd_kafka_err2str(err));
}

static void member_run(brook__member_t *m) {
    brook_listener_t *l = m->listener;
    brook__consume_t *c = l->consume;
    bool batch = l->decl->ack == BROOK_ACK_BATCH;
    bool in_batch = false;
    bool batch_done = false; /* ack "batch": a poll's records are handled, not yet committed */
    int64_t interval = c->decl->commit_interval_ms;
    int64_t next_commit = brook__add_ms(brook__now_ms(), interval);
    brook__outputs_bind(m->outputs);
    brook__eos_bind(m);
    brook__control_bind(m);
    while (atomic_load(&c->running) && brook__control_running(l) && !brook__eos_fenced(m)) {
        /* Pause or resume as asked (control.c); while paused, retries wait too. */
        brook__control_tick(m);
        bool paused = brook__control_paused(&m->control);
        bool quiet = brook__recover_quiet(m->recover);
        if (!paused && !quiet)
            brook__recover_tick(m->recover);
        int64_t now = brook__now_ms();
        if (m->eos) {
            brook__eos_tick(m);
        } else if (now >= next_commit || batch_done) {
            if (batch)
                store_pending(m);
            /* Waits at most a commit interval for the handlers' sends; else next time. */
            if (brook__outputs_failed(m->outputs)) {
                if (brook__outputs_drain(m->outputs, brook__add_ms(now, interval))) {
                    brook__outputs_clear_failed(m->outputs);
                    rewind_to_committed(m);
                }
            } else if (brook__kafka_join_steady(&m->join) &&
                       brook__outputs_drain(m->outputs, brook__add_ms(now, interval)) &&
                       !brook__outputs_failed(m->outputs)) {
                /* What is stored now, all of whose outputs were just seen delivered; not
                 * what may be stored by the time librdkafka sends the commit. */
                if (m->stored_dirty)
                    brook__member_commit(m, m->stored, true);
                m->stored_dirty = false;
                batch_done = false; /* else tried again at once: the group may be rejoining */
            }
            now = brook__now_ms();
            next_commit = brook__add_ms(now, interval);
        }
        if (m->batch) {
            /* A batch listener collects and handles a batch per turn (consume/batch.c). */
            if (brook__batch_step(m) && batch)
                batch_done = true;
            continue;
        }
        rd_kafka_message_t *msg = m->eos && !paused ? brook__eos_next_replay(m) : NULL;
        if (msg) {
            brook__eos_handle(m, msg);
            continue;
        }
        bool released = !m->eos && !paused && !quiet && handle_released(m);
        msg = rd_kafka_consumer_poll(m->rk, in_batch || released ? 0 : brook__eos_wait_ms(m, 100));
        if (!msg) {
            /* ack "batch" (Spring's AckMode.BATCH): what the poll returned is handled, so it is
             * committed now, through the periodic commit (which waits for the outputs). */
            if (batch && in_batch) {
                store_pending(m);
                batch_done = true;
            }
            in_batch = false;
            continue;
        }
        in_batch = true;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: %s", l->decl->id, m->index,
                          rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (!quiet && brook__recover_intercept(m->recover, msg))
            continue; /* held back: a retry record not yet due */
        if (m->eos)
            brook__eos_handle(m, msg);
        else if (!handle_message(m, msg, quiet))
            rd_kafka_message_destroy(msg);
        if (m->control.seek_count)
            brook__seek_apply(m); /* the handler's seeks, once its record is done */
    }
    /* Out of the loop while the app runs: a newer instance fenced this member. It waits below
     * for the stop like the others, so its thread ending cannot tell health about it. */
    bool alone = brook__control_stopping_alone(m); /* brook_listener_stop, not the app's */
    if (atomic_load(&c->running) && !alone)
        atomic_store(&m->fenced, true);
    brook__outputs_bind(NULL);
    brook__batch_drop(m); /* what a batch listener collected and did not handle */
    if (atomic_load(&c->crashing)) {
        drop_pending(m);
        brook__recover_drop(m->recover);
        return;
    }
    store_pending(m);
    brook__recover_drop(m->recover);
    pause_for_stop(m);
    /* Not in the middle of a join: its LeaveGroup would wait behind it (control.c). */
    brook__control_settle(m, brook__control_stop_deadline(m));
    if (m->eos) {
        int rc = brook__eos_finish(m, false, NULL);
        if (rc)
            m->stop_err = rc;
    } else {
        commit_on_stop(m, brook__control_stop_deadline(m));
    }
    if (alone) {
        /* The same, among the listener's members only. */
        brook__control_stop_barrier(m);
        if (!atomic_load(&c->crashing))
            brook__control_leave(m);
        return;
    }
    /* Every member of the app commits before any leaves: the first to leave starts a
     * rebalance, during which the others' commits would be refused. Meanwhile this member
     * keeps polling (paused), so a rebalance that a sibling's retried commit waits for can
     * complete. */
    pthread_mutex_lock(&c->stop_lock);
    c->stop_committed++;
    pthread_cond_broadcast(&c->stop_cond);
    while (!c->stop_may_close) {
        pthread_mutex_unlock(&c->stop_lock);
        brook__member_poll_paused(m);
        pthread_mutex_lock(&c->stop_lock);
    }
    pthread_mutex_unlock(&c->stop_lock);
    brook__control_leave(m); /* unsubscribe and close: librdkafka 2.0.2 (control.c) */
}

static void *member_main(void *arg) {
    brook__member_t *m = arg;
    brook__log_service(m->listener->consume->decl->name);
    member_run(m);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

brook__consume_t *brook__consume_new(const brook_decl_t *d, brook_app_t *app) {
    brook__consume_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->decl = d;
    c->app = app;
    c->listeners = calloc(d->listener_count ? d->listener_count : 1, sizeof(*c->listeners));
    if (!c->listeners) {
        free(c);
        return NULL;
    }
    c->count = d->listener_count;
    for (size_t i = 0; i < c->count; i++) {
        c->listeners[i].consume = c;
        c->listeners[i].decl = &d->listeners[i];
        brook__control_init(&c->listeners[i]);
    }
    pthread_mutex_init(&c->stop_lock, NULL);
    brook__cond_init_monotonic(&c->stop_cond);
    return c;
}

size_t brook__consume_count(const brook__consume_t *c) {
    return c->count;
}

brook_listener_t *brook__consume_at(brook__consume_t *c, size_t i) {
    return i < c->count ? &c->listeners[i] : NULL;
}

brook_listener_t *brook__consume_find(brook__consume_t *c, const char *id) {
    for (size_t i = 0; i < c->count; i++)
        if (!strcmp(c->listeners[i].decl->id, id))
            return &c->listeners[i];
    return NULL;
}

int brook__consume_set_handler(brook__consume_t *c, const char *id, brook_handler_fn *fn,
                               void *opaque) {
    brook_listener_t *l = brook__consume_find(c, id);
    if (!l)
        return BROOK_ERR_NOT_FOUND;
    if (l->decl->batch)
        return BROOK_ERR_INVALID_ARG; /* brook_app_set_batch_handler */
    l->handler = fn;
    l->handler_opaque = opaque;
    return 0;
}

static int member_conf(brook__member_t *m, rd_kafka_conf_t *conf, brook_error_t *err) {
    brook_listener_t *l = m->listener;
    brook__consume_t *c = l->consume;
    const brook_decl_listener_t *d = l->decl;
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-%s-%d", c->decl->name, d->id, m->index);
    struct {
        const char *name, *value;
    } props[] = {
        {"bootstrap.servers", c->env.bootstrap},
        {"client.id", client_id},
        {"group.id", d->group},
        /* Brook commits stored offsets itself, asynchronously every commit_interval_ms from
         * the poll thread: librdkafka's auto-commit would also commit at destroy, and a
         * crash must not. */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", d->start_from == BROOK_START_LATEST ? "latest" : "earliest"},
        {"enable.partition.eof", "false"},
        {"isolation.level",
         d->isolation == BROOK_ISOLATION_READ_UNCOMMITTED ? "read_uncommitted" : "read_committed"},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) && !rc; i++)
        rc = brook__kafka_conf_set(conf, props[i].name, props[i].value, err);
    if (!rc)
        rc = brook__kafka_consumer_defaults(conf, c->decl, d, c->env.embedded, err);
    if (!rc)
        rc = brook__kafka_apply_user(c->decl, conf, false, err);
    /* After the user's "debug", which it extends. */
    if (!rc)
        rc = brook__kafka_track_join_state(conf, &m->join, c->decl, err);
    return rc;
}

static int member_start(brook__member_t *m, rd_kafka_topic_partition_list_t *sub,
                        brook_error_t *err) {
    brook_listener_t *l = m->listener;
    brook__consume_t *c = l->consume;
    const brook_decl_listener_t *d = l->decl;
    m->ctx.member = m;
    /* A listener started again (control.c) keeps its owned list, outputs and pending array. */
    if (!m->owned) {
        pthread_mutex_init(&m->owned_lock, NULL);
        if (!(m->owned = rd_kafka_topic_partition_list_new(8)))
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    if (d->ack == BROOK_ACK_BATCH && !m->pending) {
        m->pending_cap = 500;
        if (!(m->pending = calloc(m->pending_cap, sizeof(*m->pending))))
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    if ((!m->outputs && !(m->outputs = brook__outputs_new(c->env.producer))) ||
        !(m->stored = rd_kafka_topic_partition_list_new(8)))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    int rc = brook__eos_start(m, err);
    if (!rc)
        rc = brook__batch_start(m, err);
    if (rc)
        return rc;
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, m);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rc = member_conf(m, conf, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    char errstr[512];
    m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "listener %s: %s", d->id, errstr);
    }
    if (!(m->recover = brook__recover_new(m->rk, d, c->env.producer)))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    brook__recover_set_env(m->recover, c->decl, c->env.bootstrap, store_elsewhere, m);
    rd_kafka_poll_set_consumer(m->rk);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(m->rk, sub);
    if (kerr)
        return brook_error_set(err, kerr, "listener %s: subscribe: %s", d->id,
                               rd_kafka_err2str(kerr));
    return 0;
}

static int listener_start(brook_listener_t *l, brook_error_t *err) {
    brook__consume_t *c = l->consume;
    const brook_decl_listener_t *d = l->decl;
    int rc = brook__serde_resolve(&l->key, c->env.types, &d->key, c->decl->source,
                                  BROOK_AVRO_FRAMING_SINGLE_OBJECT, 0, err);
    if (!rc)
        rc = brook__serde_resolve(&l->value, c->env.types, &d->value, c->decl->source,
                                  BROOK_AVRO_FRAMING_SINGLE_OBJECT, 0, err);
    if (rc)
        return rc;
    if (d->batch ? !l->batch_handler : !l->handler)
        return brook_error_set(err, BROOK_ERR_STATE,
                               "%s:%d: listener \"%s\": no handler bound (handler \"%s\")",
                               c->decl->source, d->line, d->id, d->handler);
    if ((rc = brook__replier_start(l, err)))
        return rc;
    l->members = calloc((size_t)d->concurrency, sizeof(*l->members));
    if (!l->members)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    l->member_count = d->concurrency;
    /* Unless declared auto_startup = false (then brook_listener_start launches it). */
    return brook__control_start_declared(l, err);
}

int brook__listener_launch(brook_listener_t *l, brook_error_t *err) {
    const brook_decl_listener_t *d = l->decl;
    int rc = 0;
    /* Subscription: declared topics, their retry topics, or the pattern. */
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    if (d->topic_pattern) {
        char pattern[1024];
        snprintf(pattern, sizeof(pattern), "%s%s", d->topic_pattern[0] == '^' ? "" : "^",
                 d->topic_pattern);
        rd_kafka_topic_partition_list_add(sub, pattern, RD_KAFKA_PARTITION_UA);
    }
    for (size_t i = 0; i < d->topic_count; i++)
        rd_kafka_topic_partition_list_add(sub, d->topics[i], RD_KAFKA_PARTITION_UA);
    brook__recover_subscription(d, sub);
    for (int i = 0; i < l->member_count && !rc; i++) {
        l->members[i].listener = l;
        l->members[i].index = i;
        rc = member_start(&l->members[i], sub, err);
    }
    rd_kafka_topic_partition_list_destroy(sub);
    if (rc)
        return rc;
    for (int i = 0; i < l->member_count; i++) {
        brook__member_t *m = &l->members[i];
        if (pthread_create(&m->thread, NULL, member_main, m))
            return brook_error_set(err, BROOK_ERR_STATE, "listener %s: cannot start thread", d->id);
        m->thread_started = true;
    }
    brook_log(BROOK_LOG_INFO, "listener", "%s: %d member(s) in group %s, ack %s", d->id,
              l->member_count, d->group, brook_decl_ack_name(d->ack));
    return 0;
}

int brook__consume_start(brook__consume_t *c, const brook__consume_env_t *env, brook_error_t *err) {
    c->env = *env;
    atomic_store(&c->running, true);
    int rc = 0;
    for (size_t i = 0; i < c->count && !rc; i++)
        rc = listener_start(&c->listeners[i], err);
    return rc;
}

static void join_members(brook__consume_t *c) {
    for (size_t i = 0; i < c->count; i++)
        for (int k = 0; k < c->listeners[i].member_count; k++) {
            brook__member_t *m = &c->listeners[i].members[k];
            if (m->thread_started) {
                pthread_join(m->thread, NULL);
                m->thread_started = false;
            }
        }
}

int brook__consume_stop(brook__consume_t *c, int64_t deadline, bool crash,
                        brook__producer_t *producer) {
    int rc = 0;
    /* No listener starts or stops alone from now on (control.c). */
    int members = brook__control_app_stopping(c);
    c->stop_deadline = deadline;
    if (crash)
        atomic_store(&c->crashing, true);
    atomic_store(&c->running, false);
    if (crash) {
        brook__producer_purge(producer);
    } else {
        struct timespec until = brook__deadline_ts(deadline);
        pthread_mutex_lock(&c->stop_lock);
        while (c->stop_committed < members &&
               pthread_cond_timedwait(&c->stop_cond, &c->stop_lock, &until) == 0)
            ;
        if (c->stop_committed < members) {
            brook_log(BROOK_LOG_WARN, "app",
                      "%s: %d of %d listener member(s) not done within shutdown_timeout_ms",
                      c->decl->name, members - c->stop_committed, members);
            brook__producer_purge(producer);
            rc = BROOK_ERR_TIMEOUT;
        }
        c->stop_may_close = true;
        pthread_cond_broadcast(&c->stop_cond);
        pthread_mutex_unlock(&c->stop_lock);
    }
    join_members(c);
    for (size_t i = 0; i < c->count && !rc && !crash; i++)
        for (int k = 0; k < c->listeners[i].member_count && !rc; k++)
            rc = c->listeners[i].members[k].stop_err;
    return rc;
}

/* After a crash: the member's thread stopped polling at once, and a rebalance event may have
 * been queued for it since. librdkafka 2.0.2's destroy waits for a pending assignment to be
 * answered even when told not to close the consumer (it hung for good), so what is queued is
 * served (rebalance_cb answers without rebuilding or committing) and the records fetched are
 * dropped, for at most a second. */
static void drain_after_crash(brook__member_t *m) {
    int64_t deadline = brook__now_ms() + 1000;
    rd_kafka_message_t *msg;
    while ((msg = rd_kafka_consumer_poll(m->rk, 0)) && brook__now_ms() < deadline)
        rd_kafka_message_destroy(msg);
    if (msg)
        rd_kafka_message_destroy(msg);
}

void brook__consume_free(brook__consume_t *c) {
    if (!c)
        return;
    join_members(c);
    bool crashing = atomic_load(&c->crashing);
    for (size_t i = 0; i < c->count; i++) {
        brook_listener_t *l = &c->listeners[i];
        for (int k = 0; k < l->member_count; k++) {
            brook__member_t *m = &l->members[k];
            if (m->rk && crashing)
                drain_after_crash(m);
            /* First: they hold records of the consumer, whose destroy waits for them. */
            brook__eos_free(m);
            brook__batch_free(m);
            if (m->rk)
                rd_kafka_destroy_flags(m->rk, crashing ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
            brook__recover_free(m->recover);
            brook__outputs_free(m->outputs);
            if (m->stored)
                rd_kafka_topic_partition_list_destroy(m->stored);
            if (m->owned) {
                rd_kafka_topic_partition_list_destroy(m->owned);
                pthread_mutex_destroy(&m->owned_lock);
            }
            brook__decoded_free(&l->key, &m->key_dec);
            brook__decoded_free(&l->value, &m->value_dec);
            free(m->headers);
            free(m->pending);
        }
        brook__replier_free(l);
        brook__control_free(l);
        free(l->members);
        brook__listener_free_interceptors(l);
    }
    free(c->listeners);
    pthread_cond_destroy(&c->stop_cond);
    pthread_mutex_destroy(&c->stop_lock);
    free(c);
}

/* ---- listeners (brook.h) -------------------------------------------------------------------- */

void brook_listener_stats(const brook_listener_t *l, brook_listener_stats_t *out) {
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!l)
        return;
    out->handled = atomic_load(&l->handled);
    out->failed = atomic_load(&l->failed);
    out->retried = atomic_load(&l->retried);
    out->dead_lettered = atomic_load(&l->dead_lettered);
    out->rebalances = atomic_load(&l->rebalances);
    out->filtered = atomic_load(&l->filtered);
    out->revokes_uncommitted = atomic_load(&l->revokes_uncommitted);
    out->transactions = atomic_load(&l->transactions);
    out->aborted_transactions = atomic_load(&l->aborted_transactions);
    out->batches = atomic_load(&l->batches);
}

const char *brook_listener_id(const brook_listener_t *l) {
    return l ? l->decl->id : NULL;
}

bool brook_listener_assigned(const brook_listener_t *l) {
    if (!l || !l->member_count)
        return false;
    for (int i = 0; i < l->member_count; i++)
        if (!atomic_load(&l->members[i].assigned))
            return false;
    return true;
}
