/*
 * Brook: declarative Kafka services for C.
 *
 * The one public header of libbrook. A service is a brook_app_t built from a
 * declaration (libconfig text, see docs/declarations.md); it owns one producer
 * shared by its templates, the consumers of its listeners, and, when no broker
 * is configured, an embedded Kafka-protocol cluster.
 *
 * Threads: brook_app_* calls are made from one controlling thread. Handlers run
 * on their listener member's poll thread; delivery callbacks run on the app's
 * producer thread; the log sink runs on whatever thread logs. Template sends are
 * thread-safe and may be made from handlers.
 */
#ifndef BROOK_BROOK_H
#define BROOK_BROOK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* libbrook exports what its public headers declare, and nothing else. */
#pragma GCC visibility push(default)

/* Bumped whenever generated code and the runtime stop fitting together. Generated
 * files #error when theirs differs. */
#define BROOK_ABI_VERSION 1
#define BROOK_VERSION_STR "0.1.0"

/* ---- errors ---------------------------------------------------------------------------- */

/*
 * One rule for errors, everywhere in the API:
 *   - A call that can fail returns int: 0 on success, otherwise a code. The code is one of
 *     Brook's (BROOK_ERR_*, -301 to -399) or librdkafka's rd_kafka_resp_err_t passed through
 *     unchanged where Kafka refused (positive for broker errors, -200 to -1 for librdkafka's
 *     local ones); the two ranges never overlap, and brook_err2str() names both.
 *   - A call with more to say than a code takes a last `brook_error_t *err` (may be NULL),
 *     which receives the same code and a message ("file:line: ..." for declarations).
 *   - A call that returns a pointer returns NULL on failure and says why through its
 *     `brook_error_t *err`; accessors given a NULL handle return NULL, 0 or false.
 *   - A failing call does not also log its failure. Faults that no call can return
 *     (a record not delivered, a commit refused while consuming) are logged and counted.
 */
#define BROOK_ERRORS(X)                                                                            \
    X(BROOK_OK_ERR, 0, "success")                                                                  \
    X(BROOK_ERR_INVALID_ARG, -301, "invalid argument")                                             \
    X(BROOK_ERR_NOMEM, -302, "out of memory")                                                      \
    X(BROOK_ERR_DECL, -303, "invalid declaration")                                                 \
    X(BROOK_ERR_NOT_FOUND, -304, "not found")                                                      \
    X(BROOK_ERR_STATE, -305, "operation not valid in this state")                                  \
    X(BROOK_ERR_KAFKA, -306, "kafka client error")                                                 \
    X(BROOK_ERR_DECODE, -307, "cannot decode")                                                     \
    X(BROOK_ERR_ENCODE, -308, "cannot encode")                                                     \
    X(BROOK_ERR_TIMEOUT, -309, "timed out")                                                        \
    X(BROOK_ERR_SCHEMA, -310, "unknown or incompatible schema")                                    \
    X(BROOK_ERR_IO, -311, "i/o error")                                                             \
    X(BROOK_ERR_UNSUPPORTED, -312, "not supported here")                                           \
    X(BROOK_ERR_FENCED, -313, "fenced: a newer producer with the same transactional id took over") \
    X(BROOK_ERR_UNAVAILABLE, -314, "unavailable: a service Brook depends on cannot be reached")

typedef enum {
#define BROOK__ERR_ENUM(name, value, text) name = value,
    BROOK_ERRORS(BROOK__ERR_ENUM)
#undef BROOK__ERR_ENUM
} brook_err_t;

/* A static string describing err; Brook's codes and librdkafka's both. Never NULL. */
const char *brook_err2str(int err);

typedef struct brook_error_s {
    int code;
    char message[256];
} brook_error_t;

/* Sets err (if not NULL) to code and a printf-formatted message; returns code. */
int brook_error_set(brook_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- plain data used by generated code ---------------------------------------------------- */

typedef struct brook_buf_s {
    uint8_t *data;
    size_t len;
    size_t cap;
} brook_buf_t;
void brook_buf_init(brook_buf_t *b);  /* empty, no allocation */
void brook_buf_reset(brook_buf_t *b); /* len = 0, keeps the memory */
void brook_buf_free(brook_buf_t *b);  /* frees and re-inits */
/* Makes room for n more bytes; 0 or BROOK_ERR_NOMEM. */
int brook_buf_reserve(brook_buf_t *b, size_t n);
int brook_buf_append(brook_buf_t *b, const void *data, size_t n);

typedef struct brook_bytes_s {
    uint8_t *data;
    size_t len;
} brook_bytes_t;

/* Descriptor of a generated type: makes every generated type usable generically. */
#define BROOK_TYPE_MAGIC (0x42525400u | BROOK_ABI_VERSION) /* "BRT" and the ABI version */
typedef struct brook_type_s {
    uint32_t magic;          /* BROOK_TYPE_MAGIC, checked by brook_app_register_type() */
    const char *name;        /* Avro full name, e.g. "shop.OrderPlaced" */
    const char *schema_json; /* the schema's Parsing Canonical Form */
    uint64_t fingerprint;    /* CRC-64-AVRO of schema_json */
    size_t size;             /* sizeof(T) */
    void (*init)(void *v);
    void (*clear)(void *v);
    int (*encode)(const void *v, brook_buf_t *out);
    /* Fills v, which is zeroed, cleared or filled by an earlier decode: what that decode
     * allocated, it frees or reuses, as the generated T_decode does (a listener decodes record
     * after record into one value and clears it only at its end). */
    int (*decode)(void *v, const void *data, size_t len, brook_error_t *err);
    int (*to_json)(const void *v, brook_buf_t *out);
    int (*from_json)(void *v, const char *json, size_t len, brook_error_t *err);
    /* The schema with what resolving older writer schemas needs and the canonical form drops
     * (field defaults, aliases, enum default); self-contained. NULL: use schema_json. */
    const char *resolution_json;
} brook_type_t;

/* ---- logging --------------------------------------------------------------------------------- */

typedef enum {
    BROOK_LOG_ERROR = 3,
    BROOK_LOG_WARN = 4,
    BROOK_LOG_INFO = 6,
    BROOK_LOG_DEBUG = 7,
} brook_log_level_t;

/* A sink receives every message at or above the current level, librdkafka's included
 * (mapped from syslog levels). Runs on the thread that logs; must be thread-safe.
 * `component` is a short tag such as "app", "listener", "rdkafka". */
typedef void(brook_log_sink_fn)(brook_log_level_t level, const char *component, const char *message,
                                void *opaque);

/* Process-wide. NULL restores the default sink (stderr, one line per message). */
void brook_log_set_sink(brook_log_sink_fn *sink, void *opaque);
/* Default BROOK_LOG_INFO, or BROOK_LOG_LEVEL from the environment (error|warn|info|debug). */
void brook_log_set_level(brook_log_level_t level);
brook_log_level_t brook_log_get_level(void);
void brook_log(brook_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- records as handlers see them -------------------------------------------------------------
 */

typedef struct brook_header_s {
    const char *name;
    const void *value; /* NULL for a null header value */
    size_t len;
} brook_header_t;

typedef enum {
    BROOK_TS_NONE = 0,
    BROOK_TS_CREATE_TIME = 1,
    BROOK_TS_LOG_APPEND_TIME = 2,
} brook_ts_type_t;

/* A borrowed view of one consumed record; valid until the handler returns. */
typedef struct brook_record_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* ms since epoch, -1 when none */
    brook_ts_type_t timestamp_type;
    const void *key; /* raw bytes; NULL for a null key */
    size_t key_len;
    const void *value; /* raw bytes; NULL for a tombstone */
    size_t value_len;
    const brook_header_t *headers;
    size_t header_count;
} brook_record_t;

typedef enum {
    BROOK_OK = 0,    /* handled: the offset may be committed */
    BROOK_RETRY = 1, /* failed, worth another attempt (retry policy of the listener) */
    BROOK_FAIL = 2,  /* failed for good: straight to the dead-letter topic */
} brook_result_t;

/* ---- opaque handles ---------------------------------------------------------------------------
 */

typedef struct brook_app_s brook_app_t;
typedef struct brook_template_s brook_template_t;
typedef struct brook_listener_s brook_listener_t;
typedef struct brook_ctx_s brook_ctx_t;

/* ---- serdes ---------------------------------------------------------------------------------- */

/* How a listener or template declares a key or value: "string", "bytes", "json", or an
 * Avro named type registered with brook_app_register_type().
 *
 * What a handler receives for each (key and value alike), borrowed until it returns:
 *   string -> const char *        NUL-terminated copy of the bytes (NULL for a null key/value)
 *   bytes  -> const brook_bytes_t *
 *   json   -> const char *        NUL-terminated text, checked to be one JSON value
 *   avro   -> const T *           decoded generated value
 * What a send takes, likewise: string/json const char * (NUL-terminated), bytes
 * const brook_bytes_t *, avro const T *. */

/* ---- the app ----------------------------------------------------------------------------------
 */

/* Builds an app from declaration text (libconfig). `decl_name` names the text in error
 * messages (e.g. the file it came from). If `override_path` is not NULL, that file is read
 * and its tunables override those of the text (bootstrap, kafka properties, concurrency,
 * retry, ack, timeouts); a structural difference is an error naming it. Then the
 * environment is applied: BROOK_BOOTSTRAP, BROOK_KAFKA_<PROPERTY> (upper case, '_' for '.').
 * Nothing connects yet. On failure returns NULL with err's message "file:line: message". */
brook_app_t *brook_app_new(const char *decl_text, const char *decl_name, const char *override_path,
                           brook_error_t *err);
/* Same, from a declaration file. */
brook_app_t *brook_app_new_from_file(const char *path, brook_error_t *err);

/* Makes an Avro type known by its full name (types named by the declaration must be
 * registered before start). `type` is borrowed and must outlive the app (generated
 * descriptors are static). Registering a type again also records it as a writer schema the
 * listeners accept. A descriptor whose magic is not BROOK_TYPE_MAGIC (generated by another
 * Brook ABI, or not a descriptor) is refused with BROOK_ERR_SCHEMA. */
int brook_app_register_type(brook_app_t *app, const brook_type_t *type);

/* The generic handler: `key` and `value` are decoded as the listener declares (see serdes).
 * Runs on the listener member's poll thread; one partition's records are handled in offset
 * order and never concurrently. */
typedef brook_result_t(brook_handler_fn)(brook_ctx_t *ctx, const void *key, const void *value,
                                         void *opaque);

/* Binds the handler of listener `listener_id` (declared with handler = "..."). Must be
 * called before start for every listener: BROOK_ERR_NOT_FOUND when no such listener is
 * declared, BROOK_ERR_STATE once started, BROOK_ERR_INVALID_ARG for a batch listener (see
 * brook_app_set_batch_handler). */
int brook_app_set_handler(brook_app_t *app, const char *listener_id, brook_handler_fn *fn,
                          void *opaque);

/* ---- filters and interceptors (docs/filters-and-interceptors.md) ---- */

/* A record filter (Spring's RecordFilterStrategy): true to handle the record, false to drop
 * it. A dropped record is done with like a handled one (its offset stored and committed) and
 * counted in brook_listener_stats().filtered. BROOK_FILTER_RAW filters run before decoding
 * (key and value are NULL; brook_ctx_record() has the bytes and headers), so a dropped
 * record costs no decoding; BROOK_FILTER_DECODED filters get the decoded key and value. Runs
 * on the member's poll thread, like the handler. */
typedef bool(brook_filter_fn)(brook_ctx_t *ctx, const void *key, const void *value, void *opaque);
typedef enum { BROOK_FILTER_RAW = 0, BROOK_FILTER_DECODED = 1 } brook_filter_stage_t;
/* Before start; one filter per stage and listener (NULL fn removes it). BROOK_ERR_NOT_FOUND,
 * BROOK_ERR_INVALID_ARG for a batch listener, BROOK_ERR_STATE once started. Generated code binds a
 * listener's declared `filter` and `raw_filter`. */
int brook_app_set_filter(brook_app_t *app, const char *listener_id, brook_filter_stage_t stage,
                         brook_filter_fn *fn, void *opaque);

/* Handle interceptors: middleware around the handler (Watermill's middleware, Spring's
 * RecordInterceptor). Each gets the record and `next`, the rest of the chain: calling
 * brook_chain_next(next) runs the next interceptor and finally the handler and returns its
 * result, which the interceptor returns (or replaces). Returning without calling it vetoes
 * the record: the interceptor's result is the record's (BROOK_OK: done, as if handled;
 * BROOK_RETRY / BROOK_FAIL: through the retry policy, with brook_ctx_fail()'s name). Runs on
 * the member's poll thread. */
typedef struct brook_chain_s brook_chain_t;
brook_result_t brook_chain_next(brook_chain_t *next);
typedef brook_result_t(brook_handle_interceptor_fn)(brook_ctx_t *ctx, const void *key,
                                                    const void *value, brook_chain_t *next,
                                                    void *opaque);
/* Before start. `listener_id` NULL: every record listener (batch handlers are not wrapped;
 * naming a batch listener is BROOK_ERR_INVALID_ARG). The first added is the outermost. */
int brook_app_add_handle_interceptor(brook_app_t *app, const char *listener_id,
                                     brook_handle_interceptor_fn *fn, void *opaque);

/* Send interceptors (Spring's ProducerInterceptor): `before` runs in the sending thread for
 * each record a template sends, serialized, before it is queued: it can read it, add headers
 * (brook_outgoing_add_header), or veto the send by returning non-zero (the send returns that
 * code; a vetoed handler's send fails like any other send). `after` runs where delivery
 * callbacks run, once the record is acknowledged or failed for good. Records the runtime
 * forwards to retry and dead-letter topics do not pass through them. */
typedef struct brook_outgoing_s brook_outgoing_t;
const char *brook_outgoing_topic(const brook_outgoing_t *o);
const char *brook_outgoing_template(const brook_outgoing_t *o); /* the template's name */
const void *brook_outgoing_key(const brook_outgoing_t *o, size_t *len);
const void *brook_outgoing_value(const brook_outgoing_t *o, size_t *len);
int brook_outgoing_add_header(brook_outgoing_t *o, const char *name, const void *value, size_t len);
typedef int(brook_send_interceptor_fn)(brook_outgoing_t *o, void *opaque);
typedef struct brook_delivered_s {
    const char *template_name;
    int err; /* 0: acknowledged */
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t latency_us; /* from the send to the broker's answer */
} brook_delivered_t;
typedef void(brook_delivered_interceptor_fn)(const brook_delivered_t *d, void *opaque);
/* Before start. `template_name` NULL: every template. Run in the order added; either function
 * may be NULL. */
int brook_app_add_send_interceptor(brook_app_t *app, const char *template_name,
                                   brook_send_interceptor_fn *before,
                                   brook_delivered_interceptor_fn *after, void *opaque);

/* Connects: starts the embedded cluster if the app has no bootstrap, provisions declared
 * topics, starts the producer and every listener's members. On failure nothing keeps
 * running and the app may be destroyed. */
int brook_app_start(brook_app_t *app, brook_error_t *err);

/* Starts if needed, then blocks until SIGINT/SIGTERM or brook_app_stop(), then stops.
 * Returns 0 after a clean stop. */
int brook_app_run(brook_app_t *app);

/* Graceful stop: stop polling, finish in-flight records, commit, flush the producer, close
 * consumers, all within shutdown_timeout_ms. Call it from the controlling thread; from a
 * handler or a signal handler use brook_app_request_stop() (stop joins the handlers' threads).
 * Returns 0 when everything was committed and delivered in time (and for an app that is not
 * running). Otherwise what was not committed is delivered again to the next owner, and the
 * code says why: BROOK_ERR_TIMEOUT (members or the producer ran past shutdown_timeout_ms),
 * BROOK_ERR_KAFKA (a record a handler sent was not delivered), or the commit's own error.
 * Idempotent. */
int brook_app_stop(brook_app_t *app);

/* Runs fn in one Kafka transaction (Spring's KafkaTemplate.executeInTransaction): every
 * template send fn makes on this thread joins it; fn returning 0 commits it, anything else
 * aborts it (a read_committed reader then never sees those records). One at a time per app,
 * on the app's transactional producer ("<service>-<BROOK_INSTANCE_ID>-app", made on first use:
 * a second instance with the same id fences the first). Returns 0 when committed; fn's code
 * when it asked for the abort; BROOK_ERR_KAFKA when Kafka aborted it; BROOK_ERR_FENCED;
 * BROOK_ERR_STATE inside an exactly-once handler (its sends are already transactional). */
typedef int(brook_tx_fn)(brook_app_t *app, void *opaque);
int brook_app_execute_in_transaction(brook_app_t *app, brook_tx_fn *fn, void *opaque,
                                     brook_error_t *err);

/* Async-signal-safe and callable from handlers: asks brook_app_run() to stop and return. */
void brook_app_request_stop(brook_app_t *app);

/* Frees the app. Without a prior stop this is a crash-like exit: consumers leave without
 * committing what was not yet committed, unsent records are dropped (and logged).
 * NULL is a no-op. */
void brook_app_destroy(brook_app_t *app);

/* Records `writer_schema_json` (an Avro schema, any form) as an
 * older version of the registered type `type_name` that listeners may receive: records written with
 * it are resolved to the current type by Avro's schema resolution rules. Copied. */
int brook_app_register_writer_schema(brook_app_t *app, const char *type_name,
                                     const char *writer_schema_json, brook_error_t *err);

/* A pointer the app keeps for its owner (generated code keeps its service struct here). */
void brook_app_set_opaque(brook_app_t *app, void *opaque);
void *brook_app_get_opaque(const brook_app_t *app);

/* The service's name as declared. Borrowed, valid for the app's life. */
const char *brook_app_name(const brook_app_t *app);
/* The bootstrap list in use once started (the embedded cluster's when embedded).
 * Borrowed, valid for the app's life. NULL before start. */
const char *brook_app_bootstrap(const brook_app_t *app);

/* Borrowed, valid for the app's life; NULL when not declared. */
brook_template_t *brook_app_template(brook_app_t *app, const char *name);
brook_listener_t *brook_app_listener(brook_app_t *app, const char *id);

/* ---- templates (producers) ------------------------------------------------------------------- */

/* Called once per record sent through the template, on the app's producer thread (or on a
 * thread blocked in brook_template_flush() or brook_app_stop(), which serve reports), after
 * the broker acknowledged it or it failed for good (err != 0). */
typedef void(brook_delivery_fn)(brook_template_t *tpl, int err, const char *topic,
                                int32_t partition, int64_t offset, void *msg_opaque, void *opaque);

/* Set before brook_app_start() (the producer thread reads it without a lock): BROOK_ERR_STATE
 * once the app started. */
int brook_template_set_delivery_cb(brook_template_t *tpl, brook_delivery_fn *fn, void *opaque);

/* Initialize with BROOK_SEND_OPTS_INIT, then set what differs: fields added later default to
 * zero, which always means "as before". */
typedef struct brook_send_opts_s {
    int32_t partition;             /* -1 (BROOK_PARTITION_ANY): the partitioner chooses */
    int64_t timestamp;             /* 0: now */
    const brook_header_t *headers; /* copied */
    size_t header_count;
    const char *topic; /* NULL: the template's topic */
    void *msg_opaque;  /* passed to the delivery callback */
} brook_send_opts_t;
#define BROOK_PARTITION_ANY (-1)
#define BROOK_SEND_OPTS_INIT                                                                       \
    { .partition = BROOK_PARTITION_ANY }

/* Serializes key and value as the template declares and queues the record; asynchronous.
 * `key` and `value` are borrowed for the call only (see serdes for their C types; NULL
 * sends a null key / tombstone). Blocks while the producer queue is full. Thread-safe.
 * Returns 0, BROOK_ERR_ENCODE (the value does not fit its schema), BROOK_ERR_STATE before
 * start (or for a template declared transactional = true, outside a transaction), or
 * librdkafka's error (for example a full queue that cannot block). Inside a transaction (an
 * exactly-once handler, brook_app_execute_in_transaction) the record joins it. */
int brook_template_send(brook_template_t *tpl, const void *key, const void *value,
                        const brook_send_opts_t *opts);

/* Sends pre-serialized bytes, as is. Thread-safe. */
int brook_template_send_raw(brook_template_t *tpl, const void *key, size_t key_len,
                            const void *value, size_t value_len, const brook_send_opts_t *opts);

/* Waits until every record queued so far is acknowledged or failed: 0, BROOK_ERR_TIMEOUT
 * when some are still queued after timeout_ms, BROOK_ERR_STATE before start. Inside a
 * transaction: its records (written, not yet committed). */
int brook_template_flush(brook_template_t *tpl, int timeout_ms);

const char *brook_template_topic(const brook_template_t *tpl);

typedef struct brook_template_stats_s {
    uint64_t sent;      /* records queued */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* failed for good (reported to the delivery callback) */
    /* Times the app's producer failed for good (a fatal idempotence error) and was replaced:
     * what it had not delivered was reported failed; handlers' inputs are read again. */
    uint64_t producer_replacements;
} brook_template_stats_t;

void brook_template_stats(const brook_template_t *tpl, brook_template_stats_t *out);

/* ---- request-reply (docs/request-reply.md) ----------------------------------------------------
 *
 * A template declared with `reply = { topic = "..."; value = "<type>"; }` makes requests, as
 * Spring's ReplyingKafkaTemplate: each request carries a correlation id and the topic (and
 * partition) its reply goes to, and the app reads that topic (that partition) itself, without a
 * consumer group, from where it was when the app started. A listener declared
 * `reply = "<template>"` answers requests (Spring's @SendTo): its handler fills the reply, which
 * goes through that template to the request's reply topic. The headers are Spring's: */
#define BROOK_HEADER_CORRELATION_ID "kafka_correlationId"   /* the id's bytes, copied back */
#define BROOK_HEADER_REPLY_TOPIC "kafka_replyTopic"         /* UTF-8 topic name */
#define BROOK_HEADER_REPLY_PARTITION "kafka_replyPartition" /* 4-byte big-endian int */

/* Sends a request through `tpl` (which must declare a reply) and waits for its reply: key,
 * value and opts as brook_template_send() takes them (opts may be NULL; its headers are sent
 * too). Brook adds kafka_correlationId (16 bytes, unique to this app), kafka_replyTopic and,
 * when the template's reply names a partition, kafka_replyPartition, unless opts' headers
 * already name a reply topic or partition. Thread-safe: any number of threads may wait at once.
 * `timeout_ms` <= 0: the template's reply.timeout_ms (default 5000).
 *
 * `reply` (may be NULL: only wait) receives the reply's value, decoded as reply.value declares:
 *   avro                 -> T *: an initialized value (T_init, zeroed, or an earlier reply),
 *                           decoded into as T_decode does; the caller clears it with T_clear
 *   string, json, bytes  -> brook_buf_t *: reset, then filled with the value's bytes and a NUL
 *                           after them (not counted in len); a null value leaves it empty
 *
 * Returns 0; BROOK_ERR_TIMEOUT when no reply came in time (one that comes later is dropped and
 * counted as late); BROOK_ERR_DECODE when the reply cannot be decoded (err says why);
 * BROOK_ERR_INVALID_ARG for a template without a reply; BROOK_ERR_STATE before start, after
 * stop (a request waiting when the app stops returns it: a handler's at the stop's deadline,
 * shutdown_timeout_ms, if no reply came by then; another at once), or in a transaction (an
 * exactly-once handler, brook_app_execute_in_transaction: the request would be seen only once
 * the transaction commits, after the reply it waits for); or brook_template_send()'s error.
 * A request from a handler waits on the member's poll thread: keep timeouts short there. */
int brook_template_request(brook_template_t *tpl, const void *key, const void *value, void *reply,
                           int timeout_ms, const brook_send_opts_t *opts, brook_error_t *err);

typedef struct brook_request_stats_s {
    uint64_t requests; /* sent */
    uint64_t replies;  /* replies matched to a waiting request */
    uint64_t timeouts; /* requests that returned BROOK_ERR_TIMEOUT */
    /* Replies to this template's requests that no longer waited (timed out, or answered
     * already): dropped. */
    uint64_t late;
    /* Records on the template's reply topic (partition) that answer no request of this app
     * (no correlation id, or another app's): dropped. */
    uint64_t unmatched;
} brook_request_stats_t;

/* All zero for a template without a reply. Any thread. */
void brook_template_request_stats(const brook_template_t *tpl, brook_request_stats_t *out);

/* ---- handler context --------------------------------------------------------------------------
 */

/* The record being handled, headers included (parsed on first use, which is why the context
 * is not const). Borrowed, valid until the handler returns. */
const brook_record_t *brook_ctx_record(brook_ctx_t *ctx);
/* The last header with this name (as Kafka's Headers.lastHeader() and Spring's header mapping
 * read a name sent twice): 1 and its value, or 0. Borrowed until the handler returns. */
int brook_ctx_header(brook_ctx_t *ctx, const char *name, const void **value, size_t *len);
/* 1 for the first delivery, 2 for the first retry, ... */
int brook_ctx_attempt(const brook_ctx_t *ctx);

/* Text borrowed from a header: not NUL-terminated (print with "%.*s", (int)t.len, t.data);
 * data is NULL when the header is absent. */
typedef struct brook_text_s {
    const char *data;
    size_t len;
} brook_text_t;

/* What a retry-topic or dead-letter record says about the failure that put it there: the
 * headers Brook and Spring's DeadLetterPublishingRecoverer and @RetryableTopic write
 * (docs/failure-handling.md), decoded. Numbers are -1 (attempts 0) when their header is
 * absent or malformed. Spring's KafkaHeaders names are given beside each. */
typedef struct brook_failure_info_s {
    brook_text_t original_topic;          /* DLT_ORIGINAL_TOPIC */
    int32_t original_partition;           /* DLT_ORIGINAL_PARTITION */
    int64_t original_offset;              /* DLT_ORIGINAL_OFFSET */
    int64_t original_timestamp;           /* DLT_ORIGINAL_TIMESTAMP, ms */
    brook_text_t original_timestamp_type; /* DLT_ORIGINAL_TIMESTAMP_TYPE: "CreateTime", ... */
    brook_text_t original_group;          /* DLT_ORIGINAL_CONSUMER_GROUP */
    brook_text_t exception_fqcn;          /* DLT_EXCEPTION_FQCN: the failure's name */
    brook_text_t exception_cause_fqcn;    /* DLT_EXCEPTION_CAUSE_FQCN (Spring only) */
    brook_text_t exception_message;       /* DLT_EXCEPTION_MESSAGE */
    brook_text_t exception_stacktrace;    /* DLT_EXCEPTION_STACKTRACE */
    int attempts;              /* retry_topic-attempts: the delivery this record is for */
    int64_t backoff_timestamp; /* retry_topic-backoff-timestamp: due time, ms */
    int64_t first_timestamp;   /* retry_topic-original-timestamp: first failure's record, ms */
} brook_failure_info_t;

/* Fills out from r's headers (the last of each name, as Spring reads them); returns how many
 * of the facts were present, 0 for a record that never failed. Borrowed from r. In a handler:
 * brook_record_failure_info(brook_ctx_record(ctx), &info). */
int brook_record_failure_info(const brook_record_t *r, brook_failure_info_t *out);
brook_app_t *brook_ctx_app(brook_ctx_t *ctx);
/* The listener id handling this record. */
const char *brook_ctx_listener_id(const brook_ctx_t *ctx);
/* Names the failure (Spring: the exception class) for retry rules and the DLT's
 * kafka_dlt-exception-fqcn / -message headers. Returns BROOK_FAIL when `name` is listed
 * in the listener's not_retryable, otherwise BROOK_RETRY, so a handler can write
 * `return brook_ctx_fail(ctx, "shop.InsufficientFunds", "balance %d", b);` */
brook_result_t brook_ctx_fail(brook_ctx_t *ctx, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ack = "manual": marks this record (and everything before it on its partition) done. */
void brook_ctx_ack(brook_ctx_t *ctx);
/* A replying listener's (declared reply = "<template>") reply to the record being handled,
 * to fill: the template's value type, T * (T_init'ed: point its fields at memory that outlives
 * the handler, such as the request's own values, literals, or brook_arena_alloc(
 * &reply->brook_arena_, n), which is freed with the reply), or brook_buf_t * (empty: append
 * the string, json or bytes value). When the handler returns BROOK_OK the reply is sent through
 * the template, after the handler, to the request's kafka_replyTopic (the template's topic when
 * the request names none), on its kafka_replyPartition if any, keyed by the request's key,
 * with its kafka_correlationId; a reply that cannot be sent fails the record like a handler
 * (brook.ReplyFailure). Generated handlers of replying listeners receive it as their last
 * argument. A handler that never asks for it sends no reply. NULL for other listeners.
 * Borrowed until the handler returns. */
void *brook_ctx_reply(brook_ctx_t *ctx);

/* ---- batch listeners (docs/batch-listeners.md) --------------------------------------------------
 *
 * A listener declared with `batch = { max_records; max_wait_ms; }` hands its handler a batch of
 * records (Spring's batch @KafkaListener with a List<ConsumerRecord>): up to max_records, in
 * the order they were polled (each partition's in offset order), collected for at most
 * max_wait_ms after the first. The handler's result is the batch's:
 *   BROOK_OK                           every record is done with; their offsets are stored;
 *   brook_batch_fail_at(b, i, ...)     record i failed (Spring's BatchListenerFailedException):
 *                                      the records before it are stored, record i goes through
 *                                      the listener's retry policy and DLT as a single record
 *                                      would, the records after it are delivered again;
 *   BROOK_RETRY / BROOK_FAIL otherwise the whole batch failed (named or not by
 *                                      brook_batch_fail): retried as a whole (retry.mode
 *                                      "blocking", in memory, the member's partitions waiting),
 *                                      then each record dead-lettered; with retry topics each
 *                                      record is forwarded as if it had failed alone.
 * A record that cannot be decoded ends the batch before it: the handler gets the records
 * before it, then it goes to the DLT (brook.DeserializationError) and the records after it
 * come in the next batch. */

typedef struct brook_batch_s brook_batch_t;

/* The batch handler: keys[i] and values[i] are record i's key and value, decoded as the
 * listener declares (see serdes), for i < n (n >= 1). Everything is borrowed until it
 * returns. Runs on the listener member's poll thread; one partition's records are handled in
 * offset order and never concurrently. */
typedef brook_result_t(brook_batch_handler_fn)(brook_batch_t *batch, size_t n,
                                               const void *const *keys, const void *const *values,
                                               void *opaque);

/* Binds the handler of batch listener `listener_id`; generated code does it. Before start:
 * BROOK_ERR_NOT_FOUND when no such listener is declared, BROOK_ERR_INVALID_ARG when it is not
 * a batch listener (brook_app_set_handler binds the others, and refuses batch listeners),
 * BROOK_ERR_STATE once started. */
int brook_app_set_batch_handler(brook_app_t *app, const char *listener_id,
                                brook_batch_handler_fn *fn, void *opaque);

/* The records in the batch (the handler's n). */
size_t brook_batch_count(const brook_batch_t *batch);
/* Record i of the batch (topic, partition, offset, timestamp, raw key and value, headers,
 * parsed on first use), or NULL when i >= n. Borrowed until the handler returns. */
const brook_record_t *brook_batch_record(brook_batch_t *batch, size_t i);
/* The last header of that name of record i (as brook_ctx_header): 1 and its value, or 0. */
int brook_batch_header(brook_batch_t *batch, size_t i, const char *name, const void **value,
                       size_t *len);
/* Record i's delivery attempt: 1 for the first, 2 for the first retry, ... (a batch retried
 * as a whole counts for every record in it); 0 when i >= n. */
int brook_batch_attempt(const brook_batch_t *batch, size_t i);
brook_app_t *brook_batch_app(brook_batch_t *batch);
/* The listener id handling the batch. */
const char *brook_batch_listener_id(const brook_batch_t *batch);
/* Names record `index` as the one that failed (Spring's BatchListenerFailedException(message,
 * index)) with a failure name and message, as brook_ctx_fail: returns BROOK_FAIL when `name`
 * is in the listener's not_retryable, otherwise BROOK_RETRY, for
 * `return brook_batch_fail_at(batch, i, "shop.InvalidOrder", "order %s", id);`. The handler's
 * result still decides: BROOK_OK after it means the batch is done. An index >= n is ignored
 * (logged): the whole batch failed. */
brook_result_t brook_batch_fail_at(brook_batch_t *batch, size_t index, const char *name,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Names a failure of the whole batch (no index): its name and message go with every record
 * the batch's failure dead-letters or forwards. Returns as brook_batch_fail_at. */
brook_result_t brook_batch_fail(brook_batch_t *batch, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- listeners ----------------------------------------------------------------------------------
 */

typedef struct brook_listener_stats_s {
    uint64_t handled; /* handler calls that returned BROOK_OK */
    uint64_t failed;  /* handler calls that returned RETRY or FAIL */
    uint64_t retried; /* records redelivered or forwarded to a retry topic */
    uint64_t dead_lettered;
    uint64_t rebalances;
    /* Revocations (or losses) of partitions whose handled records could not be committed
     * first: their next owner handles those records again. */
    uint64_t revokes_uncommitted;
    /* Exactly-once listeners (exactly_once = true): transactions committed and aborted. */
    uint64_t transactions;
    uint64_t aborted_transactions;
    /* Batch listeners: batch handler calls (their records count in handled and failed). */
    uint64_t batches;
    uint64_t filtered; /* records a filter dropped (done with, not handled) */
} brook_listener_stats_t;

void brook_listener_stats(const brook_listener_t *l, brook_listener_stats_t *out);

/* The listener's declared id. Borrowed, valid for the app's life. */
const char *brook_listener_id(const brook_listener_t *l);
/* Listeners in declaration order: i < brook_app_listener_count(). Borrowed. */
size_t brook_app_listener_count(const brook_app_t *app);
brook_listener_t *brook_app_listener_at(brook_app_t *app, size_t i);
/* true once every member of the listener has joined its group and received its first
 * assignment (possibly empty). */
bool brook_listener_assigned(const brook_listener_t *l);

/* ---- seeking and control (docs/seek-and-control.md) -------------------------------------------
 *
 * Seeks (Spring's ConsumerSeekAware.ConsumerSeekCallback) are asked for on a member's poll
 * thread: from a handler, for the partitions its member owns, or from an on-assigned callback,
 * for the partitions being assigned. `topic` names the topic; `partition` one partition or
 * BROOK_PARTITION_ALL for every one of that topic in reach. What a seek does:
 *   - it moves where the partition is read next: the next record the listener handles from it
 *     is the one at the new offset, and the records the consumer had already fetched past it
 *     are dropped, not handled (from a handler: once the handler's record is done, as its
 *     result says; from an on-assigned callback: before any record of the partition);
 *   - the new offset is stored for the next commit, like a handled record's, so a restart
 *     continues from it too (exactly-once listeners: the offset is committed with the next
 *     transaction that handles a record of the partition);
 *   - a blocking retry waiting on the partition is abandoned (the seek wins).
 * An offset past the end is the end, before the beginning the beginning (Kafka would apply the
 * listener's start_from instead); a timestamp later than every record's is the end. Several
 * seeks of one partition in one call: the last one counts. Returns 0; BROOK_ERR_INVALID_ARG (no
 * topic, a negative offset); BROOK_ERR_STATE when not called from a handler or an on-assigned
 * callback; BROOK_ERR_NOT_FOUND when no partition in reach matches;
 * BROOK_ERR_UNSUPPORTED from the handler of an exactly-once listener; or librdkafka's error of
 * a lookup (watermarks, offsets for a timestamp) that failed. Never from another thread. */
#define BROOK_PARTITION_ALL (-1)
int brook_ctx_seek(brook_ctx_t *ctx, const char *topic, int32_t partition, int64_t offset);
int brook_ctx_seek_to_beginning(brook_ctx_t *ctx, const char *topic, int32_t partition);
int brook_ctx_seek_to_end(brook_ctx_t *ctx, const char *topic, int32_t partition);
/* To the first record whose timestamp is >= timestamp_ms (ms since the epoch). */
int brook_ctx_seek_to_timestamp(brook_ctx_t *ctx, const char *topic, int32_t partition,
                                int64_t timestamp_ms);

typedef struct brook_topic_partition_s {
    const char *topic;
    int32_t partition;
} brook_topic_partition_t;

/* Called when partitions are assigned to a member of the listener (Spring's
 * ConsumerSeekAware.onPartitionsAssigned), on that member's poll thread, inside the rebalance,
 * before any record of them is handled; with cooperative rebalancing only the partitions added
 * are passed. `parts` (borrowed for the call) are the partitions assigned; `ctx` offers the
 * seeks above for them, and brook_ctx_app() and brook_ctx_listener_id() (brook_ctx_record()
 * is NULL: there is no record). A partition not sought starts from the group's committed
 * offset, or start_from. */
typedef void(brook_assigned_fn)(brook_ctx_t *ctx, const brook_topic_partition_t *parts,
                                size_t count, void *opaque);
/* Before brook_app_start() (BROOK_ERR_STATE after); NULL fn removes it. */
int brook_listener_on_assigned(brook_listener_t *l, brook_assigned_fn *fn, void *opaque);

/* Pause and resume a listener (Spring's container pause()/resume()), from any thread: its
 * members stop fetching and handling but keep polling, so they stay in the group and keep their
 * partitions (no rebalance); a paused listener commits what it handled before as usual.
 * Asynchronous: each member pauses before it handles its next record; brook_listener_paused()
 * says when all have. Resuming does not resume a partition a blocking retry or a retry-topic
 * record not yet due holds: it resumes when that is due. A pause asked for before start, or while
 * the listener is stopped, applies when it starts. 0, or BROOK_ERR_INVALID_ARG. */
int brook_listener_pause(brook_listener_t *l);
int brook_listener_resume(brook_listener_t *l);
/* Spring's isPauseRequested(): brook_listener_pause() was called, and resume() not since. */
bool brook_listener_pause_requested(const brook_listener_t *l);
/* Spring's isContainerPaused(): running, a pause requested, and every member has paused (no
 * handler of the listener runs now, none will before a resume). */
bool brook_listener_paused(const brook_listener_t *l);

/* Stop and start one listener while the app runs (Spring's KafkaListenerEndpointRegistry
 * getListenerContainer(id).stop()/start()). Stop is graceful, like the app's stop for its
 * members: they stop polling, finish the record in hand, wait for what their handlers sent,
 * commit, leave the group and close their consumers, within shutdown_timeout_ms. It waits for
 * that and returns 0, BROOK_ERR_TIMEOUT or the commit's error; called from one of the
 * listener's own handlers it only asks (returns 0) and the stop happens once the handler
 * returns. Stopping a stopped listener returns 0. Any thread; from another listener's handler
 * it blocks that handler until done, or until a second past shutdown_timeout_ms: then it
 * returns BROOK_ERR_TIMEOUT and the listener finishes its stop on its own (the listener's own
 * handler may be waiting for the caller's, both stopping each other, say). */
int brook_listener_stop(brook_listener_t *l);
/* Starts a stopped listener (or one declared auto_startup = false) while the app runs: new
 * members join the group and resume from its committed offsets. 0 (also when it runs);
 * BROOK_ERR_STATE before brook_app_start() or after brook_app_stop(), or from the listener's own
 * handler; otherwise the error of the members' start (nothing of it keeps running). Any thread. */
int brook_listener_start(brook_listener_t *l, brook_error_t *err);
/* Spring's isRunning(): started and no stop asked for since. */
bool brook_listener_running(const brook_listener_t *l);

/* ---- operations: metrics and health ---------------------------------------------------------
 *
 * With `service.http = { port = N; }` declared, or BROOK_HTTP_PORT set, brook_app_start() also
 * starts an HTTP server on a thread of its own (libmicrohttpd) serving GET /metrics
 * (Prometheus text format 0.0.4), /health and /health/ready (readiness), /health/live
 * (liveness). It serves until brook_app_destroy(): after brook_app_stop() the health checks
 * say DOWN and the metrics keep their last values. Names, labels and the health rules:
 * docs/operations.md. */

/* The port the app's endpoint listens on (the one the system picked for port 0), from a
 * brook_app_start() that returned 0 until brook_app_destroy(); 0 when the app has no endpoint. */
int brook_app_http_port(const brook_app_t *app);

/* Appends to `out` what GET /metrics serves: the app's metrics in Prometheus' text format
 * 0.0.4. For serving them from a server of your own, with or without an endpoint. Any thread,
 * but not during brook_app_start() or brook_app_destroy(). 0, or BROOK_ERR_NOMEM (out then
 * holds part of the text). */
int brook_app_metrics(brook_app_t *app, brook_buf_t *out);

typedef enum {
    BROOK_HEALTH_READINESS = 0, /* /health, /health/ready: started, every listener assigned,
                                 * the producer not failed */
    BROOK_HEALTH_LIVENESS = 1,  /* /health/live: the app's threads run */
} brook_health_probe_t;

/* Evaluates a probe: 1 when it is UP, 0 when DOWN, BROOK_ERR_NOMEM. When `out` is not NULL,
 * appends the JSON the endpoint serves ({"status":"UP"|"DOWN","components":{...}}, each DOWN
 * component with its reason). Same threads as brook_app_metrics(). */
int brook_app_health(brook_app_t *app, brook_health_probe_t probe, brook_buf_t *out);

/* ---- the embedded cluster ------------------------------------------------------------------ */

/* A Kafka-protocol cluster inside this process (librdkafka's mock cluster) on loopback ports:
 * consumer groups, idempotent and transactional producers, in-memory logs. There is one per
 * process, shared: every app whose bootstrap is "embedded" (or absent) uses it, so services
 * in one process talk to each other. It lives while anyone holds it; apps hold it from
 * start to destroy. */
typedef struct brook_cluster_s brook_cluster_t;

/* Returns the process's embedded cluster, starting it with `brokers` brokers (>= 1) if it
 * is not running (a running one keeps its broker count). Each call takes a reference the
 * caller gives back with brook_cluster_release(). NULL and err on failure. */
brook_cluster_t *brook_cluster_acquire(int brokers, brook_error_t *err);
void brook_cluster_release(brook_cluster_t *c);
/* "127.0.0.1:port,...". Borrowed, valid while the reference is held. */
const char *brook_cluster_bootstrap(const brook_cluster_t *c);
int brook_cluster_broker_count(const brook_cluster_t *c);
/* Creates a topic; an existing one is left as it is (0, with a warning when its partition
 * count differs). replication is capped at the broker count. */
int brook_cluster_create_topic(brook_cluster_t *c, const char *topic, int partitions,
                               int replication);
/* Creates the topics a service declared in `decl_path` needs (declared, referenced, retry and
 * dead-letter topics), as the service itself would at start. For processes that share one
 * embedded cluster through a dev-broker: a Kafka client cannot create topics there. */
int brook_cluster_provision(brook_cluster_t *c, const char *decl_path, brook_error_t *err);
/* Partition count of a topic this cluster created, or -1. */
int brook_cluster_topic_partitions(brook_cluster_t *c, const char *topic);
/* librdkafka's handle of the cluster (rdkafka_mock.h), for fault injection in tests
 * (brook/brook_test.h). */
struct rd_kafka_mock_cluster_s *brook_cluster_mock(brook_cluster_t *c);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* BROOK_BROOK_H */
