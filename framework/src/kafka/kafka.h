/*
 * Brook's side of librdkafka: configurations with Brook's logging, the declaration's kafka
 * properties, consumer settings for the embedded cluster, and the one workaround the runtime
 * needs for librdkafka 2.0 (the consumer group's join state). The embedded cluster itself is
 * public (brook_cluster_* in brook/brook.h, kafka/cluster.c).
 */
#ifndef BROOK_KAFKA_H
#define BROOK_KAFKA_H

#include <stdatomic.h>
#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "config/decl.h"

/* This instance of the service, for transactional ids: $BROOK_INSTANCE_ID, or
 * "<hostname>-<pid>". A stable id lets a restarted instance fence the producers it left
 * behind (and abort their open transactions) at once. */
void brook__kafka_instance_id(char *out, size_t size);

/* A consumed message as a record (brook.h), headers not read yet: none. Borrowed from m. */
void brook__kafka_record(const rd_kafka_message_t *m, brook_record_t *r);
/* Reads m's headers into r (borrowed from m), in *headers: an array kept from message to
 * message, grown as needed (caller frees it). librdkafka parses a message's header block only
 * when asked. */
void brook__kafka_record_headers(const rd_kafka_message_t *m, brook_record_t *r,
                                 brook_header_t **headers, size_t *cap);

/* Pauses a partition of a consumer and seeks it back to `offset`: librdkafka drops what it
 * fetched past it, and fetches from it again when the partition is resumed. */
void brook__kafka_pause_at(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset);

/* librdkafka's log callback: a line through brook_log (component "rdkafka"). */
void brook__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* A new configuration whose logs go through brook_log (component "rdkafka"). */
rd_kafka_conf_t *brook__kafka_conf_new(void);

/* Sets one property; BROOK_ERR_INVALID_ARG with librdkafka's reason, naming the property. */
int brook__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                          brook_error_t *err);

/* Applies the declaration's service.kafka properties that concern a producer (or a consumer);
 * BROOK_ERR_DECL for a property Brook sets itself (group.id, enable.auto.commit, ...). */
int brook__kafka_apply_user(const brook_decl_t *d, rd_kafka_conf_t *conf, bool producer,
                            brook_error_t *err);

/* Brook's consumer defaults for listener `l` that the declaration does not override:
 * cooperative-sticky assignment, and on the embedded cluster short session and fetch waits
 * (its rebalances wait session.timeout.ms - 1 s, its empty fetches fetch.wait.max.ms). */
int brook__kafka_consumer_defaults(rd_kafka_conf_t *conf, const brook_decl_t *d,
                                   const brook_decl_listener_t *l, bool embedded,
                                   brook_error_t *err);

/*
 * A consumer's join state, for librdkafka 2.0: it sends a commit even while the member
 * rejoins its group, and a commit refused there (ILLEGAL_GENERATION) makes it drop the whole
 * assignment, so commits must wait for the "steady" state, which librdkafka reports only in
 * its "cgrp" debug lines. brook__kafka_track_join_state turns those lines on in conf and
 * installs a log callback that keeps *state current (and passes on only the debug lines the
 * user asked for). The client's opaque (rd_kafka_conf_set_opaque) must point to a struct whose
 * first member is the brook__join_state_t.
 */
typedef struct {
    atomic_bool steady; /* commits may go */
    bool user_debug;    /* the declaration set "debug": its lines reach the log */
    /* In the middle of a join (neither "init" nor "steady"): a LeaveGroup now would wait
     * behind the JoinGroup. `joined`: a JoinGroup succeeded at least once (consume/control.c). */
    atomic_bool joining, joined;
} brook__join_state_t;
int brook__kafka_track_join_state(rd_kafka_conf_t *conf, brook__join_state_t *state,
                                  const brook_decl_t *d, brook_error_t *err);
static inline bool brook__kafka_join_steady(brook__join_state_t *state) {
    return atomic_load(&state->steady);
}

#endif
