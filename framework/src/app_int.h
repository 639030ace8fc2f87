/* The app's internals, shared by app.c, template.c, listener.c, serde.c and retry.c. */
#ifndef BROOK_APP_INT_H
#define BROOK_APP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "brook/brook.h"
#include "decl.h"
#include "kafka.h"

rd_kafka_mock_cluster_t *brook__cluster_mock(brook_cluster_t *c);

/* ---- serdes -------------------------------------------------------------------------------- */

/* How one key or value is (de)serialized; resolved from a brook_decl_serde_t at start. */
typedef struct {
    brook_serde_kind_t kind;
    const brook_type_t *type; /* avro only */
    brook_framing_t framing;  /* avro only, for sending */
    int32_t schema_id;        /* confluent framing */
    brook_app_t *app;         /* for writer schemas */
} brook__serde_t;

/* Per-thread scratch space a deserializer decodes into; reused record after record so the
 * handle path allocates only what a decoded value itself needs. */
typedef struct {
    brook_buf_t text;     /* string/json: NUL-terminated copy */
    brook_buf_t resolved; /* avro: writer data resolved to the reader schema */
    brook_bytes_t bytes;
    void *value; /* avro: decoded value (type->size bytes) */
    bool value_live;
    struct resolver_entry_s *resolvers; /* writer schemas seen by this thread */
} brook__decoded_t;

int brook__serde_resolve(brook__serde_t *s, brook_app_t *app, const brook_decl_serde_t *d,
                         brook_framing_t framing, int32_t schema_id, brook_error_t *err);
/* Serializes `v` (see brook.h serdes) into out (appended). NULL v: *is_null = true. */
int brook__serde_encode(const brook__serde_t *s, const void *v, brook_buf_t *out, bool *is_null,
                        brook_error_t *err);
/* Decodes raw bytes into dec; *out is what the handler receives. NULL data gives NULL. */
int brook__serde_decode(const brook__serde_t *s, const void *data, size_t len,
                        brook__decoded_t *dec, const void **out, brook_error_t *err);
void brook__decoded_clear(const brook__serde_t *s, brook__decoded_t *dec);
void brook__decoded_free(const brook__serde_t *s, brook__decoded_t *dec);

/* ---- templates ------------------------------------------------------------------------------- */

struct brook_template_s {
    uint32_t tag; /* 0: tells a template from an envelope in delivery reports */
    brook_app_t *app;
    rd_kafka_topic_t *rkt;
    const brook_decl_template_t *decl;
    brook__serde_t key, value;
    brook_delivery_fn *delivery_cb;
    void *delivery_opaque;
    atomic_uint_fast64_t sent, delivered, failed;
};

/* ---- listeners --------------------------------------------------------------------------------
 */

typedef struct brook__member_s brook__member_t;
typedef struct brook__sender_s brook__sender_t;
#define BROOK__SENDER_TAG 0x736e64u

struct brook_ctx_s {
    brook__member_t *member;
    brook_record_t record;
    rd_kafka_message_t *msg;
    int attempt;
    bool acked;
    bool headers_ready; /* record.headers filled (on first use: parsing them allocates) */
    char failure_name[128];
    char failure_message[512];
};

struct brook__member_s {
    brook_listener_t *listener;
    int index;
    rd_kafka_t *rk;
    pthread_t thread;
    bool thread_started;
    brook__decoded_t key_dec, value_dec;
    brook_header_t *headers; /* scratch for the record view */
    size_t headers_cap;
    rd_kafka_message_t **pending; /* batch ack: handled, not yet stored */
    size_t pending_count, pending_cap;
    brook_ctx_t ctx;
    struct brook__retry_state_s *retry; /* retry.c */
    atomic_bool group_steady;           /* librdkafka's join state is "steady": commits may go */
    atomic_bool stopping;               /* rejoining at stop only to commit: keep paused */
    atomic_int inflight;                /* its handlers' sends not yet delivered */
    atomic_bool output_failed;          /* a handler's send failed for good since the last rewind */
    brook__sender_t *senders;           /* one per template of the app: the opaque of those sends */
    atomic_bool assigned;               /* has received an assignment since it joined */
};

struct brook_listener_s {
    brook_app_t *app;
    const brook_decl_listener_t *decl;
    brook__serde_t key, value;
    brook_handler_fn *handler;
    void *handler_opaque;
    brook__member_t *members;
    int member_count;
    atomic_uint_fast64_t handled, failed, retried, dead_lettered, rebalances;
};

/* ---- the app ------------------------------------------------------------------------------------
 */

typedef struct {
    char *type_name;
    char *schema_json;
    uint64_t fingerprint;
} brook__writer_schema_t;

typedef enum { APP_NEW = 0, APP_STARTED, APP_STOPPED } brook__app_state_t;

struct brook_app_s {
    brook_decl_t *decl;
    char *bootstrap;          /* in use once started */
    brook_cluster_t *cluster; /* embedded only */
    rd_kafka_t *producer;
    pthread_t producer_thread;
    bool producer_thread_started;
    atomic_bool producer_run;
    brook_template_t *templates;
    size_t template_count;
    brook_listener_t *listeners;
    size_t listener_count;
    const brook_type_t **types;
    size_t type_count;
    brook__writer_schema_t *writers;
    size_t writer_count;
    void *opaque;
    brook__app_state_t state;
    atomic_bool running;  /* listeners keep polling while set */
    atomic_bool crashing; /* destroy without stop: leave without committing */
    atomic_bool stop_requested;
    bool user_debug;       /* the declaration sets librdkafka's "debug": its lines reach the log */
    int wake[2];           /* brook_app_request_stop() wakes brook_app_run() through this pipe */
    int64_t stop_deadline; /* brook__now_ms() by which a graceful stop must be done */
    /* Graceful stop: members count themselves committed, then wait to be let close. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stop_committed;
    bool stop_may_close;
};

/* Fills ctx->record.headers from the message on first use. Poll thread. */
void brook__ctx_headers(brook_ctx_t *ctx);

const brook_type_t *brook__app_find_type(const brook_app_t *app, const char *name);

/* Listener lifecycle, called by app.c. */
int brook__listener_init(brook_listener_t *l, brook_app_t *app, const brook_decl_listener_t *d,
                         brook_error_t *err);
int brook__listener_start(brook_listener_t *l, brook_error_t *err);
/* Joins the members' threads; they stop once app->running is cleared. */
void brook__listener_join(brook_listener_t *l);
void brook__listener_free(brook_listener_t *l);

/* Resolves the serdes of a template (t->app and t->decl are set when the app is made, so a
 * delivery callback can be set before start). */
int brook__template_resolve(brook_template_t *t, brook_error_t *err);
/* The producer's delivery report callback. */
void brook__template_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Marks the calling thread as member m's poll thread (NULL: none), so that sends from its
 * handlers are counted as m's until delivered. */
void brook__template_set_member(brook__member_t *m);
/* The per-template opaques of m's sends; caller frees. */
brook__sender_t *brook__senders_new(brook__member_t *m, brook_app_t *app);

/* Produces one record through the app's producer and waits for its delivery report (retry
 * and DLT forwards must be durable before the source offset is stored). Takes ownership of
 * headers. Returns 0 or the delivery error. */
int brook__forward_sync(brook_app_t *app, const char *topic, int32_t partition, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        rd_kafka_headers_t *headers);

/* Applies the declaration's kafka properties that concern a producer or a consumer. */
int brook__apply_user_kafka(const brook_app_t *app, rd_kafka_conf_t *conf, bool producer,
                            brook_error_t *err);

#endif
