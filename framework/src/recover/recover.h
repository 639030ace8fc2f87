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
/* Whether every per-record hook below is a no-op for the next record: no retry topics, no
 * ordering, nothing held, no wait backing off. The member's loop then skips them (they are a
 * tenth of a plain listener's instructions per record). */
bool brook__recover_quiet(const brook__recover_t *r);
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

/* ---- ordered retries (retry.preserve_key_order: recover/ordered.c, docs/ordered-retries.md) --
 * Nothing changes for a listener that does not keep key order: admit says handle, nothing is
 * released, the derived partitions are `parts` alone. */

/* Stores `next` as the offset to commit for a partition the member does not poll records of (a
 * parking topic's). Runs on the member's poll thread. */
typedef void brook__recover_store_fn(void *opaque, const char *topic, int32_t partition,
                                     int64_t next);
/* What ordered retries need from the member: the service declaration (its kafka properties,
 * borrowed), the bootstrap (borrowed), and how to store a parking topic's offsets. */
void brook__recover_set_env(brook__recover_t *r, const brook_decl_t *service, const char *bootstrap,
                            brook__recover_store_fn *store, void *opaque);

typedef enum {
    BROOK__ADMIT_HANDLE, /* handle the record */
    BROOK__ADMIT_DONE,   /* parked behind its key's retry record, or a copy of a record already
                          * done: store its offset, do not handle it */
    BROOK__ADMIT_HELD,   /* its partition is paused and sought back: it comes again */
} brook__admit_t;
/* Before a polled record (headers parsed) is handled. */
brook__admit_t brook__recover_admit(brook__recover_t *r, const brook_record_t *rec);
/* A parked record to handle now, its key's record in the retry chain being done; NULL when
 * none. It is presented as the record on its main topic (topic, partition, offset, headers),
 * a first delivery, and borrowed until brook__recover_succeeded, _failed or _wait is called
 * with it, one of which must follow before any other record is handled. */
const brook_record_t *brook__recover_released(brook__recover_t *r);
/* Rebalance: the partitions to assign (`assigning`) or revoke: `parts` plus, for main topics
 * of a listener that keeps key order, their retry and parking partitions, which the member
 * assigns itself (they are not in its subscription) so that one member owns every partition
 * a key's records go through. New list; the caller destroys it. */
rd_kafka_topic_partition_list_t *
brook__recover_with_derived(brook__recover_t *r, const rd_kafka_topic_partition_list_t *parts,
                            bool assigning);
/* After `all` (brook__recover_with_derived's) was assigned: parking partitions are paused. */
void brook__recover_assigned(brook__recover_t *r, const rd_kafka_topic_partition_list_t *all);
/* The member's partitions went back to their committed offsets: what ordered retries know is
 * read again from them. */
void brook__recover_rewound(brook__recover_t *r);
/* Whether a resume of the member's partitions (consume/control.c: the listener's resume, a
 * batch listener's end of wait) must leave the partition paused: paused here (a backoff, a
 * retry record not due, a failed forward, a wait) until brook__recover_tick resumes it, or a
 * parking partition of ordered retries, which stays paused. */
bool brook__recover_keeps_paused(const brook__recover_t *r, const char *topic, int32_t partition);
/* The partition was sought elsewhere (brook_ctx_seek): forgets its hold. true when the hold
 * had it paused: the caller resumes it (unless the listener is paused). */
bool brook__recover_release(brook__recover_t *r, const char *topic, int32_t partition);
/* Forgets every retry state (stop). */
void brook__recover_drop(brook__recover_t *r);

#endif
