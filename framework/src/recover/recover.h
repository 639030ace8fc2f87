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
#include "recover/topics.h" /* topic names, header names */

/* The record's last header of that name (Kafka's lastHeader, as Spring reads them), or NULL. */
const brook_header_t *brook__record_header(const brook_record_t *r, const char *name);

/* ---- topics ------------------------------------------------------------------------------- */

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
/* The record cannot be handled yet for a reason outside it (its writer schema is in a schema
 * registry that cannot be reached): its partition is paused and it is delivered again, with
 * the same attempt, after a backoff that grows while the waits go on (up to 5 s) and starts
 * over once a record is handled. Not a failure: nothing is counted, nothing forwarded. */
void brook__recover_wait(brook__recover_t *r, const brook_record_t *rec, int attempt,
                         const char *why);

void brook__recover_revoked(brook__recover_t *r, rd_kafka_topic_partition_list_t *parts);
/* Forgets every retry state (stop). */
void brook__recover_drop(brook__recover_t *r);

#endif
