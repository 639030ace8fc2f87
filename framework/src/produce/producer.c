/* The app's producer, its thread, forwards and outputs (produce/produce.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "produce/internal.h"

brook__producer_t *brook__producer_new(const brook_decl_t *d) {
    brook__producer_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->decl = d;
    p->templates = calloc(d->template_count ? d->template_count : 1, sizeof(*p->templates));
    if (!p->templates) {
        free(p);
        return NULL;
    }
    brook__gate_init(&p->gate);
    pthread_mutex_init(&p->replace_lock, NULL);
    pthread_mutex_init(&p->stats_lock, NULL);
    brook__cond_init_monotonic(&p->replaced);
    p->template_count = d->template_count;
    for (size_t i = 0; i < d->template_count; i++) {
        p->templates[i].tag = TEMPLATE_TAG;
        p->templates[i].producer = p;
        p->templates[i].decl = &d->templates[i];
    }
    return p;
}

int brook__producer_resolve(brook__producer_t *p, const brook__types_t *types, brook_error_t *err) {
    for (size_t i = 0; i < p->template_count; i++) {
        brook_template_t *t = &p->templates[i];
        const brook_decl_template_t *d = t->decl;
        int rc = brook__serde_resolve(&t->key, types, &d->key, p->decl->source, d->framing,
                                      d->schema_id, err);
        if (!rc)
            rc = brook__serde_resolve(&t->value, types, &d->value, p->decl->source, d->framing,
                                      d->schema_id, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int register_serde(brook__serde_t *s, const brook_decl_template_t *d, bool is_key,
                          brook__registry_t *registry, brook__types_t *types,
                          const brook_decl_t *decl, brook_error_t *err) {
    if (s->kind != BROOK_SERDE_AVRO || s->framing != BROOK_AVRO_FRAMING_CONFLUENT)
        return 0;
    char subject[1024];
    brook__registry_subject(decl->registry.subject_strategy, d->topic, is_key, s->type->name,
                            subject, sizeof(subject));
    /* Registered with its defaults, which compatibility checks need; the canonical form
     * drops them. */
    const char *schema = s->type->resolution_json ? s->type->resolution_json : s->type->schema_json;
    int rc = brook__registry_schema_id(registry, subject, schema, decl->registry.auto_register,
                                       &s->schema_id, err);
    if (rc) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err ? err->message : brook_err2str(rc));
        return brook_error_set(err, rc, "%s:%d: templates %s: %s", decl->source, d->line, d->name,
                               why);
    }
    brook_log(BROOK_LOG_DEBUG, "producer", "template %s: %s is schema id %d under subject %s",
              d->name, s->type->name, (int)s->schema_id, subject);
    return brook__types_add_schema_id(types, s->type->name, s->schema_id);
}

int brook__producer_register_schemas(brook__producer_t *p, brook__registry_t *registry,
                                     brook__types_t *types, brook_error_t *err) {
    for (size_t i = 0; i < p->template_count; i++) {
        brook_template_t *t = &p->templates[i];
        int rc = register_serde(&t->key, t->decl, true, registry, types, p->decl, err);
        if (!rc)
            rc = register_serde(&t->value, t->decl, false, registry, types, p->decl, err);
        if (rc)
            return rc;
    }
    return 0;
}

brook_template_t *brook__producer_template(brook__producer_t *p, const char *name) {
    for (size_t i = 0; i < p->template_count; i++)
        if (!strcmp(p->templates[i].decl->name, name))
            return &p->templates[i];
    return NULL;
}

rd_kafka_t *brook__producer_handle(brook__producer_t *p) {
    return p->rk;
}

/* A forward's delivery report, waited for by the forwarding thread. */
typedef struct {
    uint32_t tag; /* FORWARD_TAG */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    rd_kafka_resp_err_t err;
    int64_t offset;
} brook__forward_t;

/* An asynchronous forward (brook__producer_forward_async): counted in the outputs of the
 * member that sent it, and failed when it was written elsewhere than expected. */
#define ASYNC_FORWARD_TAG 0x61667764u
typedef struct {
    uint32_t tag; /* ASYNC_FORWARD_TAG */
    brook__outputs_t *outputs;
    int64_t expected;
} brook__async_forward_t;

/* Runs on the producer thread (inside rd_kafka_poll), or for a transactional producer on the
 * thread bound to it. */
static void report(const rd_kafka_message_t *m, bool in_txn) {
    if (!m->_private)
        return;
    uint32_t tag = *(const uint32_t *)m->_private;
    if (tag == FORWARD_TAG) {
        brook__forward_t *f = m->_private;
        pthread_mutex_lock(&f->lock);
        f->err = m->err;
        f->offset = m->offset;
        f->done = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        return;
    }
    if (tag == ASYNC_FORWARD_TAG) {
        brook__async_forward_t *a = m->_private;
        bool moved = !m->err && a->expected >= 0 && m->offset != a->expected;
        bool purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                      m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT; /* a crash-like stop */
        if (m->err || moved)
            brook_log(purged ? BROOK_LOG_DEBUG : BROOK_LOG_ERROR, "retry",
                      "record to %s [%d] %s %lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
                      m->err ? rd_kafka_err2str(m->err) : "written at an unexpected offset",
                      (long long)m->offset);
        brook__outputs_done(a->outputs, m->err || moved);
        free(a);
        return;
    }
    brook_template_t *tpl = m->_private;
    brook__outputs_t *outputs = NULL;
    void *msg_opaque = NULL;
    brook__envelope_t *env = NULL;
    if (tag == ENVELOPE_TAG) {
        env = m->_private;
        tpl = env->tpl;
        outputs = env->outputs;
        msg_opaque = env->msg_opaque;
    } else if (tag == SENDER_TAG) {
        brook__sender_t *s = m->_private;
        tpl = s->tpl;
        outputs = s->outputs;
    }
    if (m->err) {
        atomic_fetch_add(&tpl->failed, 1);
        /* An aborted transaction's queued records are purged: expected, and said once by
         * whoever aborted it. */
        bool aborted = in_txn && (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                                  m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT);
        brook_log(aborted ? BROOK_LOG_DEBUG : BROOK_LOG_ERROR, "template",
                  "%s: record to %s [%d] not delivered: %s", tpl->decl->name,
                  rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&tpl->delivered, 1);
    }
    if (tpl->delivery_cb)
        tpl->delivery_cb(tpl, m->err, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                         msg_opaque, tpl->delivery_opaque);
    if (tpl->interceptor_count)
        brook__intercept_after(tpl, m);
    if (outputs)
        brook__outputs_done(outputs, m->err != 0);
    if (env)
        free(env);
}

/* Opens a topic handle per template on rk, into rkts; false (nothing kept) if one fails. */
static bool open_topics(brook__producer_t *p, rd_kafka_t *rk, rd_kafka_topic_t **rkts) {
    for (size_t i = 0; i < p->template_count; i++)
        if (!(rkts[i] = rd_kafka_topic_new(rk, p->templates[i].decl->topic, NULL))) {
            while (i--)
                rd_kafka_topic_destroy(rkts[i]);
            return false;
        }
    return true;
}

/*
 * On the producer thread, after rk failed for good (librdkafka 2.0's idempotent producer
 * raises a fatal error when a broker's sequence numbers and its own part ways, for example
 * when a whole cluster restarts under load). A new producer takes its place: what the failed
 * one still held is reported failed (possibly delivered: at-least-once), so handlers' inputs
 * are read again from their committed offsets, forwards are sent again, and later sends go
 * through the new one. Nothing is lost; the failed producer's in-flight records may turn up
 * twice.
 */
static void replace(brook__producer_t *p) {
    rd_kafka_t *old = p->rk;
    char reason[512];
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(old, reason, sizeof(reason));
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->conf);
    if (conf && brook__producer_stats_conf(p, conf, NULL)) {
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)) : NULL;
    rd_kafka_topic_t **rkts = calloc(p->template_count + 1, sizeof(*rkts));
    if (!rk || !rkts || !open_topics(p, rk, rkts)) {
        brook_log(BROOK_LOG_ERROR, "producer", "%s: cannot replace the failed producer: %s",
                  p->decl->name,
                  rk     ? "no topic handle"
                  : conf ? errstr
                         : "out of memory");
        if (rk)
            rd_kafka_destroy(rk);
        else if (conf)
            rd_kafka_conf_destroy(conf);
        free(rkts);
        return; /* tried again after the next poll */
    }
    brook_log(BROOK_LOG_ERROR, "producer",
              "%s: the producer failed for good (%s: %s); a new one takes its place, and "
              "records it had not delivered are reported failed and sent again",
              p->decl->name, rd_kafka_err2name(fatal), reason);
    /* Senders blocked on the failed producer's full queue wake up as its records are failed
     * and reported; then no sender holds it. */
    brook__gate_close(&p->gate);
    do {
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(old, 0);
    } while (!brook__gate_wait_empty(&p->gate, brook__now_ms() + 10));
    pthread_mutex_lock(&p->replace_lock);
    p->rk = rk;
    pthread_cond_broadcast(&p->replaced);
    pthread_mutex_unlock(&p->replace_lock);
    for (size_t i = 0; i < p->template_count; i++) {
        rd_kafka_topic_t *t = p->templates[i].rkt;
        p->templates[i].rkt = rkts[i];
        rkts[i] = t;
    }
    atomic_fetch_add(&p->replacements, 1);
    brook__gate_open(&p->gate);
    /* The failed producer's last reports, then it goes. */
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(old, 5000);
    for (size_t i = 0; i < p->template_count; i++)
        if (rkts[i])
            rd_kafka_topic_destroy(rkts[i]);
    free(rkts);
    rd_kafka_destroy(old);
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    report(m, false);
}

void brook__delivered_in_txn(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    report(m, true);
}

static void *producer_main(void *arg) {
    brook__producer_t *p = arg;
    brook__log_service(p->decl->name);
    /* Only this thread writes p->rk once started, so it reads it without the lock. */
    while (atomic_load(&p->run)) {
        rd_kafka_poll(p->rk, 100);
        if (rd_kafka_fatal_error(p->rk, NULL, 0))
            replace(p);
    }
    rd_kafka_poll(p->rk, 0);
    return NULL;
}

bool brook__producer_await_replacement(brook__producer_t *p, rd_kafka_t *failed) {
    brook__producer_release(p);
    int64_t deadline = brook__now_ms() + 10000;
    struct timespec until = brook__deadline_ts(deadline);
    pthread_mutex_lock(&p->replace_lock);
    while (p->rk == failed && brook__now_ms() < deadline)
        pthread_cond_timedwait(&p->replaced, &p->replace_lock, &until);
    bool replaced = p->rk != failed;
    pthread_mutex_unlock(&p->replace_lock);
    brook__producer_hold(p);
    return replaced;
}

int brook__producer_start(brook__producer_t *p, const char *bootstrap, brook_error_t *err) {
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    int rc = brook__kafka_conf_set(conf, "bootstrap.servers", bootstrap, err);
    if (!rc)
        rc = brook__kafka_conf_set(conf, "client.id", p->decl->name, err);
    if (!rc)
        rc = brook__kafka_conf_set(conf, "enable.idempotence", "true", err);
    /* The partition a Java producer would choose for a key; random for null keys. */
    if (!rc)
        rc = brook__kafka_conf_set(conf, "partitioner", "murmur2_random", err);
    if (!rc)
        rc = brook__kafka_apply_user(p->decl, conf, true, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    char errstr[512];
    if (!(p->conf = rd_kafka_conf_dup(conf))) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_NOMEM, "producer: out of memory");
    }
    /* Not in p->conf, which transactional producers copy. */
    if ((rc = brook__producer_stats_conf(p, conf, err))) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "producer: %s", errstr);
    }
    atomic_store(&p->run, true);
    if (pthread_create(&p->thread, NULL, producer_main, p))
        return brook_error_set(err, BROOK_ERR_STATE, "cannot start the producer thread");
    p->thread_started = true;
    return 0;
}

int brook__producer_open_templates(brook__producer_t *p, brook_error_t *err) {
    rd_kafka_topic_t **rkts = calloc(p->template_count + 1, sizeof(*rkts));
    if (!rkts)
        return brook_error_set(err, BROOK_ERR_NOMEM, "templates: out of memory");
    brook__producer_hold(p);
    bool ok = open_topics(p, p->rk, rkts);
    for (size_t i = 0; ok && i < p->template_count; i++)
        p->templates[i].rkt = rkts[i];
    brook__producer_release(p);
    free(rkts);
    return ok ? 0
              : brook_error_set(err, BROOK_ERR_KAFKA, "templates: %s",
                                rd_kafka_err2str(rd_kafka_last_error()));
}

void brook__producer_purge(brook__producer_t *p) {
    if (p->rk)
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

int brook__producer_stop(brook__producer_t *p, int64_t deadline, bool drop) {
    if (!p->rk)
        return 0;
    int rc = 0;
    int64_t left = deadline - brook__now_ms();
    int timeout_ms = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
    brook__producer_hold(p);
    if (drop) {
        int n = rd_kafka_outq_len(p->rk);
        if (n)
            brook_log(BROOK_LOG_WARN, "app", "%s: dropping %d unsent record(s)", p->decl->name, n);
        brook__producer_purge(p);
    } else if (rd_kafka_flush(p->rk, timeout_ms)) {
        brook_log(BROOK_LOG_ERROR, "app", "%s: %d record(s) not delivered before shutdown",
                  p->decl->name, rd_kafka_outq_len(p->rk));
        brook__producer_purge(p);
        rc = BROOK_ERR_TIMEOUT;
    }
    /* Serve the reports of what was purged, so every send still hears how it ended. */
    rd_kafka_flush(p->rk, 1000);
    brook__producer_release(p);
    atomic_store(&p->run, false);
    if (p->thread_started) {
        pthread_join(p->thread, NULL);
        p->thread_started = false;
    }
    for (size_t i = 0; i < p->template_count; i++)
        if (p->templates[i].rkt) {
            rd_kafka_topic_destroy(p->templates[i].rkt);
            p->templates[i].rkt = NULL;
        }
    /* A scrape reads rk inside the gate. */
    brook__gate_close(&p->gate);
    while (!brook__gate_wait_empty(&p->gate, brook__now_ms() + 1000))
        ;
    rd_kafka_t *rk = p->rk;
    p->rk = NULL;
    brook__gate_open(&p->gate);
    rd_kafka_destroy(rk);
    return rc;
}

void brook__producer_free(brook__producer_t *p) {
    if (!p)
        return;
    if (p->conf)
        rd_kafka_conf_destroy(p->conf);
    pthread_cond_destroy(&p->replaced);
    pthread_mutex_destroy(&p->replace_lock);
    pthread_mutex_destroy(&p->stats_lock);
    free(p->stats_json);
    brook__gate_destroy(&p->gate);
    for (size_t i = 0; i < p->template_count; i++)
        brook__intercept_free(&p->templates[i]);
    free(p->templates);
    free(p);
}

/* ---- forwards ------------------------------------------------------------------------------- */

int brook__producer_forward(brook__producer_t *p, const char *topic, int32_t partition,
                            const void *key, size_t key_len, const void *value, size_t value_len,
                            rd_kafka_headers_t *headers) {
    return brook__producer_forward_at(p, topic, partition, 0, key, key_len, value, value_len,
                                      headers, NULL);
}

/* Queues a forward on the producer, waiting while its queue is full, and on the replacement
 * when the producer failed for good. Once queued, the headers are librdkafka's. */
static rd_kafka_resp_err_t queue_forward(brook__producer_t *p, const char *topic, int32_t partition,
                                         int64_t timestamp, const void *key, size_t key_len,
                                         const void *value, size_t value_len,
                                         rd_kafka_headers_t *headers, void *opaque) {
    rd_kafka_resp_err_t err;
    brook__producer_hold(p);
    do {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                                RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, value_len),
                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque),
                                RD_KAFKA_V_END);
    } while (err == RD_KAFKA_RESP_ERR__FATAL && brook__producer_await_replacement(p, p->rk));
    brook__producer_release(p);
    return err;
}

int brook__producer_forward_at(brook__producer_t *p, const char *topic, int32_t partition,
                               int64_t timestamp, const void *key, size_t key_len,
                               const void *value, size_t value_len, rd_kafka_headers_t *headers,
                               int64_t *offset) {
    if (offset)
        *offset = -1;
    brook__txn_t *txn = brook__txn_current();
    if (txn) {
        /* Durable when the transaction commits; a failure aborts it. */
        rd_kafka_t *rk = brook__txn_handle(txn);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(timestamp),
                    RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                    RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10); /* this thread serves the transaction's reports */
        if (err)
            rd_kafka_headers_destroy(headers);
        return err;
    }
    brook__forward_t f = {.tag = FORWARD_TAG};
    pthread_mutex_init(&f.lock, NULL);
    pthread_cond_init(&f.cond, NULL);
    rd_kafka_resp_err_t err =
        queue_forward(p, topic, partition, timestamp, key, key_len, value, value_len, headers, &f);
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
        if (offset && !err)
            *offset = f.offset;
    }
    pthread_cond_destroy(&f.cond);
    pthread_mutex_destroy(&f.lock);
    return err;
}

int brook__producer_forward_async(brook__producer_t *p, const char *topic, int32_t partition,
                                  int64_t timestamp, const void *key, size_t key_len,
                                  const void *value, size_t value_len, rd_kafka_headers_t *headers,
                                  int64_t expected_offset) {
    brook__outputs_t *o = brook__outputs_current();
    brook__async_forward_t *a = o && !brook__txn_current() ? malloc(sizeof(*a)) : NULL;
    if (!a) {
        int64_t offset = -1;
        int err = brook__producer_forward_at(p, topic, partition, timestamp, key, key_len, value,
                                             value_len, headers, &offset);
        return err                                                 ? err
               : expected_offset >= 0 && offset != expected_offset ? RD_KAFKA_RESP_ERR__STATE
                                                                   : 0;
    }
    *a = (brook__async_forward_t){ASYNC_FORWARD_TAG, o, expected_offset};
    brook__outputs_sent(o);
    rd_kafka_resp_err_t err =
        queue_forward(p, topic, partition, timestamp, key, key_len, value, value_len, headers, a);
    if (err) {
        /* Not queued: nothing to wait for, nothing failed in flight. */
        rd_kafka_headers_destroy(headers);
        brook__outputs_done(o, false);
        free(a);
    }
    return err;
}

/* ---- outputs -------------------------------------------------------------------------------- */

/* The outputs whose member's handler runs on this thread, if any. */
static _Thread_local brook__outputs_t *current_outputs BROOK__TLS_FAST;

brook__outputs_t *brook__outputs_new(brook__producer_t *p) {
    brook__outputs_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->producer = p;
    o->senders = calloc(p->template_count ? p->template_count : 1, sizeof(*o->senders));
    if (!o->senders) {
        free(o);
        return NULL;
    }
    for (size_t i = 0; i < p->template_count; i++) {
        o->senders[i].tag = SENDER_TAG;
        o->senders[i].tpl = &p->templates[i];
        o->senders[i].outputs = o;
    }
    pthread_mutex_init(&o->lock, NULL);
    brook__cond_init_monotonic(&o->cond);
    return o;
}

void brook__outputs_free(brook__outputs_t *o) {
    if (!o)
        return;
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o->senders);
    free(o);
}

void brook__outputs_bind(brook__outputs_t *o) {
    current_outputs = o;
}

brook__outputs_t *brook__outputs_current(void) {
    return current_outputs;
}

void brook__outputs_sent(brook__outputs_t *o) {
    atomic_fetch_add(&o->inflight, 1);
}

/* On the producer thread. The failure is recorded before the count drops, so a member that
 * sees no sends in flight also sees it; a drain waiting for the last send is woken (a drain
 * counts itself a waiter before it reads the count, so either it sees 0 or this sees it). */
void brook__outputs_done(brook__outputs_t *o, bool failed) {
    if (failed)
        atomic_store(&o->failed, true);
    if (atomic_fetch_sub(&o->inflight, 1) == 1 && atomic_load(&o->waiters) > 0) {
        pthread_mutex_lock(&o->lock);
        pthread_cond_broadcast(&o->cond);
        pthread_mutex_unlock(&o->lock);
    }
}

bool brook__outputs_drain(brook__outputs_t *o, int64_t deadline) {
    if (atomic_load(&o->inflight) == 0)
        return true;
    struct timespec until = brook__deadline_ts(deadline);
    pthread_mutex_lock(&o->lock);
    atomic_fetch_add(&o->waiters, 1);
    while (atomic_load(&o->inflight) > 0 && brook__now_ms() < deadline)
        pthread_cond_timedwait(&o->cond, &o->lock, &until);
    atomic_fetch_sub(&o->waiters, 1);
    pthread_mutex_unlock(&o->lock);
    return atomic_load(&o->inflight) == 0;
}

int brook__outputs_inflight(brook__outputs_t *o) {
    return atomic_load(&o->inflight);
}

bool brook__outputs_failed(brook__outputs_t *o) {
    return atomic_load(&o->failed);
}

void brook__outputs_clear_failed(brook__outputs_t *o) {
    atomic_store(&o->failed, false);
}
