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

#include "app_int.h"
#include "retry.h"

/* Properties that mean something to one client type only; applying them to the other makes
 * librdkafka warn at every start. */
static const char *const producer_only[] = {"linger.ms",
                                            "queue.buffering.max.ms",
                                            "batch.size",
                                            "batch.num.messages",
                                            "compression.type",
                                            "compression.codec",
                                            "acks",
                                            "request.required.acks",
                                            "enable.idempotence",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "retries",
                                            "message.send.max.retries",
                                            "retry.backoff.ms",
                                            "partitioner",
                                            "transactional.id",
                                            "transaction.timeout.ms",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "sticky.partitioning.linger.ms",
                                            NULL};
static const char *const consumer_only[] = {"group.id",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "max.poll.interval.ms",
                                            "auto.offset.reset",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "fetch.min.bytes",
                                            "fetch.wait.max.ms",
                                            "fetch.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "partition.assignment.strategy",
                                            "isolation.level",
                                            "group.instance.id",
                                            "enable.partition.eof",
                                            "check.crcs",
                                            "allow.auto.create.topics",
                                            NULL};

static bool in_list(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

/* Properties Brook sets itself because its guarantees rest on them, and where to say instead
 * what they would say. */
static const struct {
    const char *name, *instead;
} brook_owned[] = {
    {"enable.auto.commit", "commits follow the listener's ack mode"},
    {"enable.auto.offset.store", "offsets are stored once a record is done"},
    {"group.id", "use listeners[].group"},
    {"bootstrap.servers", "use service.bootstrap or BROOK_BOOTSTRAP"},
};

int brook__apply_user_kafka(const brook_app_t *app, rd_kafka_conf_t *conf, bool producer,
                            brook_error_t *err) {
    const brook_decl_t *d = app->decl;
    for (size_t i = 0; i < d->kafka_count; i++) {
        const char *name = d->kafka[i].name;
        for (size_t k = 0; k < sizeof(brook_owned) / sizeof(brook_owned[0]); k++)
            if (!strcmp(name, brook_owned[k].name))
                return brook_error_set(err, BROOK_ERR_DECL,
                                       "%s:%d: service.kafka: %s is set by "
                                       "Brook (%s)",
                                       d->source, d->kafka[i].line, name, brook_owned[k].instead);
        if (in_list(producer ? consumer_only : producer_only, name))
            continue;
        int rc = brook__kafka_conf_set(conf, name, d->kafka[i].value, err);
        if (rc)
            return rc;
    }
    return 0;
}

static bool has_user_kafka(const brook_app_t *app, const char *name) {
    return brook_decl_kafka_value(app->decl, name) != NULL;
}

/* ---- offsets --------------------------------------------------------------------------------- */

/* Stores msg's offset + 1 for the next commit. */
static void store_offset(const rd_kafka_message_t *msg) {
    rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
}

static void store_pending(brook__member_t *m) {
    for (size_t i = 0; i < m->pending_count; i++) {
        store_offset(m->pending[i]);
        rd_kafka_message_destroy(m->pending[i]);
    }
    m->pending_count = 0;
}

static void drop_pending(brook__member_t *m) {
    for (size_t i = 0; i < m->pending_count; i++)
        rd_kafka_message_destroy(m->pending[i]);
    m->pending_count = 0;
}

/* Waits until every record this member's handlers sent is delivered (or failed for good),
 * until `deadline`. An input's offset is committed only once the outputs of its handler are
 * durable: otherwise a crash could keep the input committed and lose the output. */
static bool drain(brook__member_t *m, int64_t deadline) {
    while (atomic_load(&m->inflight) > 0) {
        if (brook__now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* The longest a rebalance or a per-record commit waits for the member's sends. */
#define DRAIN_MAX_MS 10000

/* Waits for the member's sends; true when they were all delivered, so what was handled may
 * be committed. */
static bool outputs_durable(brook__member_t *m, int64_t deadline, const char *why) {
    if (!drain(m, deadline)) {
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: no commit on %s: %d record(s) sent by handlers still undelivered "
                  "(their inputs will be delivered again)",
                  m->listener->decl->id, m->index, why, atomic_load(&m->inflight));
        return false;
    }
    if (atomic_load(&m->output_failed)) {
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: no commit on %s: a record sent by a handler was not delivered (its "
                  "input will be delivered again)",
                  m->listener->decl->id, m->index, why);
        return false;
    }
    return true;
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
        rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, parts, 0);
        if (e)
            rd_kafka_error_destroy(e);
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s[%d]: a handler's output was not delivered: %d partition(s) go back to "
                  "their committed offsets",
                  m->listener->decl->id, m->index, parts->cnt);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void commit_sync(brook__member_t *m, const char *why, int64_t deadline) {
    if (!outputs_durable(m, deadline, why))
        return;
    rd_kafka_resp_err_t err = rd_kafka_commit(m->rk, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: commit on %s failed: %s",
                  m->listener->decl->id, m->index, why, rd_kafka_err2str(err));
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

static void poll_paused(brook__member_t *m) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 50);
    if (msg)
        rd_kafka_message_destroy(msg);
}

/* The commit at a graceful stop. If the group rebalanced meanwhile, the commit is refused for
 * its old generation: then the member polls (paused) until it has rejoined, keeping its
 * partitions under cooperative assignment, and commits again, until the stop deadline. */
static void commit_on_stop(brook__member_t *m, int64_t deadline) {
    if (!outputs_durable(m, deadline, "stop"))
        return;
    rd_kafka_resp_err_t err = rd_kafka_commit(m->rk, NULL, 0);
    while (generation_moved(err) && brook__now_ms() < deadline) {
        poll_paused(m);
        if (atomic_load(&m->group_steady))
            err = rd_kafka_commit(m->rk, NULL, 0);
    }
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: commit on stop failed: %s",
                  m->listener->decl->id, m->index, rd_kafka_err2str(err));
}

/* msg is done with: store its offset as the ack mode says. Returns true when msg was kept
 * (batch ack holds it until the batch ends) and must not be destroyed by the caller. */
static bool member_done(brook__member_t *m, rd_kafka_message_t *msg, bool recovered) {
    switch (m->listener->decl->ack) {
    case BROOK_ACK_RECORD:
        store_offset(msg);
        break;
    case BROOK_ACK_RECORD_SYNC:
        store_offset(msg);
        /* Not while the member rejoins (see member_log_cb): the next commit takes it. */
        if (atomic_load(&m->group_steady))
            commit_sync(m, "record", brook__now_ms() + DRAIN_MAX_MS);
        break;
    case BROOK_ACK_MANUAL:
        /* The handler acks what it handled; a record given to a retry topic or the DLT is
         * done on its behalf. */
        if (recovered)
            store_offset(msg);
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
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_fetch_add(&l->rebalances, 1);
        atomic_store(&m->assigned, true);
        brook_log(BROOK_LOG_DEBUG, "listener", "%s[%d]: assigned %d partition(s)", l->decl->id,
                  m->index, parts->cnt);
        brook__retry_assigned(m, parts);
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        if (atomic_load(&m->stopping))
            rd_kafka_pause_partitions(rk, parts); /* rejoining only to commit (stop) */
        return;
    }
    /* Revoked (or lost): what was handled is committed before the partitions go. */
    brook_log(BROOK_LOG_DEBUG, "listener", "%s[%d]: revoking %d partition(s)", l->decl->id,
              m->index, parts->cnt);
    brook__retry_revoked(m, parts);
    if (atomic_load(&l->app->crashing)) {
        drop_pending(m);
    } else {
        store_pending(m);
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk))
            commit_sync(m, "revoke", brook__now_ms() + DRAIN_MAX_MS);
    }
    if (cooperative)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
}

/* ---- handling -----------------------------------------------------------------------------------
 */

/* librdkafka parses a record's header block (allocating a list even for an empty one) when
 * asked for it: ask only when the handler or the retry path looks. */
void brook__ctx_headers(brook_ctx_t *ctx) {
    if (ctx->headers_ready || !ctx->msg)
        return;
    ctx->headers_ready = true;
    brook__member_t *m = ctx->member;
    brook_record_t *r = &ctx->record;
    rd_kafka_message_t *msg = ctx->msg;
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t n = rd_kafka_header_cnt(hdrs);
        if (n > m->headers_cap) {
            brook_header_t *h = realloc(m->headers, n * sizeof(*h));
            if (!h)
                n = m->headers_cap;
            else {
                m->headers = h;
                m->headers_cap = n;
            }
        }
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *value;
            size_t size;
            if (rd_kafka_header_get_all(hdrs, i, &name, &value, &size))
                break;
            m->headers[i].name = name;
            m->headers[i].value = value;
            m->headers[i].len = size;
            r->header_count = i + 1;
        }
        r->headers = m->headers;
    }
}

static void fill_record(brook__member_t *m, rd_kafka_message_t *msg) {
    brook_record_t *r = &m->ctx.record;
    rd_kafka_timestamp_type_t tstype;
    r->topic = rd_kafka_topic_name(msg->rkt);
    r->partition = msg->partition;
    r->offset = msg->offset;
    r->timestamp = rd_kafka_message_timestamp(msg, &tstype);
    r->timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? BROOK_TS_CREATE_TIME
                        : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? BROOK_TS_LOG_APPEND_TIME
                                                                       : BROOK_TS_NONE;
    r->key = msg->key;
    r->key_len = msg->key_len;
    r->value = msg->payload;
    r->value_len = msg->len;
    r->headers = NULL;
    r->header_count = 0;
    m->ctx.headers_ready = false;
    m->ctx.msg = msg;
    m->ctx.acked = false;
    m->ctx.failure_name[0] = 0;
    m->ctx.failure_message[0] = 0;
}

/* Decodes and runs the handler once. A record that cannot be decoded is BROOK_FAIL with
 * brook.DeserializationError: retrying cannot help it. */
brook_result_t brook__member_invoke(brook__member_t *m) {
    brook_listener_t *l = m->listener;
    brook_ctx_t *ctx = &m->ctx;
    const brook_record_t *r = &ctx->record;
    const void *key, *value;
    brook_error_t err = {0};
    brook_result_t res;
    ctx->failure_name[0] = 0;
    ctx->failure_message[0] = 0;
    if (brook__serde_decode(&l->key, r->key, r->key_len, &m->key_dec, &key, &err) ||
        brook__serde_decode(&l->value, r->value, r->value_len, &m->value_dec, &value, &err)) {
        snprintf(ctx->failure_name, sizeof(ctx->failure_name), "brook.DeserializationError");
        snprintf(ctx->failure_message, sizeof(ctx->failure_message), "%s", err.message);
        res = BROOK_FAIL;
    } else {
        res = l->handler(ctx, key, value, l->handler_opaque);
        if (res != BROOK_OK && res != BROOK_RETRY && res != BROOK_FAIL) {
            brook_log(BROOK_LOG_WARN, "listener", "%s: handler returned %d, taken as FAIL",
                      l->decl->id, (int)res);
            res = BROOK_FAIL;
        }
    }
    brook__decoded_clear(&l->key, &m->key_dec);
    brook__decoded_clear(&l->value, &m->value_dec);
    if (res == BROOK_OK)
        atomic_fetch_add(&l->handled, 1);
    else
        atomic_fetch_add(&l->failed, 1);
    return res;
}

/* Handles msg; returns true when msg is kept (see member_done) and must not be destroyed. */
static bool handle_message(brook__member_t *m, rd_kafka_message_t *msg) {
    fill_record(m, msg);
    m->ctx.attempt = brook__retry_attempt_of(m, &m->ctx.record);
    brook_result_t res = brook__member_invoke(m);
    if (res == BROOK_OK) {
        brook__retry_succeeded(m, &m->ctx.record);
        return member_done(m, msg, false);
    }
    if (brook__retry_failed(m, msg, res))
        return member_done(m, msg, true);
    return false;
}

/* Runs on the member's thread, inside poll: an asynchronous commit finished. Refusals while
 * the group rebalances are expected; the offsets stay stored for the next commit. */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    brook__member_t *m = opaque;
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    bool rebalancing = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                       err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
    brook_log(rebalancing ? BROOK_LOG_DEBUG : BROOK_LOG_WARN, "listener",
              "%s[%d]: commit failed: %s (stored offsets are committed again at the next "
              "interval)",
              m->listener->decl->id, m->index, rd_kafka_err2str(err));
}

/*
 * librdkafka 2.0 sends a commit whenever asked, even while the member is rejoining the
 * group. Such a commit waits behind the JoinGroup on the coordinator connection, comes back
 * ILLEGAL_GENERATION, and librdkafka then drops the member's whole assignment: its partitions
 * are redelivered from the last commit. So periodic commits are sent only while the member's
 * join state is "steady". librdkafka tells its join state only in its "cgrp" debug lines, so
 * members enable that context and read CGRPJOINSTATE lines here (on librdkafka's threads);
 * the debug lines the user did not ask for go no further.
 */
static void member_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    brook__member_t *m = rd_kafka_opaque(rk);
    if (m && !strcmp(fac, "CGRPJOINSTATE")) {
        const char *to = strstr(buf, "-> ");
        if (to)
            atomic_store(&m->group_steady, !strncmp(to + 3, "steady ", 7));
    }
    if (level >= 7 && m && !m->listener->app->user_debug)
        return;
    brook__kafka_log(rk, level, fac, buf);
}

static void *member_main(void *arg) {
    brook__member_t *m = arg;
    brook_listener_t *l = m->listener;
    brook_app_t *app = l->app;
    bool batch = l->decl->ack == BROOK_ACK_BATCH;
    bool in_batch = false;
    int64_t interval = app->decl->commit_interval_ms;
    int64_t next_commit = brook__add_ms(brook__now_ms(), interval);
    brook__template_set_member(m);
    while (atomic_load(&app->running)) {
        brook__retry_tick(m);
        int64_t now = brook__now_ms();
        if (now >= next_commit) {
            if (batch)
                store_pending(m);
            /* Waits at most a commit interval for the handlers' sends; else next time. */
            if (atomic_load(&m->output_failed)) {
                if (drain(m, brook__add_ms(now, interval))) {
                    atomic_store(&m->output_failed, false);
                    rewind_to_committed(m);
                }
            } else if (atomic_load(&m->group_steady) && drain(m, brook__add_ms(now, interval)) &&
                       !atomic_load(&m->output_failed)) {
                rd_kafka_commit(m->rk, NULL, 1);
            }
            now = brook__now_ms();
            next_commit = brook__add_ms(now, interval);
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, in_batch ? 0 : 100);
        if (!msg) {
            if (batch)
                store_pending(m);
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
        if (brook__retry_intercept(m, msg))
            continue; /* held back: a retry record not yet due */
        if (!handle_message(m, msg))
            rd_kafka_message_destroy(msg);
    }
    if (atomic_load(&app->crashing)) {
        drop_pending(m);
        brook__retry_drop(m);
        return NULL;
    }
    store_pending(m);
    brook__retry_drop(m);
    pause_for_stop(m);
    commit_on_stop(m, app->stop_deadline);
    /* Every member of the app commits before any leaves: the first to leave starts a
     * rebalance, during which the others' commits would be refused. Meanwhile this member
     * keeps polling (paused), so a rebalance that a sibling's retried commit waits for can
     * complete. */
    pthread_mutex_lock(&app->stop_lock);
    app->stop_committed++;
    pthread_cond_broadcast(&app->stop_cond);
    while (!app->stop_may_close) {
        pthread_mutex_unlock(&app->stop_lock);
        poll_paused(m);
        pthread_mutex_lock(&app->stop_lock);
    }
    pthread_mutex_unlock(&app->stop_lock);
    rd_kafka_consumer_close(m->rk);
    return NULL;
}

/* ---- lifecycle
 * ------------------------------------------------------------------------------------ */

int brook__listener_init(brook_listener_t *l, brook_app_t *app, const brook_decl_listener_t *d,
                         brook_error_t *err) {
    memset(l, 0, sizeof(*l));
    l->app = app;
    l->decl = d;
    return 0;
}

static int member_conf(brook__member_t *m, rd_kafka_conf_t *conf, brook_error_t *err) {
    brook_listener_t *l = m->listener;
    brook_app_t *app = l->app;
    const brook_decl_listener_t *d = l->decl;
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-%s-%d", app->decl->name, d->id, m->index);
    struct {
        const char *name, *value;
    } props[] = {
        {"bootstrap.servers", app->bootstrap},
        {"client.id", client_id},
        {"group.id", d->group},
        /* Brook commits stored offsets itself, asynchronously every commit_interval_ms from
         * the poll thread: librdkafka's auto-commit would also commit at destroy, and a
         * crash must not. */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", d->start_from == BROOK_START_LATEST ? "latest" : "earliest"},
        {"enable.partition.eof", "false"},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) && !rc; i++)
        rc = brook__kafka_conf_set(conf, props[i].name, props[i].value, err);
    /* The embedded cluster rebalances after session.timeout.ms - 1 s; Kafka's 45 s default
     * would make every join crawl. */
    if (!rc && app->cluster && !has_user_kafka(app, "session.timeout.ms"))
        rc = brook__kafka_conf_set(conf, "session.timeout.ms", "6000", err);
    if (!rc && app->cluster && !has_user_kafka(app, "heartbeat.interval.ms"))
        rc = brook__kafka_conf_set(conf, "heartbeat.interval.ms", "500", err);
    /* Incremental rebalancing: partitions that move are revoked (and committed) in a first
     * round while the group is stable, and handed over in a second; the others keep
     * flowing. With the eager protocol the revoke commit races the rebalance, and the
     * embedded cluster even refuses it. */
    if (!rc && !has_user_kafka(app, "partition.assignment.strategy"))
        rc =
            brook__kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err);
    /* The embedded cluster answers a fetch with no data only after fetch.wait.max.ms: with
     * the default 500 ms every hop of a chain of services would wait that long. Elsewhere, a
     * resumed partition's next fetch would otherwise wait behind one already in flight. */
    if (!rc && !has_user_kafka(app, "fetch.wait.max.ms") &&
        (app->cluster || (d->retry.declared && d->retry.attempts > 1)))
        rc = brook__kafka_conf_set(conf, "fetch.wait.max.ms", app->cluster ? "20" : "100", err);
    if (!rc && d->topic_pattern && !has_user_kafka(app, "topic.metadata.refresh.interval.ms"))
        rc = brook__kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "5000", err);
    if (!rc)
        rc = brook__apply_user_kafka(app, conf, false, err);
    if (!rc) {
        /* The join state comes with the "cgrp" debug lines (see member_log_cb). */
        char debug[512] = "";
        size_t size = sizeof(debug);
        rd_kafka_conf_get(conf, "debug", debug, &size);
        char with_cgrp[600];
        snprintf(with_cgrp, sizeof(with_cgrp), "%s%scgrp", debug, debug[0] ? "," : "");
        rc = brook__kafka_conf_set(conf, "debug", with_cgrp, err);
    }
    return rc;
}

int brook__listener_start(brook_listener_t *l, brook_error_t *err) {
    const brook_decl_listener_t *d = l->decl;
    int rc = brook__serde_resolve(&l->key, l->app, &d->key, BROOK_FRAMING_SINGLE_OBJECT, 0, err);
    if (!rc)
        rc =
            brook__serde_resolve(&l->value, l->app, &d->value, BROOK_FRAMING_SINGLE_OBJECT, 0, err);
    if (rc)
        return rc;
    if (!l->handler)
        return brook_error_set(err, BROOK_ERR_STATE,
                               "%s:%d: listener \"%s\": no handler bound (handler \"%s\")",
                               l->app->decl->source, d->line, d->id, d->handler);
    l->members = calloc((size_t)d->concurrency, sizeof(*l->members));
    if (!l->members)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    l->member_count = d->concurrency;

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
    brook__retry_subscription(l, sub);

    for (int i = 0; i < l->member_count && !rc; i++) {
        brook__member_t *m = &l->members[i];
        m->listener = l;
        m->index = i;
        m->ctx.member = m;
        if (d->ack == BROOK_ACK_BATCH) {
            m->pending_cap = 500;
            m->pending = calloc(m->pending_cap, sizeof(*m->pending));
            if (!m->pending) {
                rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
                break;
            }
        }
        if ((rc = brook__retry_member_init(m, err)))
            break;
        if (!(m->senders = brook__senders_new(m, l->app))) {
            rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
            break;
        }
        rd_kafka_conf_t *conf = brook__kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, member_log_cb);
        rd_kafka_conf_set_opaque(conf, m);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
        if ((rc = member_conf(m, conf, err))) {
            rd_kafka_conf_destroy(conf);
            break;
        }
        char errstr[512];
        m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!m->rk) {
            rd_kafka_conf_destroy(conf);
            rc = brook_error_set(err, BROOK_ERR_KAFKA, "listener %s: %s", d->id, errstr);
            break;
        }
        rd_kafka_poll_set_consumer(m->rk);
        rd_kafka_resp_err_t kerr = rd_kafka_subscribe(m->rk, sub);
        if (kerr) {
            rc = brook_error_set(err, kerr, "listener %s: subscribe: %s", d->id,
                                 rd_kafka_err2str(kerr));
            break;
        }
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

void brook__listener_join(brook_listener_t *l) {
    for (int i = 0; i < l->member_count; i++) {
        brook__member_t *m = &l->members[i];
        if (m->thread_started) {
            pthread_join(m->thread, NULL);
            m->thread_started = false;
        }
    }
}

void brook__listener_free(brook_listener_t *l) {
    brook__listener_join(l);
    for (int i = 0; i < l->member_count; i++) {
        brook__member_t *m = &l->members[i];
        if (m->rk)
            rd_kafka_destroy_flags(
                m->rk, atomic_load(&l->app->crashing) ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
        brook__retry_member_free(m);
        brook__decoded_free(&l->key, &m->key_dec);
        brook__decoded_free(&l->value, &m->value_dec);
        free(m->headers);
        free(m->pending);
        free(m->senders);
    }
    free(l->members);
    l->members = NULL;
    l->member_count = 0;
}

void brook_listener_stats(const brook_listener_t *l, brook_listener_stats_t *out) {
    out->handled = atomic_load(&l->handled);
    out->failed = atomic_load(&l->failed);
    out->retried = atomic_load(&l->retried);
    out->dead_lettered = atomic_load(&l->dead_lettered);
    out->rebalances = atomic_load(&l->rebalances);
}

const char *brook_listener_id(const brook_listener_t *l) {
    return l->decl->id;
}

bool brook_listener_assigned(const brook_listener_t *l) {
    if (!l->member_count)
        return false;
    for (int i = 0; i < l->member_count; i++)
        if (!atomic_load(&l->members[i].assigned))
            return false;
    return true;
}

/* ---- context ------------------------------------------------------------------------------------
 */

const brook_record_t *brook_ctx_record(const brook_ctx_t *ctx) {
    brook__ctx_headers((brook_ctx_t *)ctx);
    return &ctx->record;
}

int brook_ctx_header(const brook_ctx_t *ctx, const char *name, const void **value, size_t *len) {
    brook__ctx_headers((brook_ctx_t *)ctx);
    for (size_t i = 0; i < ctx->record.header_count; i++) {
        if (!strcmp(ctx->record.headers[i].name, name)) {
            if (value)
                *value = ctx->record.headers[i].value;
            if (len)
                *len = ctx->record.headers[i].len;
            return 1;
        }
    }
    return 0;
}

int brook_ctx_attempt(const brook_ctx_t *ctx) {
    return ctx->attempt;
}

brook_app_t *brook_ctx_app(brook_ctx_t *ctx) {
    return ctx->member->listener->app;
}

const char *brook_ctx_listener_id(const brook_ctx_t *ctx) {
    return ctx->member->listener->decl->id;
}

brook_result_t brook_ctx_fail(brook_ctx_t *ctx, const char *name, const char *fmt, ...) {
    snprintf(ctx->failure_name, sizeof(ctx->failure_name), "%s",
             name ? name : "brook.HandlerFailure");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->failure_message, sizeof(ctx->failure_message), fmt, ap);
        va_end(ap);
    }
    const brook_decl_retry_t *r = &ctx->member->listener->decl->retry;
    for (size_t i = 0; i < r->not_retryable_count; i++)
        if (!strcmp(r->not_retryable[i], ctx->failure_name))
            return BROOK_FAIL;
    return BROOK_RETRY;
}

void brook_ctx_ack(brook_ctx_t *ctx) {
    if (ctx->msg && !ctx->acked) {
        store_offset(ctx->msg);
        ctx->acked = true;
    }
}
