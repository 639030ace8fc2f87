/*
 * The declaration model: what a service declares (docs/declarations.md), parsed from libconfig
 * text into plain data. Shared by the runtime (libbrook) and the generator (brookc), so both
 * read declarations the same way and report the same errors.
 *
 * Every error is "file:line: message" naming the setting (e.g.
 * "svc.brook:12: listeners[1].ack: unknown ack mode \"sometimes\" (expected record, batch,
 * manual, record_sync)"). Line numbers are those of the setting at fault, or of its parent group
 * when a required setting is missing.
 */
#ifndef BROOK_DECL_H
#define BROOK_DECL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brook/avro.h"
#include "brook/brook.h"

typedef enum {
    BROOK_SERDE_STRING = 0,
    BROOK_SERDE_BYTES,
    BROOK_SERDE_JSON,
    BROOK_SERDE_AVRO, /* type_name holds the Avro full name */
} brook_serde_kind_t;

typedef struct {
    brook_serde_kind_t kind;
    char *type_name; /* BROOK_SERDE_AVRO only, else NULL */
    int line;
} brook_decl_serde_t;

/* A name = value pair for pass-through properties (kafka = {...}, topic config = {...}).
 * `name` already has '_' mapped to '.' (linger_ms -> linger.ms); numbers and booleans are
 * rendered as text ("5", "true"). */
typedef struct {
    char *name;
    char *value;
    int line;
} brook_decl_kv_t;

typedef struct {
    char *name;
    int partitions;  /* default 1 */
    int replication; /* -1 (default): the broker's default.replication.factor */
    brook_decl_kv_t *config;
    size_t config_count;
    int line;
} brook_decl_topic_t;

/* A template's "reply" = { ... }: the template makes requests (Spring's ReplyingKafkaTemplate,
 * docs/request-reply.md) and this instance reads their replies from `topic`. */
typedef struct {
    bool declared;
    char *topic;              /* "topic", required; a tunable (each instance may have its own) */
    int32_t partition;        /* "partition": only this one, named in kafka_replyPartition; -1
                               * (default): every partition of `topic` (a topic of its own) */
    brook_decl_serde_t value; /* "value": the reply's type, default bytes */
    int64_t timeout_ms;       /* "timeout_ms": a request's wait when the caller gives 0; 5000 */
    int line;
} brook_decl_reply_t;

typedef struct {
    char *name;
    char *topic;
    brook_decl_serde_t key;   /* default string */
    brook_decl_serde_t value; /* default bytes */
    /* "framing": BROOK_AVRO_FRAMING_SINGLE_OBJECT | _CONFLUENT; by default single-object, or
     * Confluent when the service declares a schema registry. */
    int framing;
    bool framing_declared;
    /* "schema_id": required with Confluent framing unless a schema registry is declared (its
     * id is then the registry's, and schema_id is refused). */
    int32_t schema_id;
    bool transactional; /* "transactional": default false */
    brook_decl_reply_t reply;
    int line;
} brook_decl_template_t;

typedef enum {
    BROOK_ACK_RECORD = 0, /* store after each record, commit async every commit_interval_ms */
    BROOK_ACK_BATCH,      /* store after each poll batch */
    BROOK_ACK_MANUAL,     /* the handler calls brook_ctx_ack() */
    BROOK_ACK_RECORD_SYNC /* synchronous commit after every record (slow) */
} brook_ack_mode_t;

typedef enum {
    BROOK_START_EARLIEST = 0,
    BROOK_START_LATEST,
} brook_start_from_t;

typedef enum {
    BROOK_RETRY_BLOCKING = 0,
    BROOK_RETRY_TOPICS,
} brook_retry_mode_t;

typedef struct {
    bool declared;        /* a retry group was present */
    int attempts;         /* total deliveries including the first; default 3 */
    int64_t delay_ms;     /* default 1000 */
    double multiplier;    /* default 1.0 (fixed delay) */
    int64_t max_delay_ms; /* default 30000, or delay_ms when that is larger */
    brook_retry_mode_t mode;
    char **not_retryable;
    size_t not_retryable_count;
    /* "preserve_key_order" (retry topics only): while a record of a key is in the retry chain,
     * later records of that key wait in the parking topic (docs/ordered-retries.md).
     * Structural: it changes the topics and the subscription. */
    bool preserve_key_order;
    int preserve_key_order_line;
    int line;
} brook_decl_retry_t;

typedef struct {
    bool enabled; /* default true */
    char *topic;  /* default "<topic>-dlt" per source topic when NULL */
    int line;
} brook_decl_dlt_t;

typedef enum {
    BROOK_ISOLATION_READ_COMMITTED = 0, /* default: records of aborted transactions skipped */
    BROOK_ISOLATION_READ_UNCOMMITTED,
} brook_isolation_t;

typedef struct {
    char *id;
    char **topics;
    size_t topic_count;
    char *topic_pattern;      /* exactly one of topics / topic_pattern */
    char *group;              /* default: the service name */
    brook_decl_serde_t key;   /* default string */
    brook_decl_serde_t value; /* default bytes */
    char *handler;            /* C identifier */
    char *filter;             /* "filter": C identifier of a filter after decoding, or NULL */
    char *raw_filter;         /* "raw_filter": one before decoding, or NULL */
    int concurrency;          /* default 1, 1..64 */
    brook_ack_mode_t ack;
    brook_start_from_t start_from;
    brook_decl_retry_t retry;
    brook_decl_dlt_t dlt;
    brook_isolation_t isolation; /* "isolation" */
    bool auto_startup; /* default true; false: started by brook_listener_start() (tunable) */
    /* "exactly_once": the handler's sends, retry and DLT forwards and the input offsets go
     * into one transaction of the member's, committed every "transaction.max_records"
     * records (default 100) or "transaction.max_ms" (default 100), whichever comes first. */
    bool exactly_once;
    int tx_max_records;
    int64_t tx_max_ms;
    /* "batch = { max_records; max_wait_ms; }": a batch listener (docs/batch-listeners.md), whose
     * handler takes up to batch_max_records records (default 500) collected for at most
     * batch_max_wait_ms after the first (default 100). Structural: it changes the handler's
     * prototype; the two sizes are tunables. */
    bool batch;
    int batch_max_records;
    int64_t batch_max_wait_ms;
    int batch_line;
    /* "reply": the template the handler's reply is sent through (Spring's @SendTo), or NULL.
     * Its key type is the listener's (a reply's key is the request's). */
    char *reply;
    int reply_line;
    int line;
} brook_decl_listener_t;

/* How a schema's subject is named in the schema registry (Confluent's strategies). */
typedef enum {
    BROOK_SUBJECT_TOPIC = 0,    /* "<topic>-key" / "<topic>-value" (TopicNameStrategy) */
    BROOK_SUBJECT_RECORD,       /* "<record full name>" (RecordNameStrategy) */
    BROOK_SUBJECT_TOPIC_RECORD, /* "<topic>-<record full name>" (TopicRecordNameStrategy) */
} brook_subject_strategy_t;

/* Top-level schema_registry = { ... } (docs/schema-registry.md). */
typedef struct {
    bool declared;
    char *url; /* required; BROOK_SCHEMA_REGISTRY_URL replaces it */
    brook_subject_strategy_t subject_strategy;
    bool auto_register; /* default true: templates register their schema; else look it up */
    char *username;     /* basic auth, both or neither */
    char *password;
    char *ca_location; /* TLS: CA bundle, client certificate and key (PEM) */
    char *certificate_location;
    char *key_location;
    char *key_password;
    bool ssl_verify;    /* default true */
    int64_t timeout_ms; /* one request, default 10000 */
    int cache_capacity; /* writer schemas kept by id, default 1000 */
    int line;
} brook_decl_registry_t;

typedef struct brook_decl_s {
    char *source;           /* the name used in error messages (file path or given name) */
    char *base_dir;         /* directory of the file, for relative schema paths; "." for text */
    char *name;             /* service.name, required */
    char *bootstrap;        /* NULL or "embedded": embedded cluster */
    int embedded_brokers;   /* service.embedded_brokers, default 1 */
    brook_decl_kv_t *kafka; /* service.kafka */
    size_t kafka_count;
    int64_t shutdown_timeout_ms; /* default 10000 */
    int64_t commit_interval_ms;  /* default 1000 */
    /* service.http = { port; bind; }: the metrics and health endpoint (docs/operations.md).
     * http_port -1 (default): none; 0: a free port the system picks. BROOK_HTTP_PORT and
     * BROOK_HTTP_BIND override both (brook_decl_apply_env). */
    int http_port;
    char *http_bind; /* NULL: "127.0.0.1" */
    char **schemas;  /* as written (relative to base_dir) */
    size_t schema_count;
    /* Older versions of types in `schemas`, only ever read (schema evolution): each file
     * defines a type whose full name is also defined in `schemas`. Top-level
     * `writer_schemas = [ ... ]`, optional, relative to base_dir. */
    char **writer_schemas;
    size_t writer_schema_count;
    brook_decl_topic_t *topics;
    size_t topic_count;
    brook_decl_template_t *templates;
    size_t template_count;
    brook_decl_listener_t *listeners;
    size_t listener_count;
    brook_decl_registry_t registry;
    int line; /* line of service = {...}, for errors about the service as a whole */
} brook_decl_t;

/* Parses declaration text. `source` names it in errors. Returns 0 and a new model in *out
 * (free with brook_decl_destroy), or BROOK_ERR_DECL with err->message "source:line: ...".
 * An error does not stop the parse (only a syntax error or running out of memory does): the
 * settings that do not depend on the one at fault are still checked, and err receives the
 * first error found, its code being the return value. */
int brook_decl_parse_string(const char *text, const char *source, brook_decl_t **out,
                            brook_error_t *err);
/* Same, from a file; source = path, base_dir = its directory. BROOK_ERR_IO if unreadable. */
int brook_decl_parse_file(const char *path, brook_decl_t **out, brook_error_t *err);

/* Receives one error of a parse: code and message as err would hold them. `e` is borrowed for
 * the call. Runs on the thread that parses, before the parse returns. */
typedef void(brook_decl_diag_fn)(const brook_error_t *e, void *opaque);

/* The parsers above, also passing every error they find to `diag` (may be NULL), each once
 * and in the order found, the first one included (it is also in err): how brookc reports all
 * the errors of a file in one run. */
int brook_decl_parse_string_diag(const char *text, const char *source, brook_decl_t **out,
                                 brook_error_t *err, brook_decl_diag_fn *diag, void *opaque);
int brook_decl_parse_file_diag(const char *path, brook_decl_t **out, brook_error_t *err,
                               brook_decl_diag_fn *diag, void *opaque);
void brook_decl_destroy(brook_decl_t *d);

/* Overrides the tunables of `base` with those of `over` (bootstrap, embedded_brokers, kafka
 * properties (merged by name), shutdown/commit intervals, the http endpoint, the schema
 * registry (when over declares one), topic
 * partitions/replication/config, a template's reply topic/partition/timeout_ms, listener
 * concurrency/ack/start_from/retry/dlt/group). Any
 * structural difference — service name, set of templates or listeners, a template's topic or types,
 * a listener's topics, pattern, types or handler, whether a template takes replies and their
 * type, a listener's reply template — is BROOK_ERR_DECL naming it with over's
 * file:line. */
int brook_decl_merge(brook_decl_t *base, const brook_decl_t *over, brook_error_t *err);

/* Applies BROOK_BOOTSTRAP, BROOK_KAFKA_<PROP> (e.g. BROOK_KAFKA_LINGER_MS=5 -> linger.ms=5),
 * BROOK_HTTP_PORT, BROOK_HTTP_BIND and BROOK_SCHEMA_REGISTRY_URL (the declared registry's url;
 * ignored without one) from the process environment. BROOK_ERR_DECL for a
 * BROOK_HTTP_PORT that is not a port number. */
int brook_decl_apply_env(brook_decl_t *d, brook_error_t *err);

/* true when the service runs on an embedded cluster (bootstrap NULL or "embedded"). */
bool brook_decl_is_embedded(const brook_decl_t *d);

/* The value of kafka property `name` (dotted) as declared or overridden, or NULL. */
const char *brook_decl_kafka_value(const brook_decl_t *d, const char *name);

const char *brook_decl_ack_name(brook_ack_mode_t ack);

/* A key or value type as declarations spell it: "string", "bytes", "json" or the Avro full
 * name. Borrowed from s (or static). */
const char *brook_decl_serde_name(const brook_decl_serde_t *s);

/* The listeners' derived topics for retry mode "topics": the delays of attempts 2..attempts
 * with backoff applied and capped; `<topic>-retry-<delay>` per distinct delay, or a single
 * `<topic>-retry` when all delays are equal. Fills out[] (up to max) with delays in ms and
 * returns how many attempts use retry topics (attempts - 1). */
size_t brook_decl_retry_delays(const brook_decl_retry_t *r, int64_t *out, size_t max);

#endif
