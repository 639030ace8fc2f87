/*
 * Batch listeners (docs/batch-listeners.md; Spring's batch @KafkaListener taking a
 * List<ConsumerRecord>, and its BatchListenerFailedException).
 *
 * A member collects records in the order it polls them (each partition's in offset order) until
 * it holds max_records or max_wait_ms have passed since the first, decodes them each into a slot
 * of its own, and calls the batch handler once. Then, by the handler's result:
 *
 *   - OK: every record's offset is stored.
 *   - a failure at index i (brook_batch_fail_at): the records before i are stored; record i goes
 *     through recover/ exactly as a single record would (blocking retry: its partition is
 *     paused and sought back to it; retry topic; DLT); the records after it are given back
 *     (their partitions sought back to the first of them), so they come again in a later
 *     batch. A record that comes back for a blocking retry is delivered in a batch of its own,
 *     so the records behind it are handled again once, not once per attempt.
 *   - a failure without an index: with blocking retries the batch is kept and handled again
 *     from memory after the backoff (the member's partitions paused meanwhile, as Spring pauses
 *     its container: nothing else is handled in between, so the records handled again are
 *     exactly the batch's), then each record is dead-lettered; with retry topics, or
 *     BROOK_FAIL, each record is recovered as if it had failed alone.
 *
 * A record that cannot be decoded ends the batch before it: the handler gets the records before
 * it, then the record goes to the DLT as a poison pill and the records after it are the next
 * batch (from memory). One whose writer schema cannot be fetched now waits
 * (brook__recover_wait) and the records after it are given back.
 *
 * Nothing is stored for records that are not done, so a stop, a crash or a revoke in between
 * leaves them to be delivered again; a revoke drops what was collected of its partitions.
 * Everything here runs on the member's poll thread (the rebalance callback included).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume/batch.h"
#include "core/core.h"

/* One record of the batch in hand. */
typedef struct {
    rd_kafka_message_t *msg;
    brook_record_t record;
    brook_header_t *headers; /* storage of record.headers, kept from batch to batch */
    size_t headers_cap;
    bool headers_ready;
    int attempt;
} item_t;

/* Where a record's key and value are decoded: each record of a batch has its own. */
typedef struct {
    brook__decoded_t key, value;
} slot_t;

/* The handler's view (brook.h): the records of the call. */
struct brook_batch_s {
    brook__member_t *member;
    item_t *items;
    size_t n;
    bool index_set; /* brook_batch_fail_at named a record */
    size_t index;
    char name[128];
    char message[512];
};

typedef struct brook__batch_s {
    brook_batch_t view;
    item_t *items; /* items, slots, keys and values: cap each, position by position */
    slot_t *slots;
    const void **keys, **values;
    size_t count, cap;
    /* Polled after the batch was full or ended: the first record of the next one. */
    rd_kafka_message_t *carry;
    /* A batch that failed as a whole waits in memory for its retry (blocking retries), with
     * the partitions it paused for the wait. */
    bool waiting;
    int64_t due_ms;
    rd_kafka_topic_partition_list_t *paused;
} brook__batch_t;

/* ---- the records in hand ------------------------------------------------------------------- */

static bool grow(brook__batch_t *b, size_t need) {
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    item_t *items = realloc(b->items, cap * sizeof(*items));
    if (!items)
        return false;
    b->items = items;
    memset(items + b->cap, 0, (cap - b->cap) * sizeof(*items));
    slot_t *slots = realloc(b->slots, cap * sizeof(*slots));
    if (!slots)
        return false;
    b->slots = slots;
    memset(slots + b->cap, 0, (cap - b->cap) * sizeof(*slots));
    const void **keys = realloc(b->keys, cap * sizeof(*keys));
    if (!keys)
        return false;
    b->keys = keys;
    const void **values = realloc(b->values, cap * sizeof(*values));
    if (!values)
        return false;
    b->values = values;
    b->cap = cap;
    return true;
}

static void item_headers(item_t *it) {
    if (it->headers_ready)
        return;
    it->headers_ready = true;
    brook__kafka_record_headers(it->msg, &it->record, &it->headers, &it->headers_cap);
}

static void item_set(brook__member_t *m, item_t *it, rd_kafka_message_t *msg) {
    it->msg = msg;
    brook__kafka_record(msg, &it->record);
    it->headers_ready = false;
    if (brook__recover_reads_headers(m->recover))
        item_headers(it);
    it->attempt = brook__recover_attempt_of(m->recover, &it->record);
}

/* Exchanges two positions, so that each header storage stays owned by one item. */
static void item_swap(brook__batch_t *b, size_t i, size_t j) {
    if (i == j)
        return;
    item_t t = b->items[i];
    b->items[i] = b->items[j];
    b->items[j] = t;
}

/* Destroys the records outside [from, to) and moves those in it to the front. */
static void keep_only(brook__batch_t *b, size_t from, size_t to) {
    for (size_t i = 0; i < b->count; i++)
        if ((i < from || i >= to) && b->items[i].msg) {
            rd_kafka_message_destroy(b->items[i].msg);
            b->items[i].msg = NULL;
        }
    for (size_t i = from; i < to; i++)
        item_swap(b, i - from, i);
    b->count = to - from;
}

static bool same_partition(const rd_kafka_message_t *a, const rd_kafka_message_t *b) {
    return a->partition == b->partition &&
           !strcmp(rd_kafka_topic_name(a->rkt), rd_kafka_topic_name(b->rkt));
}

/* The records from `from` on (and the carried one) were not done: their partitions go back
 * to the first of them, so that they come again. `held`: a record whose partition recover/
 * has just sought back to it (a blocking retry, a failed forward, a wait): left alone. */
static void give_back(brook__member_t *m, size_t from, const item_t *held) {
    brook__batch_t *b = m->batch;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = from; i <= b->count && parts; i++) {
        const rd_kafka_message_t *msg = i < b->count ? b->items[i].msg : b->carry;
        if (!msg || (held && same_partition(msg, held->msg)))
            continue;
        const char *topic = rd_kafka_topic_name(msg->rkt);
        /* Poll order: the first record of a partition met is its lowest. */
        if (!rd_kafka_topic_partition_list_find(parts, topic, msg->partition))
            rd_kafka_topic_partition_list_add(parts, topic, msg->partition)->offset = msg->offset;
    }
    if (b->carry) {
        rd_kafka_message_destroy(b->carry);
        b->carry = NULL;
    }
    if (!parts) {
        brook_log(BROOK_LOG_ERROR, "listener", "%s[%d]: out of memory giving records back",
                  m->listener->decl->id, m->index);
        return;
    }
    if (parts->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(m->rk, parts, 0);
        if (e) {
            brook_log(BROOK_LOG_ERROR, "listener", "%s[%d]: seek back: %s", m->listener->decl->id,
                      m->index, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* ---- pausing for a whole batch's retry ------------------------------------------------------ */

static void note_paused(brook__batch_t *b, const char *topic, int32_t partition) {
    if (b->paused && !rd_kafka_topic_partition_list_find(b->paused, topic, partition))
        rd_kafka_topic_partition_list_add(b->paused, topic, partition);
}

static void pause_all(brook__member_t *m) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(m->rk, &parts) || !parts)
        return;
    rd_kafka_pause_partitions(m->rk, parts);
    for (int i = 0; i < parts->cnt; i++)
        note_paused(m->batch, parts->elems[i].topic, parts->elems[i].partition);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* The wait is over: what it paused resumes, except what recover/ holds for its own reasons, and
 * nothing while the listener is paused (brook_listener_resume resumes it all). */
static void resume_paused(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    if (!b->paused || !b->paused->cnt)
        return;
    if (brook__control_paused(&m->control)) {
        rd_kafka_topic_partition_list_destroy(b->paused);
        b->paused = rd_kafka_topic_partition_list_new(8);
        return;
    }
    brook__control_resume(m, b->paused);
    rd_kafka_topic_partition_list_destroy(b->paused);
    b->paused = rd_kafka_topic_partition_list_new(8);
}

/* A record polled while the member waits (a partition assigned meanwhile, or one recover/
 * resumed): its partition waits too, sought back to it. */
static void hold_back(brook__member_t *m, rd_kafka_message_t *msg) {
    if (!msg->err) {
        const char *topic = rd_kafka_topic_name(msg->rkt);
        brook__kafka_pause_at(m->rk, topic, msg->partition, msg->offset);
        note_paused(m->batch, topic, msg->partition);
    }
    rd_kafka_message_destroy(msg);
}

/* ---- collecting ----------------------------------------------------------------------------- */

/* Fills the batch: up to max_records, until max_wait_ms after its first record, or a record
 * that comes back for a blocking retry (a batch of its own). Returns with none when nothing
 * came within 100 ms, so the member's loop goes round (commits; partitions whose retry is due
 * are resumed there, so at most max_wait_ms late). */
static void collect(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    const brook_decl_listener_t *d = m->listener->decl;
    brook__consume_t *c = m->listener->consume;
    int64_t deadline = 0;
    while (b->count < (size_t)d->batch_max_records) {
        if (!atomic_load(&c->running) || !brook__control_running(m->listener)) {
            keep_only(b, 0, 0); /* stopping: not handled, so not stored */
            return;
        }
        rd_kafka_message_t *msg = b->carry;
        b->carry = NULL;
        if (!msg) {
            int wait = 100;
            if (b->count) {
                int64_t left = deadline - brook__now_ms();
                wait = left <= 0 ? 0 : left < 100 ? (int)left : 100;
            }
            msg = rd_kafka_consumer_poll(m->rk, wait);
            if (!msg) {
                /* A revoke inside the poll may have taken every record collected. */
                if (!b->count || brook__now_ms() >= deadline)
                    return;
                continue;
            }
        }
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                brook_log(BROOK_LOG_WARN, "listener", "%s[%d]: %s", d->id, m->index,
                          rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (brook__recover_intercept(m->recover, msg))
            continue; /* held back: a retry record not yet due */
        if (!grow(b, b->count + 1)) {
            b->carry = msg;
            return;
        }
        item_t *it = &b->items[b->count];
        item_set(m, it, msg);
        bool solo = d->retry.mode == BROOK_RETRY_BLOCKING && it->attempt > 1;
        if (solo && b->count) {
            it->msg = NULL;
            b->carry = msg;
            return;
        }
        if (b->count++ == 0)
            deadline = brook__add_ms(brook__now_ms(), d->batch_max_wait_ms);
        if (solo)
            return;
    }
}

/* ---- handling ------------------------------------------------------------------------------- */

/* Decodes into `slot`, lending it the writer schemas the member has already resolved (they
 * live in its own scratch, `cache`), so each is resolved once per member, not per slot. */
static int decode_with(const brook__serde_t *s, const void *data, size_t len,
                       brook__decoded_t *slot, brook__decoded_t *cache, const void **out,
                       brook_error_t *err) {
    slot->resolvers = cache->resolvers;
    slot->ids = cache->ids;
    int rc = brook__serde_decode(s, data, len, slot, out, err);
    cache->resolvers = slot->resolvers;
    cache->ids = slot->ids;
    slot->resolvers = NULL;
    slot->ids = NULL;
    return rc;
}

static int decode(brook__member_t *m, size_t i, brook_error_t *err) {
    brook_listener_t *l = m->listener;
    brook__batch_t *b = m->batch;
    const brook_record_t *r = &b->items[i].record;
    slot_t *s = &b->slots[i];
    int rc = decode_with(&l->key, r->key, r->key_len, &s->key, &m->key_dec, &b->keys[i], err);
    if (!rc)
        rc = decode_with(&l->value, r->value, r->value_len, &s->value, &m->value_dec, &b->values[i],
                         err);
    return rc;
}

static void clear_decoded(brook__member_t *m, size_t from, size_t to) {
    brook_listener_t *l = m->listener;
    for (size_t i = from; i < to; i++) {
        brook__decoded_clear(&l->key, &m->batch->slots[i].key);
        brook__decoded_clear(&l->value, &m->batch->slots[i].value);
    }
}

static void store(brook__member_t *m, item_t *it, bool handled) {
    brook__store_offset(m, it->msg);
    if (handled)
        brook__recover_succeeded(m->recover, &it->record);
}

static bool recovered(brook__recover_outcome_t o) {
    return o != BROOK__RECOVER_AGAIN && o != BROOK__RECOVER_FORWARD_FAILED;
}

/* Record `it` failed (as a single record would): retry, retry topic or DLT, by recover/. */
static brook__recover_outcome_t recover_one(brook__member_t *m, item_t *it, int attempt,
                                            brook_result_t res, const char *name,
                                            const char *message) {
    brook_listener_t *l = m->listener;
    item_headers(it); /* forwards copy them */
    brook__failure_t f = {
        .record = &it->record, .attempt = attempt, .name = name, .message = message};
    brook__recover_outcome_t o = brook__recover_failed(m->recover, &f, res);
    if (o == BROOK__RECOVER_AGAIN || o == BROOK__RECOVER_RETRIED)
        atomic_fetch_add(&l->retried, 1);
    else if (o == BROOK__RECOVER_DEAD_LETTERED)
        atomic_fetch_add(&l->dead_lettered, 1);
    return o;
}

/* What became of the records a handler call was given. */
typedef enum {
    CALL_DONE,    /* all done with (stored): go on with the rest of the batch */
    CALL_STOPPED, /* the rest of the batch was given back */
    CALL_WAITING, /* the batch (these records only) waits in memory for its retry */
} call_outcome_t;

/* The whole batch [from, to) failed and is retried as a whole, after the backoff, if the
 * listener retries in place and has attempts left: then it is kept (the rest given back) and
 * the member's partitions wait. */
static bool retry_whole(brook__member_t *m, size_t from, size_t to, brook_result_t res, int attempt,
                        const char *name) {
    brook__batch_t *b = m->batch;
    const brook_decl_listener_t *d = m->listener->decl;
    if (d->retry.mode != BROOK_RETRY_BLOCKING || res != BROOK_RETRY ||
        brook__recover_not_retryable(d, name))
        return false;
    int64_t delay = brook__recover_backoff(d, attempt);
    if (delay < 0)
        return false;
    give_back(m, to, NULL);
    keep_only(b, from, to);
    for (size_t i = 0; i < b->count; i++)
        b->items[i].attempt = attempt + 1;
    atomic_fetch_add(&m->listener->retried, b->count);
    brook_log(BROOK_LOG_DEBUG, "retry",
              "%s[%d]: a batch of %zu failed (attempt %d, %s), again in %lld ms", d->id, m->index,
              b->count, attempt, name[0] ? name : "brook.HandlerFailure", (long long)delay);
    b->waiting = true;
    b->due_ms = brook__add_ms(brook__now_ms(), delay);
    pause_all(m);
    return true;
}

/* Calls the handler with the decoded records [from, to) and applies its result. */
static call_outcome_t call(brook__member_t *m, size_t from, size_t to, bool *stored) {
    brook_listener_t *l = m->listener;
    brook__batch_t *b = m->batch;
    brook_batch_t *v = &b->view;
    size_t n = to - from;
    v->items = b->items + from;
    v->n = n;
    v->index_set = false;
    v->name[0] = 0;
    v->message[0] = 0;
    int64_t started = brook__now_ns();
    brook_result_t res = l->batch_handler(v, n, b->keys + from, b->values + from, l->batch_opaque);
    brook__histogram_observe(&m->handler_seconds, brook__now_ns() - started);
    atomic_fetch_add(&l->batches, 1);
    clear_decoded(m, from, to);
    if (res != BROOK_OK && res != BROOK_RETRY && res != BROOK_FAIL) {
        brook_log(BROOK_LOG_WARN, "listener", "%s: batch handler returned %d, taken as FAIL",
                  l->decl->id, (int)res);
        res = BROOK_FAIL;
    }
    if (res == BROOK_OK) {
        for (size_t i = from; i < to; i++)
            store(m, &b->items[i], true);
        atomic_fetch_add(&l->handled, n);
        *stored = true;
        return CALL_DONE;
    }
    /* A failure of one record (a batch of one fails at its record): those before it are done,
     * it is recovered alone, those after it come again. */
    if (v->index_set || n == 1) {
        size_t k = from + (v->index_set ? v->index : 0);
        for (size_t i = from; i < k; i++)
            store(m, &b->items[i], true);
        atomic_fetch_add(&l->handled, k - from);
        atomic_fetch_add(&l->failed, 1);
        *stored |= k > from;
        item_t *it = &b->items[k];
        if (recovered(recover_one(m, it, it->attempt, res, v->name, v->message))) {
            store(m, it, false);
            *stored = true;
            give_back(m, k + 1, NULL);
        } else {
            give_back(m, k + 1, it);
        }
        return CALL_STOPPED;
    }
    /* The whole batch failed: retried in place, or each record recovered as if alone. */
    atomic_fetch_add(&l->failed, n);
    int attempt = 1;
    for (size_t i = from; i < to; i++)
        if (b->items[i].attempt > attempt)
            attempt = b->items[i].attempt;
    if (retry_whole(m, from, to, res, attempt, v->name))
        return CALL_WAITING;
    bool blocking = l->decl->retry.mode == BROOK_RETRY_BLOCKING;
    for (size_t i = from; i < to; i++) {
        item_t *it = &b->items[i];
        /* In place, the batch's attempt was every record's (all exhausted now); through retry
         * topics each record goes on from its own. */
        if (!recovered(
                recover_one(m, it, blocking ? attempt : it->attempt, res, v->name, v->message))) {
            give_back(m, i + 1, it);
            return CALL_STOPPED;
        }
        store(m, it, false);
        *stored = true;
    }
    return CALL_DONE;
}

/* Hands the batch in hand to the handler, in runs of records that decode; returns whether
 * offsets were stored. */
static bool handle(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    brook_listener_t *l = m->listener;
    bool stored = false;
    size_t from = 0;
    while (from < b->count) {
        brook_error_t err = {0};
        size_t j = from;
        while (j < b->count && !decode(m, j, &err))
            j++;
        if (j < b->count)
            clear_decoded(m, j, j + 1); /* what it decoded before it failed */
        if (j > from) {
            call_outcome_t o = call(m, from, j, &stored);
            if (o == CALL_WAITING)
                return stored; /* keeps its records */
            if (o == CALL_STOPPED)
                break;
        }
        if (j == b->count)
            break;
        /* Record j cannot be decoded. */
        item_t *it = &b->items[j];
        if (err.code == BROOK_ERR_UNAVAILABLE) {
            /* Its writer schema cannot be fetched now: it waits, the rest comes again. */
            brook__recover_wait(m->recover, &it->record, it->attempt, err.message);
            give_back(m, j + 1, it);
            break;
        }
        /* A poison pill: to the DLT with its bytes; the batch goes on after it. */
        atomic_fetch_add(&l->failed, 1);
        if (!recovered(recover_one(m, it, it->attempt, BROOK_FAIL, "brook.DeserializationError",
                                   err.message))) {
            give_back(m, j + 1, it);
            break;
        }
        store(m, it, false);
        stored = true;
        from = j + 1;
    }
    keep_only(b, 0, 0);
    return stored;
}

/* While a batch waits for its retry: polls (the member's partitions paused) until it is due,
 * then handles it again from memory; not while the listener is paused (brook_listener_pause):
 * like a record's retry, it waits for the resume. */
static bool wait_step(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    int64_t left = b->due_ms - brook__now_ms();
    if (brook__control_paused(&m->control) && left < 100)
        left = 100;
    if (left > 0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, left < 100 ? (int)left : 100);
        if (msg)
            hold_back(m, msg);
        return false;
    }
    b->waiting = false;
    bool stored = handle(m);
    if (!b->waiting)
        resume_paused(m);
    return stored;
}

bool brook__batch_step(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    if (b->waiting)
        return wait_step(m);
    if (b->carry && brook__control_paused(&m->control)) {
        /* Polled before the listener paused: fetched again on resume, like the records
         * librdkafka had fetched and dropped at the pause. */
        hold_back(m, b->carry);
        b->carry = NULL;
    }
    collect(m);
    return b->count ? handle(m) : false;
}

/* ---- rebalance, stop ------------------------------------------------------------------------ */

void brook__batch_revoked(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts) {
    brook__batch_t *b = m->batch;
    if (!b)
        return;
    size_t w = 0;
    for (size_t i = 0; i < b->count; i++) {
        rd_kafka_message_t *msg = b->items[i].msg;
        if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(msg->rkt),
                                               msg->partition)) {
            rd_kafka_message_destroy(msg);
            b->items[i].msg = NULL;
        } else {
            item_swap(b, w++, i);
        }
    }
    b->count = w;
    if (b->carry && rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(b->carry->rkt),
                                                       b->carry->partition)) {
        rd_kafka_message_destroy(b->carry);
        b->carry = NULL;
    }
    /* Their next owner, or this member if it gets them back, starts unpaused. */
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; b->paused && resume && i < parts->cnt; i++)
        if (rd_kafka_topic_partition_list_del(b->paused, parts->elems[i].topic,
                                              parts->elems[i].partition))
            rd_kafka_topic_partition_list_add(resume, parts->elems[i].topic,
                                              parts->elems[i].partition);
    if (resume) {
        if (resume->cnt)
            rd_kafka_resume_partitions(m->rk, resume);
        rd_kafka_topic_partition_list_destroy(resume);
    }
    if (b->waiting && !b->count) {
        b->waiting = false;
        resume_paused(m);
    }
}

void brook__batch_drop(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    if (!b)
        return;
    keep_only(b, 0, 0);
    if (b->carry) {
        rd_kafka_message_destroy(b->carry);
        b->carry = NULL;
    }
    b->waiting = false;
}

void brook__batch_rewound(brook__member_t *m) {
    if (!m->batch)
        return;
    brook__batch_drop(m);
    resume_paused(m);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int brook__batch_start(brook__member_t *m, brook_error_t *err) {
    const brook_decl_listener_t *d = m->listener->decl;
    brook__batch_free(m); /* a listener started again (brook_listener_start) */
    if (!d->batch)
        return 0;
    brook__batch_t *b = calloc(1, sizeof(*b));
    if (!b)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    m->batch = b;
    b->view.member = m;
    /* Room for a first record at least, so that collecting never drops one for want of it. */
    if (!grow(b, d->batch_max_records < 64 ? (size_t)d->batch_max_records : 64) ||
        !(b->paused = rd_kafka_topic_partition_list_new(8)))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    return 0;
}

void brook__batch_free(brook__member_t *m) {
    brook__batch_t *b = m->batch;
    if (!b)
        return;
    brook__batch_drop(m);
    brook_listener_t *l = m->listener;
    for (size_t i = 0; i < b->cap; i++) {
        free(b->items[i].headers);
        brook__decoded_free(&l->key, &b->slots[i].key);
        brook__decoded_free(&l->value, &b->slots[i].value);
    }
    free(b->items);
    free(b->slots);
    free(b->keys);
    free(b->values);
    if (b->paused)
        rd_kafka_topic_partition_list_destroy(b->paused);
    free(b);
    m->batch = NULL;
}

int brook__consume_set_batch_handler(brook__consume_t *c, const char *id,
                                     brook_batch_handler_fn *fn, void *opaque) {
    brook_listener_t *l = brook__consume_find(c, id);
    if (!l)
        return BROOK_ERR_NOT_FOUND;
    if (!l->decl->batch)
        return BROOK_ERR_INVALID_ARG;
    l->batch_handler = fn;
    l->batch_opaque = opaque;
    return 0;
}

/* ---- the handler's view (brook.h) ----------------------------------------------------------- */

size_t brook_batch_count(const brook_batch_t *b) {
    return b ? b->n : 0;
}

const brook_record_t *brook_batch_record(brook_batch_t *b, size_t i) {
    if (!b || i >= b->n)
        return NULL;
    item_headers(&b->items[i]);
    return &b->items[i].record;
}

int brook_batch_header(brook_batch_t *b, size_t i, const char *name, const void **value,
                       size_t *len) {
    const brook_record_t *r = brook_batch_record(b, i);
    const brook_header_t *h = r && name ? brook__record_header(r, name) : NULL;
    if (!h)
        return 0;
    if (value)
        *value = h->value;
    if (len)
        *len = h->len;
    return 1;
}

int brook_batch_attempt(const brook_batch_t *b, size_t i) {
    return b && i < b->n ? b->items[i].attempt : 0;
}

brook_app_t *brook_batch_app(brook_batch_t *b) {
    return b ? b->member->listener->consume->app : NULL;
}

const char *brook_batch_listener_id(const brook_batch_t *b) {
    return b ? b->member->listener->decl->id : NULL;
}

static brook_result_t name_failure(brook_batch_t *b, const char *name, const char *fmt,
                                   va_list ap) {
    snprintf(b->name, sizeof(b->name), "%s", name ? name : "brook.HandlerFailure");
    b->message[0] = 0;
    if (fmt)
        vsnprintf(b->message, sizeof(b->message), fmt, ap);
    return brook__recover_not_retryable(b->member->listener->decl, b->name) ? BROOK_FAIL
                                                                            : BROOK_RETRY;
}

brook_result_t brook_batch_fail_at(brook_batch_t *b, size_t index, const char *name,
                                   const char *fmt, ...) {
    if (!b)
        return BROOK_FAIL;
    if (index < b->n) {
        b->index_set = true;
        b->index = index;
    } else {
        brook_log(BROOK_LOG_WARN, "listener",
                  "%s: brook_batch_fail_at: index %zu of a batch of %zu, taken as the whole "
                  "batch's failure",
                  b->member->listener->decl->id, index, b->n);
    }
    va_list ap;
    va_start(ap, fmt);
    brook_result_t res = name_failure(b, name, fmt, ap);
    va_end(ap);
    return res;
}

brook_result_t brook_batch_fail(brook_batch_t *b, const char *name, const char *fmt, ...) {
    if (!b)
        return BROOK_FAIL;
    b->index_set = false;
    va_list ap;
    va_start(ap, fmt);
    brook_result_t res = name_failure(b, name, fmt, ap);
    va_end(ap);
    return res;
}
