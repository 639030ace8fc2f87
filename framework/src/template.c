/* Templates: typed sends through the app's one idempotent producer. */
#include <stdlib.h>
#include <string.h>

#include "app_int.h"

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

static send_scratch_t *scratch_get(void) {
    pthread_once(&scratch_once, scratch_key_init);
    send_scratch_t *s = pthread_getspecific(scratch_key);
    if (!s && (s = calloc(1, sizeof(*s))))
        pthread_setspecific(scratch_key, s);
    return s;
}

/* Every record's librdkafka opaque says which template sent it: the template itself (tag 0),
 * or, for a send from a handler, the handling member's sender for that template, or an
 * envelope when the caller passes an opaque of its own. All start with a tag, so the delivery
 * callback can tell them apart. A member counts its handlers' sends until they are delivered:
 * it commits an input's offset only once the outputs of the handlers before it are durable. */
#define ENVELOPE_TAG 0x656e76u
#define FORWARD_TAG 0x667764u

struct brook__sender_s {
    uint32_t tag; /* SENDER_TAG */
    brook_template_t *tpl;
    brook__member_t *member;
};

typedef struct {
    uint32_t tag;
    brook_template_t *tpl;
    brook__member_t *member; /* NULL when not sent from a handler */
    void *msg_opaque;
} envelope_t;

/* The member whose handler runs on this thread, if any. */
static __thread brook__member_t *current_member;

void brook__template_set_member(brook__member_t *m) {
    current_member = m;
}

brook__sender_t *brook__senders_new(brook__member_t *m, brook_app_t *app) {
    brook__sender_t *s = calloc(app->template_count ? app->template_count : 1, sizeof(*s));
    for (size_t i = 0; s && i < app->template_count; i++) {
        s[i].tag = BROOK__SENDER_TAG;
        s[i].tpl = &app->templates[i];
        s[i].member = m;
    }
    return s;
}

int brook__template_resolve(brook_template_t *t, brook_error_t *err) {
    brook_app_t *app = t->app;
    const brook_decl_template_t *d = t->decl;
    /* Refused rather than ignored: a user who asks for exactly-once must not get less. */
    if (d->transactional)
        return brook_error_set(err, BROOK_ERR_DECL,
                               "%s:%d: templates[\"%s\"].transactional: transactions are not "
                               "supported yet; remove it to send with the idempotent producer",
                               app->decl->source, d->line, d->name);
    int rc = brook__serde_resolve(&t->key, app, &d->key, d->framing, d->schema_id, err);
    if (!rc)
        rc = brook__serde_resolve(&t->value, app, &d->value, d->framing, d->schema_id, err);
    return rc;
}

int brook_template_set_delivery_cb(brook_template_t *tpl, brook_delivery_fn *fn, void *opaque) {
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    tpl->delivery_cb = fn;
    tpl->delivery_opaque = opaque;
    return 0;
}

const char *brook_template_topic(const brook_template_t *tpl) {
    return tpl->decl->topic;
}

/* A forward's delivery report, waited for by the forwarding thread. */
typedef struct {
    uint32_t tag;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    rd_kafka_resp_err_t err;
} forward_t;

/* Runs on the producer thread (rd_kafka_poll in app.c). */
void brook__template_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (!m->_private)
        return;
    uint32_t tag = *(const uint32_t *)m->_private;
    brook_template_t *tpl = m->_private;
    brook__member_t *member = NULL;
    void *msg_opaque = NULL;
    envelope_t *env = NULL;
    if (tag == FORWARD_TAG) {
        forward_t *f = m->_private;
        pthread_mutex_lock(&f->lock);
        f->err = m->err;
        f->done = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        return;
    }
    if (tag == ENVELOPE_TAG) {
        env = m->_private;
        tpl = env->tpl;
        member = env->member;
        msg_opaque = env->msg_opaque;
    } else if (tag == BROOK__SENDER_TAG) {
        brook__sender_t *s = m->_private;
        tpl = s->tpl;
        member = s->member;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (m->err) {
        atomic_fetch_add(&tpl->failed, 1);
        brook_log(BROOK_LOG_ERROR, "template", "%s: record to %s [%d] not delivered: %s",
                  tpl->decl->name, topic, (int)m->partition, rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&tpl->delivered, 1);
    }
    if (tpl->delivery_cb)
        tpl->delivery_cb(tpl, m->err, topic, m->partition, m->offset, msg_opaque,
                         tpl->delivery_opaque);
    if (member) {
        /* Before the count drops, so a member that sees no sends in flight also sees this. */
        if (m->err)
            atomic_store(&member->output_failed, true);
        atomic_fetch_sub(&member->inflight, 1);
    }
    free(env);
}

int brook_template_send_raw(brook_template_t *tpl, const void *key, size_t key_len,
                            const void *value, size_t value_len, const brook_send_opts_t *opts) {
    static const brook_send_opts_t defaults = BROOK_SEND_OPTS_INIT;
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    if (!opts)
        opts = &defaults;
    brook_app_t *app = tpl->app;
    if (!app->producer)
        return BROOK_ERR_STATE;
    brook__member_t *member =
        current_member && current_member->listener->app == app ? current_member : NULL;
    void *msg_opaque = member ? (void *)&member->senders[tpl - app->templates] : (void *)tpl;
    envelope_t *env = NULL;
    if (opts->msg_opaque) {
        if (!(env = malloc(sizeof(*env))))
            return BROOK_ERR_NOMEM;
        env->tag = ENVELOPE_TAG;
        env->tpl = tpl;
        env->member = member;
        env->msg_opaque = opts->msg_opaque;
        msg_opaque = env;
    }
    if (member)
        atomic_fetch_add(&member->inflight, 1);
    bool redirected = opts->topic && strcmp(opts->topic, tpl->decl->topic);
    rd_kafka_headers_t *hdrs = NULL;
    if (opts->header_count) {
        hdrs = rd_kafka_headers_new(opts->header_count);
        for (size_t i = 0; i < opts->header_count; i++)
            rd_kafka_header_add(hdrs, opts->headers[i].name, -1, opts->headers[i].value,
                                opts->headers[i].value ? (ssize_t)opts->headers[i].len : 0);
    }
    /* The template's own topic handle; another topic's is looked up (a reference, no copy)
     * and released at once: a queued record holds its own reference. */
    rd_kafka_topic_t *rkt =
        redirected ? rd_kafka_topic_new(app->producer, opts->topic, NULL) : tpl->rkt;
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_producev(
                  app->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(opts->partition),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                  RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                  RD_KAFKA_V_TIMESTAMP(opts->timestamp), RD_KAFKA_V_HEADERS(hdrs),
                  RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END)
            : rd_kafka_last_error();
    if (redirected && rkt)
        rd_kafka_topic_destroy(rkt);
    if (err) {
        /* Not queued: ownership of the headers stayed with us. */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (member)
            atomic_fetch_sub(&member->inflight, 1);
        free(env);
        brook_log(BROOK_LOG_ERROR, "template", "%s: send to %s failed: %s", tpl->decl->name,
                  redirected ? opts->topic : tpl->decl->topic, rd_kafka_err2str(err));
        return err;
    }
    atomic_fetch_add(&tpl->sent, 1);
    return 0;
}

int brook__forward_sync(brook_app_t *app, const char *topic, int32_t partition, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        rd_kafka_headers_t *headers) {
    forward_t f = {.tag = FORWARD_TAG};
    pthread_mutex_init(&f.lock, NULL);
    pthread_cond_init(&f.cond, NULL);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(app->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                          RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(&f), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(headers);
    } else {
        /* librdkafka reports every queued record, delivered or failed for good, and the
         * producer thread keeps serving reports until every listener has stopped. */
        pthread_mutex_lock(&f.lock);
        while (!f.done)
            pthread_cond_wait(&f.cond, &f.lock);
        pthread_mutex_unlock(&f.lock);
        err = f.err;
    }
    pthread_cond_destroy(&f.cond);
    pthread_mutex_destroy(&f.lock);
    return err;
}

int brook_template_send(brook_template_t *tpl, const void *key, const void *value,
                        const brook_send_opts_t *opts) {
    if (!tpl)
        return BROOK_ERR_INVALID_ARG;
    send_scratch_t *s = scratch_get();
    if (!s)
        return BROOK_ERR_NOMEM;
    brook_buf_reset(&s->key);
    brook_buf_reset(&s->value);
    bool key_null, value_null;
    brook_error_t err = {0};
    int rc = brook__serde_encode(&tpl->key, key, &s->key, &key_null, &err);
    if (!rc)
        rc = brook__serde_encode(&tpl->value, value, &s->value, &value_null, &err);
    if (rc) {
        brook_log(BROOK_LOG_ERROR, "template", "%s: %s", tpl->decl->name, err.message);
        return rc;
    }
    /* An empty, non-null value still needs a non-NULL pointer to stay non-null. */
    static const uint8_t empty[1];
    return brook_template_send_raw(
        tpl, key_null ? NULL : (s->key.len ? s->key.data : empty), s->key.len,
        value_null ? NULL : (s->value.len ? s->value.data : empty), s->value.len, opts);
}

int brook_template_flush(brook_template_t *tpl, int timeout_ms) {
    if (!tpl || !tpl->app->producer)
        return BROOK_ERR_STATE;
    return rd_kafka_flush(tpl->app->producer, timeout_ms);
}
