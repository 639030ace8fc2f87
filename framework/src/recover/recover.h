/*
 * Recovering from a failed handler, inside one listener member: blocking retries (pause,
 * seek back, deliver again), non-blocking retry topics, dead-letter topics, with Spring
 * Kafka's header conventions. Everything here runs on the member's poll thread.
 */
#ifndef BROOK_RECOVER_H
#define BROOK_RECOVER_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "produce/produce.h"

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

/* The record's last header of that name (Kafka's lastHeader, as Spring reads them), or NULL. */
const brook_header_t *brook__record_header(const brook_record_t *r, const char *name);

/* ---- topics ------------------------------------------------------------------------------- */

/* The retry and DLT topics listener `d` needs provisioned, each with its source topic. */
typedef enum { BROOK__TOPIC_RETRY, BROOK__TOPIC_DLT } brook__topic_kind_t;
void brook__recover_topics_foreach(const brook_decl_listener_t *d,
                                   void (*fn)(const char *topic, const char *source,
                                              brook__topic_kind_t kind, void *opaque),
                                   void *opaque);
/* Adds the listener's retry topics (retry mode "topics") to its subscription. */
void brook__recover_subscription(const brook_decl_listener_t *d,
                                 rd_kafka_topic_partition_list_t *sub);

/* ---- one member's recovery ---------------------------------------------------------------- */

typedef struct brook__recover_s brook__recover_t;

/* For the member consuming with `rk`, forwarding through `producer`. */
brook__recover_t *brook__recover_new(rd_kafka_t *rk, const brook_decl_listener_t *d,
                                     brook__producer_t *producer);
void brook__recover_free(brook__recover_t *r);

/* A failed handling, as the handler described it. */
typedef struct {
    const brook_record_t *record; /* with its headers */
    int attempt;
    const char *name;    /* brook_ctx_fail's name, or "" */
    const char *message; /* or "" */
} brook__failure_t;

/* Whether records must come with their headers parsed (retry topics read attempts from them). */
bool brook__recover_reads_headers(const brook__recover_t *r);
/* The delivery attempt (1-based) of the record about to be handled. */
int brook__recover_attempt_of(brook__recover_t *r, const brook_record_t *rec);

/* Once per poll loop iteration: resumes paused partitions whose head record is due. */
void brook__recover_tick(brook__recover_t *r);
/* A retry-topic record not yet due: pauses its partition, seeks back to it, destroys msg and
 * returns true. Otherwise false. */
bool brook__recover_intercept(brook__recover_t *r, rd_kafka_message_t *msg);

typedef enum {
    BROOK__RECOVER_AGAIN,          /* delivered again here (blocking retry): not done */
    BROOK__RECOVER_FORWARD_FAILED, /* forward not delivered; tried again later: not done */
    BROOK__RECOVER_RETRIED,        /* in a retry topic: done */
    BROOK__RECOVER_DEAD_LETTERED,  /* in the DLT: done */
    BROOK__RECOVER_GIVEN_UP,       /* no DLT to go to (logged): done */
} brook__recover_outcome_t;
/* The handler failed with `res` (RETRY or FAIL). Done outcomes may store the offset. */
brook__recover_outcome_t brook__recover_failed(brook__recover_t *r, const brook__failure_t *f,
                                               brook_result_t res);
/* The record was handled: forgets its retry state. */
void brook__recover_succeeded(brook__recover_t *r, const brook_record_t *rec);

void brook__recover_revoked(brook__recover_t *r, rd_kafka_topic_partition_list_t *parts);
/* Forgets every retry state (stop). */
void brook__recover_drop(brook__recover_t *r);

#endif
