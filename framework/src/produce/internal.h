/* Inside produce/: the producer, its templates and the record opaques delivery reports carry. */
#ifndef BROOK_PRODUCE_INTERNAL_H
#define BROOK_PRODUCE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"
#include "produce/produce.h"

struct brook_template_s {
    uint32_t tag; /* TEMPLATE_TAG: tells a template from the other opaques below */
    brook__producer_t *producer;
    rd_kafka_topic_t *rkt;
    const brook_decl_template_t *decl;
    brook__serde_t key, value;
    brook_delivery_fn *delivery_cb; /* set before start only: the producer thread reads it */
    void *delivery_opaque;
    struct brook__send_ic_s *interceptors; /* intercept.c; added before start only */
    size_t interceptor_count;
    atomic_uint_fast64_t sent, delivered, failed;
    void *requester; /* request/: the template's requests, when it declares a reply */
};

/* intercept.c: the template's send interceptors' `before` on a record about to be queued
 * (*hdrs created when one adds a header): 0, or the veto's code. */
int brook__intercept_before(brook_template_t *tpl, const char *topic, const void *key,
                            size_t key_len, const void *value, size_t value_len,
                            rd_kafka_headers_t **hdrs);
/* intercept.c: their `after` on a delivery report. */
void brook__intercept_after(brook_template_t *tpl, const rd_kafka_message_t *m);
void brook__intercept_free(brook_template_t *tpl);

struct brook__producer_s {
    const brook_decl_t *decl;
    /* rk and the templates' rkt: senders hold them (inside the gate) for one call; the
     * producer thread replaces them (the gate closed and empty) after a fatal error, and also
     * takes replace_lock to write rk, so a sender waiting for a replacement can read rk under
     * replace_lock alone. */
    rd_kafka_t *rk;
    brook__gate_t gate;
    rd_kafka_conf_t *conf; /* the producer's configuration, for a replacement */
    pthread_mutex_t replace_lock;
    pthread_cond_t replaced;
    atomic_uint_fast64_t replacements;
    pthread_t thread;
    bool thread_started;
    atomic_bool run;
    brook_template_t *templates;
    size_t template_count;
    /* librdkafka statistics for the metrics (produce/metrics.c): asked for when > 0; the last
     * report of the producer in use, kept as it came (parsed by a scrape). */
    int stats_interval_ms;
    pthread_mutex_t stats_lock;
    char *stats_json;
};

/* Every record's librdkafka opaque says which template sent it: the template itself, or, for
 * a send from a handler, the handling member's sender for that template, or an envelope when
 * the caller passes an opaque of its own, or a forward. All start with a tag, so the delivery
 * callback can tell them apart. */
#define TEMPLATE_TAG 0x74706cu
#define SENDER_TAG 0x736e64u
#define ENVELOPE_TAG 0x656e76u
#define FORWARD_TAG 0x667764u

typedef struct {
    uint32_t tag; /* SENDER_TAG */
    brook_template_t *tpl;
    brook__outputs_t *outputs;
} brook__sender_t;

struct brook__outputs_s {
    brook__producer_t *producer;
    brook__sender_t *senders; /* one per template */
    atomic_int inflight;
    atomic_bool failed;
    atomic_int waiters; /* threads in brook__outputs_drain */
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

typedef struct {
    uint32_t tag; /* ENVELOPE_TAG */
    brook_template_t *tpl;
    brook__outputs_t *outputs; /* NULL when not sent from a handler */
    void *msg_opaque;
} brook__envelope_t;

/* A sender holds the producer (rk, the templates' rkt) for the length of one call. */
static inline void brook__producer_hold(brook__producer_t *p) {
    brook__gate_enter(&p->gate);
}
static inline void brook__producer_release(brook__producer_t *p) {
    brook__gate_leave(&p->gate);
}
/* After `failed` (the rk a held send used) refused a record with RD_KAFKA_RESP_ERR__FATAL:
 * lets go of p, waits until the producer thread has replaced it, and holds p again. false
 * when it was not replaced within a few seconds (the send then fails with the fatal error). */
bool brook__producer_await_replacement(brook__producer_t *p, rd_kafka_t *failed);

/* Before rd_kafka_new() of the app's producer (not of transactional ones): statistics every
 * stats_interval_ms, if asked for, reported to p. */
int brook__producer_stats_conf(brook__producer_t *p, rd_kafka_conf_t *conf, brook_error_t *err);

/* The delivery report callback of transactional producers. */
void brook__delivered_in_txn(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* The outputs the calling thread is bound to, or NULL. */
brook__outputs_t *brook__outputs_current(void);
/* One of o's sends was queued / ended (err: failed for good). */
void brook__outputs_sent(brook__outputs_t *o);
void brook__outputs_done(brook__outputs_t *o, bool failed);

#endif
