/* Inside consume/: listeners, their members and the handler context. */
#ifndef BROOK_CONSUME_MEMBER_H
#define BROOK_CONSUME_MEMBER_H

#include <pthread.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#include "consume/consume.h"
#include "consume/control.h"
#include "core/core.h"
#include "kafka/kafka.h"
#include "recover/recover.h"

typedef struct brook__member_s brook__member_t;

struct brook_ctx_s {
    brook__member_t *member;
    brook_record_t record;
    rd_kafka_message_t *msg;
    int attempt;
    bool acked;
    bool headers_ready; /* record.headers filled (on first use: parsing them allocates) */
    char failure_name[128];
    char failure_message[512];
    struct brook__reply_slot_s *reply; /* reply.c: a replying listener's reply, once asked for */
};

struct brook__member_s {
    brook__join_state_t join; /* first: the consumer's opaque is the member (kafka/kafka.h) */
    brook_listener_t *listener;
    int index;
    rd_kafka_t *rk;
    pthread_t thread;
    bool thread_started;
    brook__decoded_t key_dec, value_dec;
    brook_header_t *headers; /* scratch for the record view */
    size_t headers_cap;
    rd_kafka_message_t **pending; /* batch ack: handled, not yet stored */
    size_t pending_count, pending_cap;
    /* Batch listeners (batch.c): the batch being collected, handled or retried. */
    struct brook__batch_s *batch;
    brook_ctx_t ctx;
    brook__recover_t *recover;
    brook__outputs_t *outputs; /* its handlers' sends */
    struct brook__eos_s *eos;  /* exactly-once listeners: the member's transactions */
    atomic_bool stopping;      /* rejoining at stop only to commit: keep paused */
    atomic_bool assigned;      /* has received an assignment since it joined */
    int stop_err;              /* the commit at stop failed with this */
    /* What has been stored for commit, as librdkafka holds it: the periodic commit sends this
     * list, not "whatever is stored when the commit is sent", which could include records
     * handled after their outputs were checked. */
    rd_kafka_topic_partition_list_t *stored;
    bool stored_dirty; /* stored since the last periodic commit */
    int stored_last;   /* index in `stored` of the partition stored last (its opaque: the
                        * topic handle) */
    /* Metrics (docs/operations.md), written on the member's thread, read by scrapes. */
    brook__histogram_t handler_seconds;
    brook__histogram_t commit_seconds;
    atomic_uint_fast64_t commits, commit_failures;
    /* When the last commits were sent, by sequence number: librdkafka reports every
     * rd_kafka_commit once, in order, so the n-th report answers the n-th commit (timed if it is
     * still in the ring). */
    struct {
        uint64_t seq;
        int64_t ns;
    } commit_sent[16];
    uint64_t commits_sent, commits_answered;
    atomic_bool fenced; /* left its loop while the app ran: a newer instance fenced it */
    /* The partitions it owns now, for their lag: written in rebalance_cb, read by scrapes. */
    pthread_mutex_t owned_lock;
    rd_kafka_topic_partition_list_t *owned;
    brook__member_control_t control; /* control.h: its pause, the seeks asked for */
};

struct brook_listener_s {
    brook__consume_t *consume;
    const brook_decl_listener_t *decl;
    brook__serde_t key, value;
    brook_handler_fn *handler;
    void *handler_opaque;
    struct brook__replier_s *replier;      /* reply.c: declared reply = "<template>" */
    brook_batch_handler_fn *batch_handler; /* batch listeners (batch.c) */
    void *batch_opaque;
    /* intercept.c: filters by brook_filter_stage_t, and the handle interceptors in order. */
    brook_filter_fn *filters[2];
    void *filter_opaques[2];
    struct brook__interceptor_s *interceptors;
    size_t interceptor_count;
    brook__member_t *members;
    int member_count;
    atomic_uint_fast64_t handled, failed, retried, dead_lettered, rebalances, revokes_uncommitted;
    atomic_uint_fast64_t filtered;
    atomic_uint_fast64_t transactions, aborted_transactions;
    brook__listener_control_t control; /* control.h: pause, stop and start, on-assigned */
    atomic_uint_fast64_t batches;      /* batch handler calls */
};

struct brook__consume_s {
    const brook_decl_t *decl;
    brook_app_t *app;
    brook_listener_t *listeners;
    size_t count;
    brook__consume_env_t env;
    atomic_bool running;  /* members keep polling while set */
    atomic_bool crashing; /* leave without committing */
    int64_t stop_deadline;
    /* Graceful stop: members count themselves committed, then wait to be let close. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stop_committed;
    bool stop_may_close;
};

/* listener.c: one poll of a member whose partitions are paused, dropping what it returns: it
 * keeps the member in the group (and serves its rebalances) while it handles nothing. */
void brook__member_poll_paused(brook__member_t *m);

/* listener.c: rd_kafka_commit, noting when it was sent for the commit metrics. */
rd_kafka_resp_err_t brook__member_commit(brook__member_t *m,
                                         const rd_kafka_topic_partition_list_t *offsets,
                                         bool async);

/* brook__member_invoke's result for a record that cannot be decoded yet (see
 * brook__recover_wait); ctx->failure_message says why. Not a handler's result. */
#define BROOK__WAIT ((brook_result_t)-1)

/* brook__member_invoke's result for a record a filter dropped: done with, like a handled one. */
#define BROOK__FILTERED ((brook_result_t)-2)

/* intercept.c: runs the listener's handle interceptors around its handler. */
brook_result_t brook__listener_call(brook_listener_t *l, brook_ctx_t *ctx, const void *key,
                                    const void *value);
/* intercept.c: frees what brook__consume_add_interceptor added. */
void brook__listener_free_interceptors(brook_listener_t *l);

/* listener.c: decodes and runs the handler once (a record that cannot be decoded is
 * BROOK_FAIL, brook.DeserializationError; one whose writer schema cannot be fetched now is
 * BROOK__WAIT), counting the outcome. */
brook_result_t brook__member_invoke(brook__member_t *m);

/* exactly_once.c: a member of an exactly-once listener. Its handlers' sends, retry and DLT
 * forwards and its input offsets go into one transaction, committed every max_records
 * records or max_ms, on revoke and at stop. */
int brook__eos_start(brook__member_t *m, brook_error_t *err);
void brook__eos_free(brook__member_t *m);
/* On the member's thread: its sends and forwards go into its transactions (if any). */
void brook__eos_bind(brook__member_t *m);
/* Handles msg (taking it) inside the member's transaction. */
void brook__eos_handle(brook__member_t *m, rd_kafka_message_t *msg);
/* Once per poll loop iteration and after each record: serves delivery reports; commits the
 * open transaction once it holds max_records records or is max_ms old. */
void brook__eos_tick(brook__member_t *m);
/* The next record of an aborted transaction to handle again, before any poll; or NULL. */
rd_kafka_message_t *brook__eos_next_replay(brook__member_t *m);
/* How long the member may wait in poll: wait_ms, or less when its transaction is due. */
int brook__eos_wait_ms(const brook__member_t *m, int wait_ms);
/* Commits the open transaction (revoke, stop): 0, or why it was aborted (BROOK_ERR_FENCED:
 * this member is done). `lost`: the partitions are gone, abort. The records of `revoked`
 * (NULL: all) waiting to be handled again are dropped. */
int brook__eos_finish(brook__member_t *m, bool lost,
                      const rd_kafka_topic_partition_list_t *revoked);
/* A newer producer with the member's transactional id took over: the member must stop. */
bool brook__eos_fenced(const brook__member_t *m);

/* ctx.c: makes ctx describe msg (headers parsed on first use). */
void brook__ctx_reset(brook_ctx_t *ctx, rd_kafka_message_t *msg);
void brook__ctx_headers(brook_ctx_t *ctx);
/* Stores msg's offset + 1 for the next commit. */
void brook__store_offset(brook__member_t *m, const rd_kafka_message_t *msg);
/* Stores `next` as topic/partition's offset to commit, as a handled record's would be: a seek
 * (seek.c), a parking partition's record done (ordered retries). Not in a transaction (its
 * offsets go with the transaction); a store librdkafka refuses is logged and not noted. */
void brook__store_at(brook__member_t *m, const char *topic, int32_t partition, int64_t next);
/* Notes that `next` is stored for topic/partition (m->stored); returns its entry. */
rd_kafka_topic_partition_t *brook__stored_set(brook__member_t *m, const char *topic,
                                              int32_t partition, int64_t next);

#endif
