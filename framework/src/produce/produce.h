/*
 * Producing: the app's one idempotent producer and its thread (which serves delivery
 * reports), the templates (typed sends), forwards (retry and DLT records, sent and waited
 * for), and outputs: the count of a listener member's sends not yet delivered, which its
 * commits wait for.
 */
#ifndef BROOK_PRODUCE_H
#define BROOK_PRODUCE_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "serde/serde.h"

typedef struct brook__producer_s brook__producer_t;

/* The producer of declaration `d` (borrowed) with its templates, not started: delivery
 * callbacks may be set on the templates until it starts. */
brook__producer_t *brook__producer_new(const brook_decl_t *d);
/* Resolves the templates' serdes; refuses what the declaration asks and Brook cannot do. */
/* brook_app_add_send_interceptor: `template_name` NULL for every template. Before start. */
int brook__producer_add_interceptor(brook__producer_t *p, const char *template_name,
                                    brook_send_interceptor_fn *before,
                                    brook_delivered_interceptor_fn *after, void *opaque);
int brook__producer_resolve(brook__producer_t *p, const brook__types_t *types, brook_error_t *err);
/* After resolve, with a schema registry: each Confluent-framed Avro key and value of a template
 * gets its id from the registry (registered, or looked up without auto_register), recorded in
 * `types` as that type's. Refused (incompatible, not registered, unreachable): the error,
 * naming the template. */
int brook__producer_register_schemas(brook__producer_t *p, brook__registry_t *registry,
                                     brook__types_t *types, brook_error_t *err);
/* Connects to `bootstrap` and starts the producer thread. */
int brook__producer_start(brook__producer_t *p, const char *bootstrap, brook_error_t *err);
/* Opens the templates' topic handles (after the topics were provisioned). */
int brook__producer_open_templates(brook__producer_t *p, brook_error_t *err);
/* The librdkafka handle once started (provisioning uses it for Admin requests), else NULL. */
rd_kafka_t *brook__producer_handle(brook__producer_t *p);
brook_template_t *brook__producer_template(brook__producer_t *p, const char *name);
/* The request module's state of a template that declares a reply (request/request.h), kept
 * with it so brook_template_request finds it; set before start. */
void brook__template_set_requester(brook_template_t *tpl, void *requester);
void *brook__template_requester(const brook_template_t *tpl);
/* Fails every queued and in-flight record at once: each still gets its delivery report (with a
 * purge error). Waiting forwards return, their records are held and not committed, so nothing
 * is lost. */
void brook__producer_purge(brook__producer_t *p);
/* Delivers what is queued until `deadline` (purged beyond it; at once when `drop` is set,
 * for a crash-like exit), serves the last reports and stops the thread. 0, or
 * BROOK_ERR_TIMEOUT when records were not delivered in time. */
int brook__producer_stop(brook__producer_t *p, int64_t deadline, bool drop);
void brook__producer_free(brook__producer_t *p);

/* Produces one record and waits for its delivery report (retry and DLT forwards must be
 * durable before the source offset is stored). Takes ownership of headers. Returns 0 or the
 * delivery error. On a thread bound to a transaction the record joins it instead, and is
 * durable when it commits: then 0 once queued. */
int brook__producer_forward(brook__producer_t *p, const char *topic, int32_t partition,
                            const void *key, size_t key_len, const void *value, size_t value_len,
                            rd_kafka_headers_t *headers);
/* The same with the record's timestamp (0: now) and, when `offset` is not NULL, the offset it
 * was written at (-1 when unknown: a transaction's record). Ordered retries park records with
 * it (recover/ordered.c). */
int brook__producer_forward_at(brook__producer_t *p, const char *topic, int32_t partition,
                               int64_t timestamp, const void *key, size_t key_len,
                               const void *value, size_t value_len, rd_kafka_headers_t *headers,
                               int64_t *offset);
/* The same without waiting, from a listener member's thread: the record counts as one of the
 * member's outputs, whose commits wait for it and which go back to their committed offsets
 * when it fails, or when it is written at another offset than `expected_offset` (-1: any).
 * Elsewhere (no outputs bound, or in a transaction) it waits, as brook__producer_forward_at.
 * Takes ownership of headers. 0 once queued, or why it was not. */
int brook__producer_forward_async(brook__producer_t *p, const char *topic, int32_t partition,
                                  int64_t timestamp, const void *key, size_t key_len,
                                  const void *value, size_t value_len,
                                  rd_kafka_headers_t *headers, int64_t expected_offset);

/* ---- metrics (produce/metrics.c) -------------------------------------------------------------
 * Read on any thread (a scrape) while the producer exists. */

/* Before start: librdkafka statistics every interval_ms, for brook__producer_brokers(). */
void brook__producer_enable_stats(brook__producer_t *p, int interval_ms);
/* Records queued or in flight (rd_kafka_outq_len); -1 when the producer is not running. */
int brook__producer_queue_depth(brook__producer_t *p);
uint64_t brook__producer_replacements(const brook__producer_t *p);
/* true while the producer has failed for good and is not replaced yet; reason says why. */
bool brook__producer_fatal(brook__producer_t *p, char *reason, size_t size);

/* One broker as the producer's last statistics saw it. */
typedef struct {
    int32_t id;
    bool up;          /* connected */
    double rtt_avg_s; /* request round trip over the statistics interval; < 0: no requests */
    double rtt_p99_s;
} brook__broker_stats_t;
/* Fills out (up to max) with the brokers of the last statistics, in broker id order; returns
 * how many (0 before the first report or without statistics). */
size_t brook__producer_brokers(brook__producer_t *p, brook__broker_stats_t *out, size_t max);

/* ---- transactions ------------------------------------------------------------------------- */

/* A transactional producer (produce/transaction.c): the app producer's configuration with a
 * transactional.id. Sends and forwards on a thread bound to it go into its open transaction. */
typedef struct brook__txn_s brook__txn_t;

/* Creates and initializes it: an older producer with the same id is fenced and its open
 * transaction aborted. The producer must have started. */
brook__txn_t *brook__txn_new(brook__producer_t *p, const char *transactional_id,
                             brook_error_t *err);
void brook__txn_free(brook__txn_t *t);
const char *brook__txn_id(const brook__txn_t *t);
/* Binds the calling thread to t (NULL unbinds): its template sends and forwards go into t. */
void brook__txn_bind(brook__txn_t *t);
brook__txn_t *brook__txn_current(void);
rd_kafka_t *brook__txn_handle(brook__txn_t *t);
/* Begins a transaction unless one is open. */
int brook__txn_begin(brook__txn_t *t, brook_error_t *err);
bool brook__txn_is_open(const brook__txn_t *t);
/* Commits the open transaction together with `offsets` (may be NULL) of the consumer group
 * `cgmd`. 0 when committed; BROOK_ERR_KAFKA when it was aborted instead; BROOK_ERR_FENCED when
 * a newer producer with the same id took over (t is then useless). err says why. */
int brook__txn_commit(brook__txn_t *t, const rd_kafka_topic_partition_list_t *offsets,
                      const rd_kafka_consumer_group_metadata_t *cgmd, brook_error_t *err);
/* Aborts the open transaction, if any: 0, or BROOK_ERR_FENCED. */
int brook__txn_abort(brook__txn_t *t, brook_error_t *err);
/* Serves delivery reports of t's records (its queue is served by no other thread). */
void brook__txn_poll(brook__txn_t *t);

/* ---- outputs ------------------------------------------------------------------------------ */

typedef struct brook__outputs_s brook__outputs_t;

/* Counts the sends made through p's templates on threads bound to it. */
brook__outputs_t *brook__outputs_new(brook__producer_t *p);
void brook__outputs_free(brook__outputs_t *o);
/* Binds the calling thread (a member's poll thread) to o; NULL unbinds. */
void brook__outputs_bind(brook__outputs_t *o);
/* Waits until none of o's sends is in flight; false at `deadline`. */
bool brook__outputs_drain(brook__outputs_t *o, int64_t deadline);
int brook__outputs_inflight(brook__outputs_t *o);
/* Whether a send failed for good since the last brook__outputs_clear_failed. */
bool brook__outputs_failed(brook__outputs_t *o);
void brook__outputs_clear_failed(brook__outputs_t *o);

#endif
