/* Templates: typed sends through the app's one idempotent producer (brook.h). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "produce/internal.h"

/* Each sending thread serializes into its own buffers, kept across sends, so a send
 * allocates nothing of its own; librdkafka copies the payload. */
typedef struct {
    brook_buf_t key, value;
} send_scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    send_scratch_t *s = p;
    brook_buf_free(&s->key);
    brook_buf_free(&s->value);
    free(s);
}

static void scratch_key_init(void) {
    pthread_key_create(&scratch_key, scratch_free);
}

/* The thread's buffers: a thread-local pointer, the key only to free them at thread exit. */
static _Thread_local send_scratch_t *tl_scratch BROOK__TLS_FAST;

static send_scratch_t *scratch_get(void) {
    if (tl_scratch)
        return tl_scratch;
    pthread_once(&scratch_once, scratch_key_init);
    if ((tl_scratch = calloc(1, sizeof(*tl_scratch))))
        pthread_setspecific(scratch_key, tl_scratch);
    return tl_scratch;
}

int brook_template_set_delivery_cb(brook_template_t *tpl, brook_delivery_fn *fn, void *opaque) {
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    if (tpl->producer->rk)
        return BROOK_ERR_STATE;
    tpl->delivery_cb = fn;
    tpl->delivery_opaque = opaque;
    return 0;
}

const char *brook_template_topic(const brook_template_t *tpl) {
    return tpl ? tpl->decl->topic : NULL;
}

void brook_template_stats(const brook_template_t *tpl, brook_template_stats_t *out) {
    memset(out, 0, sizeof(*out));
    if (!tpl)
        return;
    out->sent = atomic_load(&tpl->sent);
    out->delivered = atomic_load(&tpl->delivered);
    out->failed = atomic_load(&tpl->failed);
    out->producer_replacements = atomic_load(&tpl->producer->replacements);
}

/* Queues one record on rkt (or, NULL, the topic by name). Its timestamp and headers go to
 * librdkafka only when there are any: each argument costs a round of its parsing. */
static rd_kafka_resp_err_t produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *topic,
                                   int flags, const brook_send_opts_t *opts, const void *key,
                                   size_t key_len, const void *value, size_t value_len,
                                   rd_kafka_headers_t *hdrs, void *msg_opaque) {
    rd_kafka_vu_t vu[8];
    size_t n = 0;
    if (rkt) {
        vu[n].vtype = RD_KAFKA_VTYPE_RKT;
        vu[n++].u.rkt = rkt;
    } else {
        vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vu[n++].u.cstr = topic;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = opts->partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = flags;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)key;
    vu[n++].u.mem.size = key_len;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)value;
    vu[n++].u.mem.size = value_len;
    if (opts->timestamp) {
        vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
        vu[n++].u.i64 = opts->timestamp;
    }
    if (hdrs) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = hdrs;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = msg_opaque;
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vu, n);
    if (!error)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A failed producer's error carries the cause's code (producev says _FATAL): the caller
     * waits for the replacement on _FATAL. */
    rd_kafka_resp_err_t err =
        rd_kafka_error_is_fatal(error) ? RD_KAFKA_RESP_ERR__FATAL : rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return err;
}

int brook_template_send_raw(brook_template_t *tpl, const void *key, size_t key_len,
                            const void *value, size_t value_len, const brook_send_opts_t *opts) {
    static const brook_send_opts_t defaults = BROOK_SEND_OPTS_INIT;
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    if (!opts)
        opts = &defaults;
    brook__producer_t *p = tpl->producer;
    if (!p->rk)
        return BROOK_ERR_STATE;
    /* Inside a transaction (an exactly-once handler, brook_app_execute_in_transaction) every
     * send joins it; a transactional template sends nowhere else. */
    brook__txn_t *txn = brook__txn_current();
    if (!txn && tpl->decl->transactional)
        return BROOK_ERR_STATE;
    /* A handler's send counts as its member's output until delivered. */
    brook__outputs_t *outputs = brook__outputs_current();
    if (outputs && outputs->producer != p)
        outputs = NULL;
    bool redirected = opts->topic && strcmp(opts->topic, tpl->decl->topic);
    rd_kafka_headers_t *hdrs = NULL;
    if (opts->header_count) {
        hdrs = rd_kafka_headers_new(opts->header_count);
        for (size_t i = 0; i < opts->header_count; i++)
            rd_kafka_header_add(hdrs, opts->headers[i].name, -1, opts->headers[i].value,
                                opts->headers[i].value ? (ssize_t)opts->headers[i].len : 0);
    }
    if (tpl->interceptor_count) {
        int vetoed = brook__intercept_before(tpl, redirected ? opts->topic : tpl->decl->topic, key,
                                             key_len, value, value_len, &hdrs);
        if (vetoed) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return vetoed;
        }
    }
    void *msg_opaque = outputs ? (void *)&outputs->senders[tpl - p->templates] : (void *)tpl;
    brook__envelope_t *env = NULL;
    if (opts->msg_opaque) {
        if (!(env = malloc(sizeof(*env)))) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return BROOK_ERR_NOMEM;
        }
        env->tag = ENVELOPE_TAG;
        env->tpl = tpl;
        env->outputs = outputs;
        env->msg_opaque = opts->msg_opaque;
        msg_opaque = env;
    }
    if (outputs)
        brook__outputs_sent(outputs);
    rd_kafka_resp_err_t err;
    if (txn) {
        /* No blocking: this thread is the one that serves the transaction's reports. */
        rd_kafka_t *rk = brook__txn_handle(txn);
        while ((err = produce(rk, NULL, redirected ? opts->topic : tpl->decl->topic,
                              RD_KAFKA_MSG_F_COPY, opts, key, key_len, value, value_len, hdrs,
                              msg_opaque)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    } else {
        brook__producer_hold(p);
        do {
            /* The template's own topic handle; another topic's is looked up (a reference, no
             * copy) and released at once: a queued record holds its own reference. */
            rd_kafka_topic_t *rkt =
                redirected ? rd_kafka_topic_new(p->rk, opts->topic, NULL) : tpl->rkt;
            err = rkt ? produce(p->rk, rkt, NULL, RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK, opts,
                                key, key_len, value, value_len, hdrs, msg_opaque)
                      : rd_kafka_last_error();
            if (redirected && rkt)
                rd_kafka_topic_destroy(rkt);
            /* The producer failed for good: its replacement takes the record. */
        } while (err == RD_KAFKA_RESP_ERR__FATAL && brook__producer_await_replacement(p, p->rk));
        brook__producer_release(p);
    }
    if (err) {
        /* Not queued: ownership of the headers stayed with us. */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (outputs)
            brook__outputs_done(outputs, false);
        free(env);
        return err;
    }
    atomic_fetch_add(&tpl->sent, 1);
    return 0;
}

int brook_template_send(brook_template_t *tpl, const void *key, const void *value,
                        const brook_send_opts_t *opts) {
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    send_scratch_t *s = scratch_get();
    if (!s)
        return BROOK_ERR_NOMEM;
    const void *k, *v;
    size_t klen, vlen;
    brook_error_t err; /* not zeroed: 260 bytes per send; read only on failure */
    err.code = 0;
    int rc = brook__serde_encode(&tpl->key, key, &s->key, &k, &klen, &err);
    if (!rc)
        rc = brook__serde_encode(&tpl->value, value, &s->value, &v, &vlen, &err);
    if (rc)
        return rc;
    return brook_template_send_raw(tpl, k, klen, v, vlen, opts);
}

int brook_template_flush(brook_template_t *tpl, int timeout_ms) {
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    brook__producer_t *p = tpl->producer;
    if (!p->rk)
        return BROOK_ERR_STATE;
    brook__txn_t *txn = brook__txn_current();
    if (txn)
        return rd_kafka_flush(brook__txn_handle(txn), timeout_ms) ? BROOK_ERR_TIMEOUT : 0;
    brook__producer_hold(p);
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    brook__producer_release(p);
    return err ? BROOK_ERR_TIMEOUT : 0;
}

void brook__template_set_requester(brook_template_t *tpl, void *requester) {
    tpl->requester = requester;
}

void *brook__template_requester(const brook_template_t *tpl) {
    return tpl->requester;
}
