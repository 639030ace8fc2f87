/*
 * Consuming: the app's listeners, each a set of consumer group members with a poll thread
 * each, their offsets and ack modes, the handler context, and the coordinated stop of every
 * member of the app.
 */
#ifndef BROOK_CONSUME_H
#define BROOK_CONSUME_H

#include <stdbool.h>
#include <stdint.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "core/core.h"
#include "produce/produce.h"
#include "serde/serde.h"

typedef struct brook__consume_s brook__consume_t;

/* The listeners of declaration `d` (borrowed), not started; `app` is what brook_ctx_app()
 * gives handlers. */
brook__consume_t *brook__consume_new(const brook_decl_t *d, brook_app_t *app);
void brook__consume_free(brook__consume_t *c);

size_t brook__consume_count(const brook__consume_t *c);
brook_listener_t *brook__consume_at(brook__consume_t *c, size_t i);
brook_listener_t *brook__consume_find(brook__consume_t *c, const char *id);
/* BROOK_ERR_NOT_FOUND when no listener `id` is declared. */
int brook__consume_set_handler(brook__consume_t *c, const char *id, brook_handler_fn *fn,
                               void *opaque);
/* brook_app_set_batch_handler (batch.c): BROOK_ERR_NOT_FOUND, or BROOK_ERR_INVALID_ARG when
 * listener `id` is not a batch listener. */
int brook__consume_set_batch_handler(brook__consume_t *c, const char *id,
                                     brook_batch_handler_fn *fn, void *opaque);
/* brook_app_set_filter and brook_app_add_handle_interceptor (listener_id NULL: every
 * listener), before start. */
int brook__consume_set_filter(brook__consume_t *c, const char *id, brook_filter_stage_t stage,
                              brook_filter_fn *fn, void *opaque);
int brook__consume_add_interceptor(brook__consume_t *c, const char *id,
                                   brook_handle_interceptor_fn *fn, void *opaque);

/* What the members need from the rest of the app. */
typedef struct {
    const char *bootstrap;
    bool embedded;
    brook__producer_t *producer; /* handlers' sends and forwards */
    const brook__types_t *types;
} brook__consume_env_t;

/* Resolves the serdes and starts every member; on failure, what started keeps running until
 * brook__consume_stop. */
int brook__consume_start(brook__consume_t *c, const brook__consume_env_t *env, brook_error_t *err);

/* Stops every member: each stops polling, finishes the record in hand, waits for its
 * handlers' sends, commits, and closes only once every member has committed (the first to
 * leave starts a rebalance that would refuse the others' commits). Past `deadline`, or at
 * once when `crash` is set (leave without committing), `producer` is purged so that no member
 * waits on a delivery any longer. 0, BROOK_ERR_TIMEOUT when members were not done by the
 * deadline, or the error of a commit that failed. */
int brook__consume_stop(brook__consume_t *c, int64_t deadline, bool crash,
                        brook__producer_t *producer);

/* ---- metrics (consume/metrics.c) -------------------------------------------------------------
 * Read on any thread (a scrape) while the listener exists; its members' figures are summed. */

typedef struct {
    brook_listener_stats_t stats;
    brook__histogram_snap_t handler_seconds; /* handler calls */
    brook__histogram_snap_t commit_seconds;  /* offset commits, sent to answered */
    uint64_t commits, commit_failures;
    int members;  /* started */
    int assigned; /* members that received their first assignment */
    int fenced;   /* members a newer instance fenced (they left their loop early) */
    bool stopped; /* stopped on purpose while the app runs (brook_listener_stop, auto_startup
                   * = false), or stopping */
    bool paused;  /* brook_listener_paused(): the pause is in effect on every member */
} brook__listener_metrics_t;

void brook__listener_metrics(const brook_listener_t *l, brook__listener_metrics_t *out);

/* Calls fn for every partition a member of l owns, with its lag: the partition's high
 * watermark as last fetched minus the member's position (the offset after the last record it
 * read), or, where it has no position (nothing read since it was assigned the partition or
 * sought in it), minus the group's committed offset (a request to the coordinator, at most 1 s).
 * A partition where neither is known is left out, unless it is empty (lag 0). 0, or
 * BROOK_ERR_NOMEM. */
typedef void(brook__lag_fn)(const char *topic, int32_t partition, int64_t lag, void *opaque);
int brook__listener_lag(brook_listener_t *l, brook__lag_fn *fn, void *opaque);

#endif
