/*
 * Inside consume/: seeking and controlling listeners (docs/seek-and-control.md). seek.c: the
 * seeks a handler or an on-assigned callback asks for; control.c: pausing and resuming a
 * listener, stopping and starting one while the app runs, auto_startup.
 */
#ifndef BROOK_CONSUME_CONTROL_H
#define BROOK_CONSUME_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"

typedef struct brook__member_s brook__member_t;
typedef struct brook__consume_s brook__consume_t;

typedef enum {
    BROOK__LISTENER_STOPPED = 0, /* not started (auto_startup = false), or stopped on purpose */
    BROOK__LISTENER_RUNNING,
    BROOK__LISTENER_STOPPING, /* brook_listener_stop: its members finish, commit and leave */
} brook__listener_state_t;

/* Per listener (brook_listener_s.control). */
typedef struct {
    /* One brook_listener_start or _stop at a time; the app's stop takes it too, and after it
     * (`frozen`) neither does anything. */
    pthread_mutex_t lock;
    bool frozen;
    /* Scrapes read the members' consumers (read); a start or stop replaces them (write). */
    pthread_rwlock_t members_lock;
    atomic_int state; /* brook__listener_state_t */
    atomic_bool pause_requested;
    brook_assigned_fn *on_assigned;
    void *on_assigned_opaque;
    /* A listener stopping alone: its members commit, then wait for each other (until
     * stop_deadline) before any leaves the group, as the app's stop has every member do. */
    pthread_mutex_t stop_lock;
    int stop_members, stop_committed;
    int64_t stop_deadline;
} brook__listener_control_t;

/* A seek a handler asked for, applied once its record is done. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
} brook__seek_t;

/* Per member (brook__member_s.control); written on the member's thread. */
typedef struct {
    atomic_bool paused; /* its partitions are paused for brook_listener_pause */
    brook__seek_t *seeks;
    size_t seek_count, seek_cap;
    /* In the on-assigned callback: the partitions being assigned; the offset of each is where
     * the callback's seeks start it (RD_KAFKA_OFFSET_INVALID: the committed offset). */
    rd_kafka_topic_partition_list_t *assigning;
} brook__member_control_t;

/* ---- control.c ------------------------------------------------------------------------------ */

void brook__control_init(brook_listener_t *l);
/* Frees what the control and the members' seeks hold (brook__consume_free). */
void brook__control_free(brook_listener_t *l);

/* At the app's start, once listener l is checked and its members allocated: launches it unless
 * it is declared auto_startup = false. */
int brook__control_start_declared(brook_listener_t *l, brook_error_t *err);
/* listener.c: subscribes and starts l's members (their consumers and threads). */
int brook__listener_launch(brook_listener_t *l, brook_error_t *err);

/* The member's poll loop goes on while its listener runs. */
bool brook__control_running(const brook_listener_t *l);
/* The member's listener is being stopped alone (brook_listener_stop), not by the app's stop. */
bool brook__control_stopping_alone(const brook__member_t *m);
/* The deadline of the member's stop: the listener's own, or the app's. */
int64_t brook__control_stop_deadline(const brook__member_t *m);
/* A member of a listener stopping alone, once it committed: waits (polling, paused) until the
 * listener's other members committed too, or the deadline. */
void brook__control_stop_barrier(brook__member_t *m);

/* At a stop, before the member commits and before it closes: it polls (paused) while it is in the
 * middle of a group join, or joined without having received an assignment yet, until the
 * deadline (a member that is not joining at all is not waited for). A consumer closed in the middle
 * of a join sends its LeaveGroup behind its JoinGroup, which the broker holds until the rebalance
 * completes (the member stays in the group, the stop runs into the deadline), and librdkafka
 * before 2.3 crashes destroying a cooperative-sticky consumer that joined but has no assignment
 * yet (librdkafka #4381: an assertion in the sticky assignor). */
void brook__control_settle(brook__member_t *m, int64_t deadline);
/* At a stop, once committed: the member leaves its group and closes its consumer. */
void brook__control_leave(brook__member_t *m);
/* On the member's thread before its poll loop: the thread is the listener's (see
 * brook_listener_stop from a handler). */
void brook__control_bind(brook__member_t *m);
/* On the member's thread, between records: pauses or resumes its partitions as asked. */
void brook__control_tick(brook__member_t *m);
/* Resumes parts, except those recover/ keeps paused: a partition a retry holds (its record not
 * yet due; brook__recover_tick resumes it then) and ordered retries' parking partitions (always
 * paused). */
void brook__control_resume(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts);
/* In rebalance_cb, before the retries forget partitions revoked: resumes those the listener's
 * pause paused. */
void brook__control_revoked(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts);
/* Its partitions are paused for brook_listener_pause: no record is handled. */
static inline bool brook__control_paused(const brook__member_control_t *mc) {
    return atomic_load_explicit(&mc->paused, memory_order_relaxed);
}

/* The app stops: no listener starts or stops any more. Returns how many members of running
 * listeners run a thread (they take part in the app's coordinated stop; a listener stopping
 * alone finishes on its own). */
int brook__control_app_stopping(brook__consume_t *c);

/* For scrapes: while held, the members' consumers stay (consume/metrics.c). */
void brook__control_read_lock(const brook_listener_t *l);
void brook__control_read_unlock(const brook_listener_t *l);
/* Stopped on purpose while the app runs (brook_listener_stop, auto_startup = false). */
bool brook__control_stopped(const brook_listener_t *l);

/* ---- seek.c --------------------------------------------------------------------------------- */

/* In rebalance_cb, before partitions `parts` are assigned: runs the on-assigned callback and
 * returns the list to assign (parts, or a copy whose offsets its seeks set). */
rd_kafka_topic_partition_list_t *brook__seek_assigning(brook__member_t *m,
                                                       rd_kafka_topic_partition_list_t *parts);
/* Right after they were assigned (`start` as brook__seek_assigning returned it, `all` what was
 * assigned: with ordered retries' derived partitions): stores the offsets sought, pauses `all`
 * if the listener is paused, frees `start` if it is a copy. */
void brook__seek_assigned(brook__member_t *m, rd_kafka_topic_partition_list_t *start,
                          rd_kafka_topic_partition_list_t *parts,
                          const rd_kafka_topic_partition_list_t *all);
/* After a record is done: applies the seeks its handler asked for (m->control.seek_count). */
void brook__seek_apply(brook__member_t *m);
/* Forgets seeks not applied. */
void brook__seek_clear(brook__member_control_t *mc);

#endif
