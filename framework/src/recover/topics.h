/*
 * A listener's retry and dead-letter topics (docs/failure-handling.md) and the Spring-compatible
 * names of the headers its forwards carry. Needs no librdkafka: the runtime (retry.c,
 * provisioning) and brookc (AsyncAPI documents, graphs) name these topics with the same code.
 */
#ifndef BROOK_RECOVER_TOPICS_H
#define BROOK_RECOVER_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/decl.h"

/* Spring-compatible header names (docs/failure-handling.md). */
#define BROOK_HDR_ATTEMPTS "retry_topic-attempts"
#define BROOK_HDR_BACKOFF_TS "retry_topic-backoff-timestamp"
#define BROOK_HDR_ORIGINAL_TS "retry_topic-original-timestamp"
#define BROOK_HDR_DLT_FQCN "kafka_dlt-exception-fqcn"
#define BROOK_HDR_DLT_MESSAGE "kafka_dlt-exception-message"
#define BROOK_HDR_DLT_CAUSE_FQCN "kafka_dlt-exception-cause-fqcn"
#define BROOK_HDR_DLT_STACKTRACE "kafka_dlt-exception-stacktrace"
#define BROOK_HDR_DLT_TOPIC "kafka_dlt-original-topic"
#define BROOK_HDR_DLT_PARTITION "kafka_dlt-original-partition"
#define BROOK_HDR_DLT_OFFSET "kafka_dlt-original-offset"
#define BROOK_HDR_DLT_TIMESTAMP "kafka_dlt-original-timestamp"
#define BROOK_HDR_DLT_TIMESTAMP_TYPE "kafka_dlt-original-timestamp-type"
#define BROOK_HDR_DLT_GROUP "kafka_dlt-original-consumer-group"
/* The same facts as Spring's retry topics name them, on their retry and DLT records alike
 * (KafkaHeaders.ORIGINAL_* and EXCEPTION_*); the group keeps the name above. */
#define BROOK_HDR_ORIG_TOPIC "kafka_original-topic"
#define BROOK_HDR_ORIG_PARTITION "kafka_original-partition"
#define BROOK_HDR_ORIG_OFFSET "kafka_original-offset"
#define BROOK_HDR_ORIG_TIMESTAMP "kafka_original-timestamp"
#define BROOK_HDR_ORIG_TIMESTAMP_TYPE "kafka_original-timestamp-type"
#define BROOK_HDR_EX_FQCN "kafka_exception-fqcn"
#define BROOK_HDR_EX_CAUSE_FQCN "kafka_exception-cause-fqcn"
#define BROOK_HDR_EX_MESSAGE "kafka_exception-message"
#define BROOK_HDR_EX_STACKTRACE "kafka_exception-stacktrace"

/* The retry and DLT topics listener `d` needs provisioned, each with its source topic: for
 * each of its topics in order, its retry topics in the order a record goes through them, then
 * its DLT. `fn` runs on the calling thread, before this returns; `topic` and `source` are
 * borrowed for the call. */
typedef enum { BROOK__TOPIC_RETRY, BROOK__TOPIC_DLT, BROOK__TOPIC_PARKING } brook__topic_kind_t;
void brook__recover_topics_foreach(const brook_decl_listener_t *d,
                                   void (*fn)(const char *topic, const char *source,
                                              brook__topic_kind_t kind, void *opaque),
                                   void *opaque);

/* Ordered retries (docs/ordered-retries.md): the parking topic of each of `d`'s topics, with
 * its source topic and kind BROOK__TOPIC_PARKING, when `d` keeps key order
 * (brook__recover_keeps_key_order); nothing otherwise. Provisioning adds these to the topics of
 * brook__recover_topics_foreach, which does not give them. */
void brook__recover_parking_foreach(const brook_decl_listener_t *d,
                                    void (*fn)(const char *topic, const char *source,
                                               brook__topic_kind_t kind, void *opaque),
                                    void *opaque);

/* Writes into out the parking topic of source topic `source`: <source>-parked. */
void brook__recover_parking_topic(const char *source, char *out, size_t size);

/* Whether `d` keeps key order through its retry topics (retry.preserve_key_order, and retry
 * topics in use). */
bool brook__recover_keeps_key_order(const brook_decl_listener_t *d);

/* Whether a failure named `name` is never retried by `d` (retry.not_retryable). */
bool brook__recover_not_retryable(const brook_decl_listener_t *d, const char *name);

/* Whether failed records of `d` go through retry topics (retry mode "topics", attempts > 1). */
bool brook__recover_uses_retry_topics(const brook_decl_listener_t *d);

/* The backoff in ms after failed delivery `attempt` (1-based), or -1 when no delivery follows
 * it (no retry declared, or attempts exhausted). */
int64_t brook__recover_backoff(const brook_decl_listener_t *d, int attempt);

/* Writes into out the retry topic of source topic `source` for a wait of `delay` ms (one of
 * brook__recover_backoff's values). */
void brook__recover_retry_topic(const brook_decl_listener_t *d, const char *source, int64_t delay,
                                char *out, size_t size);

/* Writes into out the DLT of source topic `source` and returns true; false (out untouched) when
 * there is none: DLT disabled, or `source` is itself a DLT. */
bool brook__recover_dlt_topic(const brook_decl_listener_t *d, const char *source, char *out,
                              size_t size);

#endif
