/* A gate: many threads pass through it at once (each for one short call), one thread closes it
 * to change what they use, waiting until every one inside has left. What the producer's senders
 * hold while a replacement after a fatal error swaps the librdkafka handle (produce/producer.c).
 *
 * Entering and leaving are one atomic add each, no lock: a read-write lock costs about 70
 * instructions per send for a writer that comes once in a producer's life. A closed gate keeps
 * new threads out, so closing is not starved. Not recursive: a thread inside must not enter
 * again while the gate may close. */
#ifndef BROOK_CORE_GATE_H
#define BROOK_CORE_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    atomic_int inside;
    atomic_bool closed;
    pthread_mutex_t lock; /* waits: entering a closed gate, closing with threads inside */
    pthread_cond_t changed;
} brook__gate_t;

void brook__gate_init(brook__gate_t *g);
void brook__gate_destroy(brook__gate_t *g);

/* The slow halves of enter and leave. */
void brook__gate_wait_open(brook__gate_t *g);
void brook__gate_wake(brook__gate_t *g);

/* Waits while the gate is closed, then is inside. Sequentially consistent: either the closer
 * sees this thread inside, or this thread sees the gate closed and steps back out. */
static inline void brook__gate_enter(brook__gate_t *g) {
    for (;;) {
        atomic_fetch_add(&g->inside, 1);
        if (!atomic_load(&g->closed))
            return;
        if (atomic_fetch_sub(&g->inside, 1) == 1)
            brook__gate_wake(g);
        brook__gate_wait_open(g);
    }
}

static inline void brook__gate_leave(brook__gate_t *g) {
    if (atomic_fetch_sub(&g->inside, 1) == 1 && atomic_load(&g->closed))
        brook__gate_wake(g);
}

/* Closes the gate: no thread enters until brook__gate_open. */
void brook__gate_close(brook__gate_t *g);
/* After brook__gate_close: waits until no thread is inside, or until `deadline_ms`
 * (brook__now_ms()); returns whether none is. */
bool brook__gate_wait_empty(brook__gate_t *g, int64_t deadline_ms);
/* Opens it again and wakes the threads waiting to enter. */
void brook__gate_open(brook__gate_t *g);

#endif
