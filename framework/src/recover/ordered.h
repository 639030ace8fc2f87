/* Inside recover/: ordered retries (retry.preserve_key_order, docs/ordered-retries.md). While a
 * key has a record in the retry chain, its later records are parked in <topic>-parked and
 * released, in order, when that record is done. Everything runs on the member's poll thread;
 * retry.c calls these hooks when the listener keeps key order. */
#ifndef BROOK_RECOVER_ORDERED_H
#define BROOK_RECOVER_ORDERED_H

#include "recover/recover.h"

/* The main-topic offset of a record, on its retry and parking records (8-byte big-endian). */
#define BROOK_HDR_ORDER_OFFSET "brook_order-offset"
/* On a parked record: the main-topic offset of the record of its key in the retry chain when
 * it was parked, or -1 when it waited behind parked records only (8-byte big-endian). */
#define BROOK_HDR_ORDER_BEHIND "brook_order-behind"

typedef struct brook__ordered_s brook__ordered_t;

brook__ordered_t *brook__ordered_new(rd_kafka_t *rk, const brook_decl_listener_t *d,
                                     brook__producer_t *producer);
void brook__ordered_free(brook__ordered_t *o);
void brook__ordered_set_env(brook__ordered_t *o, const brook_decl_t *service, const char *bootstrap,
                            brook__recover_store_fn *store, void *opaque);

/* Whether `topic` is one of the listener's parking topics (never handled from the consumer). */
bool brook__ordered_is_parking(const brook__ordered_t *o, const char *topic);
/* Whether a record forwarded to `topic` must keep its partition number (a retry or parking
 * topic: its key's records are all on that partition of every topic they go through). */
bool brook__ordered_keeps_partition(const brook__ordered_t *o, const char *topic);

typedef enum {
    BROOK__ORDERED_HANDLE, /* handle it */
    BROOK__ORDERED_DONE,   /* parked, or a copy of a record already done: store, do not handle */
    BROOK__ORDERED_HOLD,   /* cannot decide now: pause its partition for *hold_ms */
} brook__ordered_admit_t;
brook__ordered_admit_t brook__ordered_admit(brook__ordered_t *o, const brook_record_t *rec,
                                            int64_t *hold_ms);

/* A forward of rec to a retry topic: adds the main-topic offset header when rec is a main-topic
 * (or released) record; a retry record carries it already. */
void brook__ordered_forward_headers(brook__ordered_t *o, const brook_record_t *rec,
                                    rd_kafka_headers_t *h);

typedef enum {
    BROOK__ORDERED_FINISHED, /* handled, dead-lettered or given up */
    BROOK__ORDERED_CHAINED,  /* forwarded to a retry topic */
} brook__ordered_outcome_t;
void brook__ordered_done(brook__ordered_t *o, const brook_record_t *rec,
                         brook__ordered_outcome_t outcome);

/* rec is the released record in hand and cannot be done now (a forward failed, a schema cannot
 * be fetched): it is released again at due_ms (wall clock). false when rec is not it. */
bool brook__ordered_hold(brook__ordered_t *o, const brook_record_t *rec, int64_t due_ms);

const brook_record_t *brook__ordered_released(brook__ordered_t *o);
void brook__ordered_tick(brook__ordered_t *o);

rd_kafka_topic_partition_list_t *
brook__ordered_with_derived(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *parts,
                            bool assigning);
void brook__ordered_assigned(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *all);
void brook__ordered_revoked(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *parts);
void brook__ordered_rewound(brook__ordered_t *o);
void brook__ordered_drop(brook__ordered_t *o);

#endif
