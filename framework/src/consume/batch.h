/* Inside consume/: the members of batch listeners (batch.c, docs/batch-listeners.md). */
#ifndef BROOK_CONSUME_BATCH_H
#define BROOK_CONSUME_BATCH_H

#include <stdbool.h>

#include "consume/member.h"

/* Makes the member's batch state when its listener is a batch listener (nothing otherwise):
 * 0, or BROOK_ERR_NOMEM. */
int brook__batch_start(brook__member_t *m, brook_error_t *err);
/* Frees it, with the records it still holds (before the consumer is destroyed). */
void brook__batch_free(brook__member_t *m);

/* One turn of the member's poll loop, in place of polling one record: collects a batch (up to
 * max_records, or max_wait_ms after its first record) and hands it to the handler, or, while a
 * batch waits for its retry, polls with the member's partitions paused. Returns true when it
 * stored offsets (ack "batch" commits them at once). On the member's thread. */
bool brook__batch_step(brook__member_t *m);

/* In the rebalance callback, before what was stored is committed: forgets the records of the
 * revoked partitions that were collected or wait for a retry (their next owner handles them),
 * and resumes the ones it paused. */
void brook__batch_revoked(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts);

/* At a stop or a crash: forgets every record not handled yet; nothing of them is stored. */
void brook__batch_drop(brook__member_t *m);

/* The member's partitions went back to their committed offsets (a handler's output was not
 * delivered): the records in hand, and a batch waiting for its retry, come again from there,
 * so they are forgotten, and the partitions paused for the wait resume. */
void brook__batch_rewound(brook__member_t *m);

#endif
