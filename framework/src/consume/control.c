/*
 * Controlling listeners while the app runs (docs/seek-and-control.md): pause and resume (Spring's
 * container pause()/resume()), stop and start one listener (KafkaListenerEndpointRegistry), and
 * auto_startup = false.
 *
 * Pause: any thread sets the listener's request; each member applies it on its own thread
 * between two records (brook__control_tick), pausing every partition it owns, and keeps polling,
 * so it stays in the group and a rebalance still reaches it (partitions it is given meanwhile are
 * paused as they come). librdkafka drops what it had fetched for a paused partition and fetches
 * again from the member's position on resume. Partitions share one pause flag in librdkafka
 * (the application's), which the retries use too: a listener's pause holds the retries' timers
 * (brook__recover_tick is not called while paused) and its resume leaves a partition a retry
 * holds paused until that is due.
 *
 * Stop: the listener's members leave their poll loops and do what the app's stop has them do
 * (finish the record, wait for their sends, commit, wait for each other, leave, close), against
 * a barrier and deadline of the listener's own; the caller joins their threads and frees their
 * consumers. Start makes new ones, which join the group and resume from its committed offsets.
 * What a member counts (histograms, commits) and what outputs it still waits for are kept
 * across a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consume/batch.h"
#include "consume/member.h"
#include "core/core.h"

/* The listener whose member runs on this thread (set when its poll loop starts, before any
 * handler or callback of it runs). */
static _Thread_local const brook_listener_t *own_listener BROOK__TLS_FAST;

void brook__control_init(brook_listener_t *l) {
    brook__listener_control_t *lc = &l->control;
    pthread_mutex_init(&lc->lock, NULL);
    pthread_mutex_init(&lc->stop_lock, NULL);
    pthread_rwlock_init(&lc->members_lock, NULL);
    atomic_init(&lc->state, BROOK__LISTENER_STOPPED);
    atomic_init(&lc->pause_requested, false);
}

void brook__control_free(brook_listener_t *l) {
    brook__listener_control_t *lc = &l->control;
    for (int i = 0; i < l->member_count; i++) {
        brook__seek_clear(&l->members[i].control);
        free(l->members[i].control.seeks);
        l->members[i].control.seeks = NULL;
    }
    pthread_rwlock_destroy(&lc->members_lock);
    pthread_mutex_destroy(&lc->stop_lock);
    pthread_mutex_destroy(&lc->lock);
}

static int listener_state(const brook_listener_t *l) {
    return atomic_load(&((brook_listener_t *)l)->control.state);
}

bool brook__control_running(const brook_listener_t *l) {
    return listener_state(l) == BROOK__LISTENER_RUNNING;
}

bool brook__control_stopping_alone(const brook__member_t *m) {
    return listener_state(m->listener) == BROOK__LISTENER_STOPPING;
}

bool brook__control_stopped(const brook_listener_t *l) {
    /* Before the app's start (or after its stop) a listener is not "stopped on purpose". */
    return atomic_load(&l->consume->running) && listener_state(l) != BROOK__LISTENER_RUNNING;
}

int64_t brook__control_stop_deadline(const brook__member_t *m) {
    return brook__control_stopping_alone(m) ? m->listener->control.stop_deadline
                                            : m->listener->consume->stop_deadline;
}

void brook__control_read_lock(const brook_listener_t *l) {
    pthread_rwlock_rdlock(&((brook_listener_t *)l)->control.members_lock);
}

void brook__control_read_unlock(const brook_listener_t *l) {
    pthread_rwlock_unlock(&((brook_listener_t *)l)->control.members_lock);
}

/* ---- pause ------------------------------------------------------------------------------------
 */

void brook__control_bind(brook__member_t *m) {
    own_listener = m->listener;
}

void brook__control_resume(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; go && i < parts->cnt; i++)
        if (!brook__recover_keeps_paused(m->recover, parts->elems[i].topic,
                                         parts->elems[i].partition))
            rd_kafka_topic_partition_list_add(go, parts->elems[i].topic, parts->elems[i].partition);
    if (go) {
        if (go->cnt)
            rd_kafka_resume_partitions(m->rk, go);
        rd_kafka_topic_partition_list_destroy(go);
    }
}

void brook__control_tick(brook__member_t *m) {
    bool want = atomic_load(&m->listener->control.pause_requested);
    if (want == brook__control_paused(&m->control))
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(m->rk, &parts) || !parts)
        return; /* tried again at the next turn */
    if (want) {
        /* librdkafka drops what it fetched of them and notes where to fetch on resume. */
        rd_kafka_pause_partitions(m->rk, parts);
    } else {
        brook__control_resume(m, parts);
    }
    atomic_store(&m->control.paused, want);
    brook_log(BROOK_LOG_INFO, "listener", "%s[%d]: %s (%d partition(s))", m->listener->decl->id,
              m->index, want ? "paused" : "resumed", parts->cnt);
    rd_kafka_topic_partition_list_destroy(parts);
}

void brook__control_revoked(brook__member_t *m, const rd_kafka_topic_partition_list_t *parts) {
    /* librdkafka keeps a partition's pause when it is revoked: given back to this member after
     * a resume, it would stay paused. Those a retry holds, the retry resumes. */
    if (!brook__control_paused(&m->control) || atomic_load(&m->stopping))
        return;
    brook__control_resume(m, parts);
}

int brook_listener_pause(brook_listener_t *l) {
    if (!l)
        return BROOK_ERR_INVALID_ARG;
    atomic_store(&l->control.pause_requested, true);
    return 0;
}

int brook_listener_resume(brook_listener_t *l) {
    if (!l)
        return BROOK_ERR_INVALID_ARG;
    atomic_store(&l->control.pause_requested, false);
    return 0;
}

bool brook_listener_pause_requested(const brook_listener_t *l) {
    return l && atomic_load(&((brook_listener_t *)l)->control.pause_requested);
}

bool brook_listener_paused(const brook_listener_t *l) {
    if (!l || !brook_listener_pause_requested(l) || !brook__control_running(l) || !l->member_count)
        return false;
    for (int i = 0; i < l->member_count; i++)
        if (!brook__control_paused(&l->members[i].control))
            return false;
    return true;
}

/* ---- stop and start ---------------------------------------------------------------------------
 */

bool brook_listener_running(const brook_listener_t *l) {
    return l && brook__control_running(l) && atomic_load(&l->consume->running);
}

static bool on_own_thread(const brook_listener_t *l) {
    return own_listener == l;
}

void brook__control_stop_barrier(brook__member_t *m) {
    brook__listener_control_t *lc = &m->listener->control;
    pthread_mutex_lock(&lc->stop_lock);
    lc->stop_committed++;
    while (lc->stop_committed < lc->stop_members && brook__now_ms() < lc->stop_deadline &&
           !atomic_load(&m->listener->consume->crashing)) {
        pthread_mutex_unlock(&lc->stop_lock);
        /* Still polling (paused), so a rebalance a sibling's retried commit waits for can
         * complete. */
        brook__member_poll_paused(m);
        pthread_mutex_lock(&lc->stop_lock);
    }
    pthread_mutex_unlock(&lc->stop_lock);
}

void brook__control_settle(brook__member_t *m, int64_t deadline) {
    /* A member that is not joining (a pattern that matches no topic yet, say) is not waited
     * for. */
    while ((atomic_load(&m->join.joining) ||
            (atomic_load(&m->join.joined) && !atomic_load(&m->assigned))) &&
           brook__now_ms() < deadline && !atomic_load(&m->listener->consume->crashing)) {
        brook__member_poll_paused(m);
    }
}

void brook__control_leave(brook__member_t *m) {
    /* Again: a join may have begun while it waited for the others to commit. */
    brook__control_settle(m, brook__control_stop_deadline(m));
    /* librdkafka 2.0.2 closes a cooperative member whose assignment is empty without a
     * LeaveGroup (later versions leave from the steady state too): the group keeps it until its
     * session times out, and the next rebalance of the others waits for it. Unsubscribing first
     * makes it leave: with nothing to revoke it rejoins with no topic, which sends LeaveGroup
     * (with partitions, the revoke is served in close, which then leaves as usual). */
    rd_kafka_unsubscribe(m->rk);
    rd_kafka_consumer_close(m->rk);
}

/* Frees what a member's run made (its consumer, retry state, stored offsets) and readies it to
 * run again; keeps its figures, its outputs (records its handlers sent may still be on their
 * way) and its owned list (scrapes read it). Under members_lock, its thread joined. */
static void member_release(brook__member_t *m) {
    brook__eos_free(m); /* first: they hold records of the consumer */
    brook__batch_free(m);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    m->rk = NULL;
    brook__recover_free(m->recover);
    m->recover = NULL;
    if (m->stored)
        rd_kafka_topic_partition_list_destroy(m->stored);
    m->stored = NULL;
    if (m->owned) {
        pthread_mutex_lock(&m->owned_lock);
        while (m->owned->cnt)
            rd_kafka_topic_partition_list_del_by_idx(m->owned, m->owned->cnt - 1);
        pthread_mutex_unlock(&m->owned_lock);
    }
    for (size_t i = 0; i < m->pending_count; i++)
        rd_kafka_message_destroy(m->pending[i]);
    m->pending_count = 0;
    m->stored_dirty = false;
    m->stored_last = 0;
    m->stop_err = 0;
    m->commits_sent = m->commits_answered = 0;
    atomic_store(&m->stopping, false);
    atomic_store(&m->assigned, false);
    atomic_store(&m->fenced, false);
    atomic_store(&m->control.paused, false);
    brook__seek_clear(&m->control);
}

/* Joins a member's thread; `bounded`: only until a second after the stop's deadline (false if
 * it still runs then). */
static bool join_member(brook__member_t *m, bool bounded) {
    if (!bounded)
        return pthread_join(m->thread, NULL) == 0;
    struct timespec until =
        brook__deadline_ts(brook__add_ms(m->listener->control.stop_deadline, 1000));
    return pthread_clockjoin_np(m->thread, NULL, CLOCK_MONOTONIC, &until) == 0;
}

/* The second half of a stop: waits for the members (their threads end once they closed their
 * consumers) and frees their consumers. Under lc->lock. `bounded` (a stop from another
 * listener's handler): not past the stop's deadline, for that listener's member may be what this
 * one waits for (each stopping the other, say); then BROOK_ERR_TIMEOUT, and whoever starts,
 * stops or frees the listener next joins the members, as after a stop from their own handler. */
static int finish_stop(brook_listener_t *l, int64_t asked, bool bounded) {
    int rc = 0;
    for (int i = 0; i < l->member_count; i++) {
        brook__member_t *m = &l->members[i];
        if (m->thread_started) {
            if (!join_member(m, bounded)) {
                brook_log(BROOK_LOG_WARN, "listener",
                          "%s: not stopped %lld ms after it was asked from another listener's "
                          "handler; it stops on its own",
                          l->decl->id, (long long)(brook__now_ms() - asked));
                return BROOK_ERR_TIMEOUT;
            }
            m->thread_started = false;
        }
        if (!rc && m->stop_err)
            rc = m->stop_err;
    }
    pthread_rwlock_wrlock(&l->control.members_lock);
    for (int i = 0; i < l->member_count; i++)
        member_release(&l->members[i]);
    pthread_rwlock_unlock(&l->control.members_lock);
    atomic_store(&l->control.state, BROOK__LISTENER_STOPPED);
    if (rc)
        brook_log(BROOK_LOG_WARN, "listener", "%s: stopped in %lld ms: %s", l->decl->id,
                  (long long)(brook__now_ms() - asked), brook_err2str(rc));
    else
        brook_log(BROOK_LOG_INFO, "listener", "%s: stopped in %lld ms", l->decl->id,
                  (long long)(brook__now_ms() - asked));
    return rc;
}

/* Under stop_lock: asks a running listener's members to stop, `members` of them taking part in
 * its barrier. false when it does not run, or the app stops (its stop stops them). */
static bool ask_stop_locked(brook_listener_t *l, int members) {
    brook__listener_control_t *lc = &l->control;
    if (lc->frozen || listener_state(l) != BROOK__LISTENER_RUNNING)
        return false;
    lc->stop_members = members;
    lc->stop_committed = 0;
    lc->stop_deadline = brook__add_ms(brook__now_ms(), l->consume->decl->shutdown_timeout_ms);
    atomic_store(&lc->state, BROOK__LISTENER_STOPPING);
    brook_log(BROOK_LOG_INFO, "listener", "%s: stopping", l->decl->id);
    return true;
}

/* Under lc->lock: the members whose threads run take part. */
static void ask_stop(brook_listener_t *l) {
    int started = 0;
    for (int i = 0; i < l->member_count; i++)
        started += l->members[i].thread_started;
    pthread_mutex_lock(&l->control.stop_lock);
    ask_stop_locked(l, started);
    pthread_mutex_unlock(&l->control.stop_lock);
}

int brook_listener_stop(brook_listener_t *l) {
    if (!l)
        return BROOK_ERR_INVALID_ARG;
    brook__listener_control_t *lc = &l->control;
    if (on_own_thread(l)) {
        /* Only asks (joining its own thread would never end): the members stop once the
         * handler returns, and whoever starts, stops or frees the listener next joins them.
         * Without lc->lock, which a stop from another thread holds while it joins this one. */
        pthread_mutex_lock(&lc->stop_lock);
        ask_stop_locked(l, l->member_count);
        pthread_mutex_unlock(&lc->stop_lock);
        return 0;
    }
    int64_t asked = brook__now_ms();
    int rc = 0;
    pthread_mutex_lock(&lc->lock);
    ask_stop(l);
    if (!lc->frozen && listener_state(l) == BROOK__LISTENER_STOPPING)
        rc = finish_stop(l, asked, own_listener != NULL);
    pthread_mutex_unlock(&lc->lock);
    return rc;
}

static int launch(brook_listener_t *l, brook_error_t *err) {
    atomic_store(&l->control.state, BROOK__LISTENER_RUNNING); /* before the threads look */
    pthread_rwlock_wrlock(&l->control.members_lock);
    int rc = brook__listener_launch(l, err);
    pthread_rwlock_unlock(&l->control.members_lock);
    return rc;
}

int brook__control_start_declared(brook_listener_t *l, brook_error_t *err) {
    if (!l->decl->auto_startup) {
        brook_log(BROOK_LOG_INFO, "listener", "%s: not started (auto_startup = false)",
                  l->decl->id);
        return 0;
    }
    /* The app's start: a failure is cleaned up by the app's stop, which counts it running. */
    return launch(l, err);
}

int brook_listener_start(brook_listener_t *l, brook_error_t *err) {
    if (!l)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "no listener");
    if (on_own_thread(l))
        return brook_error_set(err, BROOK_ERR_STATE,
                               "listener %s: cannot be started from its own handler", l->decl->id);
    brook__listener_control_t *lc = &l->control;
    int rc = 0;
    pthread_mutex_lock(&lc->lock);
    if (lc->frozen || !atomic_load(&l->consume->running)) {
        rc = brook_error_set(err, BROOK_ERR_STATE, "listener %s: the app is not running",
                             l->decl->id);
    } else if (listener_state(l) != BROOK__LISTENER_RUNNING) {
        if (listener_state(l) == BROOK__LISTENER_STOPPING)
            finish_stop(l, brook__now_ms(), false); /* asked from a handler */
        rc = launch(l, err);
        if (rc) {
            /* What started stops again (nothing was handled: nothing to commit). */
            int64_t asked = brook__now_ms();
            ask_stop(l);
            finish_stop(l, asked, false);
        }
    }
    pthread_mutex_unlock(&lc->lock);
    return rc;
}

int brook__control_app_stopping(brook__consume_t *c) {
    int members = 0;
    for (size_t i = 0; i < c->count; i++) {
        brook_listener_t *l = &c->listeners[i];
        pthread_mutex_lock(&l->control.lock);
        pthread_mutex_lock(&l->control.stop_lock); /* against a stop from a handler */
        l->control.frozen = true;
        if (brook__control_running(l))
            for (int k = 0; k < l->member_count; k++)
                members += l->members[k].thread_started;
        pthread_mutex_unlock(&l->control.stop_lock);
        pthread_mutex_unlock(&l->control.lock);
    }
    return members;
}
