/*
 * Failure handling inside a listener member: blocking retries (pause, seek back, redeliver),
 * non-blocking retry topics, dead-letter topics. Everything here runs on the member's poll
 * thread.
 */
#ifndef BROOK_RETRY_H
#define BROOK_RETRY_H

#include "app_int.h"

/* Spring-compatible header names (DESIGN.md section 5). */
#define BROOK_HDR_ATTEMPTS "retry_topic-attempts"
#define BROOK_HDR_BACKOFF_TS "retry_topic-backoff-timestamp"
#define BROOK_HDR_ORIGINAL_TS "retry_topic-original-timestamp"
#define BROOK_HDR_DLT_FQCN "kafka_dlt-exception-fqcn"
#define BROOK_HDR_DLT_MESSAGE "kafka_dlt-exception-message"
#define BROOK_HDR_DLT_TOPIC "kafka_dlt-original-topic"
#define BROOK_HDR_DLT_PARTITION "kafka_dlt-original-partition"
#define BROOK_HDR_DLT_OFFSET "kafka_dlt-original-offset"
#define BROOK_HDR_DLT_TIMESTAMP "kafka_dlt-original-timestamp"
#define BROOK_HDR_DLT_TIMESTAMP_TYPE "kafka_dlt-original-timestamp-type"
#define BROOK_HDR_DLT_GROUP "kafka_dlt-original-consumer-group"

int brook__retry_member_init(brook__member_t *m, brook_error_t *err);
void brook__retry_member_free(brook__member_t *m);

/* Adds the listener's retry topics (retry mode "topics") to its subscription. */
void brook__retry_subscription(brook_listener_t *l, rd_kafka_topic_partition_list_t *sub);

/* Retry and DLT topic names a listener needs provisioned, with the partition count of their
 * source topic. Calls fn for each. */
typedef enum { BROOK__TOPIC_RETRY, BROOK__TOPIC_DLT } brook__topic_kind_t;
void brook__retry_topics_foreach(const brook_listener_t *l,
                                 void (*fn)(const char *topic, const char *source,
                                            brook__topic_kind_t kind, void *opaque),
                                 void *opaque);

/* Called once per poll loop iteration: resumes paused partitions whose head record is due. */
void brook__retry_tick(brook__member_t *m);

/* A retry-topic record not yet due: pauses its partition, seeks back to it, keeps msg's
 * position, destroys msg and returns true. Otherwise false. */
bool brook__retry_intercept(brook__member_t *m, rd_kafka_message_t *msg);

/* The delivery attempt (1-based) of the record about to be handled. */
int brook__retry_attempt_of(brook__member_t *m, const brook_record_t *r);

/* The handler failed (res RETRY or FAIL). Returns true when the record is done with
 * (forwarded to a retry topic or the DLT, or given up on by configuration): its offset may be
 * stored. Returns false when it will be delivered again here (blocking retry, or a forward
 * that failed): its offset must not be stored. */
bool brook__retry_failed(brook__member_t *m, rd_kafka_message_t *msg, brook_result_t res);

/* The record handled successfully: forgets its retry state. */
void brook__retry_succeeded(brook__member_t *m, const brook_record_t *r);

void brook__retry_assigned(brook__member_t *m, rd_kafka_topic_partition_list_t *parts);
void brook__retry_revoked(brook__member_t *m, rd_kafka_topic_partition_list_t *parts);
/* Forgets every retry state (stop). */
void brook__retry_drop(brook__member_t *m);

#endif
