/*
 * Transactional producers (produce/produce.h): one per exactly-once listener member, and one
 * per app for brook_app_execute_in_transaction(). Each is a producer of the app's
 * configuration with its own transactional.id; the thread bound to it (the member's poll
 * thread, or the caller of execute_in_transaction) is the only one that uses it, and serves
 * its delivery reports.
 *
 * Errors are handled as librdkafka documents for transactional producers: a retriable error
 * is tried again, one that requires an abort aborts (the caller goes back to its last
 * committed input), a fatal one means this producer is done: fenced by a newer one with the
 * same transactional id, which is reported; any other fatal error replaces the producer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "produce/internal.h"

#define TXN_TIMEOUT_MS 60000
#define TXN_RETRIES 10

struct brook__txn_s {
    brook__producer_t *producer;
    char *id;
    rd_kafka_t *rk;
    bool open;
    bool fenced;
};

static _Thread_local brook__txn_t *current_txn BROOK__TLS_FAST;

static bool is_fenced(const rd_kafka_error_t *e) {
    rd_kafka_resp_err_t c = rd_kafka_error_code(e);
    return c == RD_KAFKA_RESP_ERR__FENCED || c == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           c == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* A new producer with t's id, its transactions initialized. */
static int txn_connect(brook__txn_t *t, brook_error_t *err) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(t->producer->conf);
    if (!conf)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    rd_kafka_conf_set_dr_msg_cb(conf, brook__delivered_in_txn);
    if (rd_kafka_conf_set(conf, "transactional.id", t->id, errstr, sizeof(errstr))) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "transactional.id: %s", errstr);
    }
    if (!(t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "transactional producer %s: %s", t->id,
                               errstr);
    }
    for (int i = 0;; i++) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, TXN_TIMEOUT_MS);
        if (!e)
            return 0;
        bool again = rd_kafka_error_is_retriable(e) && i < TXN_RETRIES;
        int rc = brook_error_set(err, BROOK_ERR_KAFKA, "transactional producer %s: %s", t->id,
                                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (!again) {
            rd_kafka_destroy(t->rk);
            t->rk = NULL;
            return rc;
        }
    }
}

brook__txn_t *brook__txn_new(brook__producer_t *p, const char *transactional_id,
                             brook_error_t *err) {
    brook__txn_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->id = strdup(transactional_id))) {
        free(t);
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->producer = p;
    if (txn_connect(t, err)) {
        brook__txn_free(t);
        return NULL;
    }
    return t;
}

void brook__txn_free(brook__txn_t *t) {
    if (!t)
        return;
    if (current_txn == t)
        current_txn = NULL;
    if (t->rk) {
        if (t->open && !t->fenced)
            rd_kafka_error_destroy(rd_kafka_abort_transaction(t->rk, 5000));
        rd_kafka_destroy(t->rk);
    }
    free(t->id);
    free(t);
}

const char *brook__txn_id(const brook__txn_t *t) {
    return t->id;
}

void brook__txn_bind(brook__txn_t *t) {
    current_txn = t;
}

brook__txn_t *brook__txn_current(void) {
    return current_txn;
}

rd_kafka_t *brook__txn_handle(brook__txn_t *t) {
    return t->rk;
}

bool brook__txn_is_open(const brook__txn_t *t) {
    return t->open;
}

void brook__txn_poll(brook__txn_t *t) {
    if (t->rk)
        rd_kafka_poll(t->rk, 0);
}

/* e is fatal (or treated so): fenced, which is reported, or another fatal error, after which
 * a new producer takes over. Destroys e. */
static int txn_fatal(brook__txn_t *t, rd_kafka_error_t *e, const char *what, brook_error_t *err) {
    t->open = false;
    if (is_fenced(e)) {
        t->fenced = true;
        int rc = brook_error_set(err, BROOK_ERR_FENCED,
                                 "%s: %s: a newer producer with transactional id \"%s\" took "
                                 "over (another instance with the same BROOK_INSTANCE_ID?)",
                                 what, rd_kafka_error_string(e), t->id);
        rd_kafka_error_destroy(e);
        return rc;
    }
    brook_log(BROOK_LOG_ERROR, "transaction", "%s: %s failed for good (%s); replacing its producer",
              t->id, what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    rd_kafka_destroy(t->rk);
    t->rk = NULL;
    int rc = txn_connect(t, err);
    return rc ? rc : brook_error_set(err, BROOK_ERR_KAFKA, "%s: transaction aborted", t->id);
}

int brook__txn_begin(brook__txn_t *t, brook_error_t *err) {
    if (t->open)
        return 0;
    if (t->fenced || !t->rk)
        return brook_error_set(err, BROOK_ERR_FENCED, "%s: fenced", t->id);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
    if (!e) {
        t->open = true;
        return 0;
    }
    if (rd_kafka_error_is_fatal(e))
        return txn_fatal(t, e, "begin", err);
    int rc =
        brook_error_set(err, BROOK_ERR_KAFKA, "%s: begin: %s", t->id, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return rc;
}

int brook__txn_abort(brook__txn_t *t, brook_error_t *err) {
    if (!t->open)
        return 0;
    /* The transaction's records are written first, so that each of their partitions is in it.
     * librdkafka 2.0.2 sends the abort's EndTxn even when the only registration of a partition
     * was refused with CONCURRENT_TRANSACTIONS (the previous commit still completing); the
     * broker answers that with INVALID_TXN_STATE, an error fatal to the producer. Once
     * written, the records are undone by the abort like any others. */
    if (rd_kafka_outq_len(t->rk) > 0)
        rd_kafka_flush(t->rk, TXN_TIMEOUT_MS);
    for (int i = 0;; i++) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->rk, TXN_TIMEOUT_MS);
        if (!e) {
            t->open = false;
            return 0;
        }
        /* Fatal, or not retriable (a timeout beyond retries): start over with a new producer,
         * whose initialization aborts what this one left open. */
        if (rd_kafka_error_is_fatal(e) || !rd_kafka_error_is_retriable(e) || i == TXN_RETRIES)
            return txn_fatal(t, e, "abort", err);
        rd_kafka_error_destroy(e);
    }
}

/* An error of send_offsets or commit: retried, aborted, or fatal. Returns -1 to try again. */
static int txn_failed(brook__txn_t *t, rd_kafka_error_t *e, const char *what, int attempt,
                      brook_error_t *err) {
    if (rd_kafka_error_is_fatal(e))
        return txn_fatal(t, e, what, err);
    if (rd_kafka_error_is_retriable(e) && attempt < TXN_RETRIES) {
        rd_kafka_error_destroy(e);
        return -1;
    }
    int rc = brook_error_set(err, BROOK_ERR_KAFKA, "%s: %s: %s (transaction aborted)", t->id, what,
                             rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    brook_error_t aerr = {0};
    int arc = brook__txn_abort(t, &aerr);
    if (arc) {
        if (err)
            *err = aerr;
        return arc;
    }
    return rc;
}

int brook__txn_commit(brook__txn_t *t, const rd_kafka_topic_partition_list_t *offsets,
                      const rd_kafka_consumer_group_metadata_t *cgmd, brook_error_t *err) {
    if (!t->open)
        return 0;
    int rc = -1;
    if (offsets && offsets->cnt)
        for (int i = 0; rc == -1; i++) {
            rd_kafka_error_t *e =
                rd_kafka_send_offsets_to_transaction(t->rk, offsets, cgmd, TXN_TIMEOUT_MS);
            rc = e ? txn_failed(t, e, "send offsets", i, err) : 0;
        }
    if (rc > 0 || rc < -1)
        return rc;
    for (int i = 0;; i++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(t->rk, TXN_TIMEOUT_MS);
        if (!e) {
            t->open = false;
            return 0;
        }
        if ((rc = txn_failed(t, e, "commit", i, err)) != -1)
            return rc;
    }
}
