/* core/gate.h: the waits of a closed gate. */
#include "core/gate.h"

#include "core/core.h"

void brook__gate_init(brook__gate_t *g) {
    atomic_init(&g->inside, 0);
    atomic_init(&g->closed, false);
    pthread_mutex_init(&g->lock, NULL);
    brook__cond_init_monotonic(&g->changed);
}

void brook__gate_destroy(brook__gate_t *g) {
    pthread_cond_destroy(&g->changed);
    pthread_mutex_destroy(&g->lock);
}

/* Under the lock, so that a waiter between its check and its wait cannot miss it. */
void brook__gate_wake(brook__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
}

void brook__gate_wait_open(brook__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    while (atomic_load(&g->closed))
        pthread_cond_wait(&g->changed, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

void brook__gate_close(brook__gate_t *g) {
    atomic_store(&g->closed, true);
}

bool brook__gate_wait_empty(brook__gate_t *g, int64_t deadline_ms) {
    struct timespec until = brook__deadline_ts(deadline_ms);
    /* Once empty, a thread that enters steps back out (it sees the gate closed), so the count
     * it adds for that moment must not be taken for one inside: the answer is what the loop
     * saw last. */
    bool empty;
    pthread_mutex_lock(&g->lock);
    while (!(empty = atomic_load(&g->inside) == 0) && brook__now_ms() < deadline_ms)
        pthread_cond_timedwait(&g->changed, &g->lock, &until);
    pthread_mutex_unlock(&g->lock);
    return empty;
}

void brook__gate_open(brook__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    atomic_store(&g->closed, false);
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
}
