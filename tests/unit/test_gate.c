/* core/gate.h: what the producer's senders pass through and a replacement closes. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/core.h"

#define MAGIC 0x5eed
#define WORKERS 3
#define SWAPS 100

static brook__gate_t gate;
static int *_Atomic resource; /* swapped by the closer, as the producer's rk is */
static atomic_int inside, wrong, stop;
static atomic_long passes;

/* Passes through the gate and uses the resource inside, until told to stop. */
static void *worker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        brook__gate_enter(&gate);
        atomic_fetch_add(&inside, 1);
        int *r = atomic_load(&resource);
        for (int i = 0; i < 20; i++)
            if (*(volatile int *)r != MAGIC) /* poisoned: used after the closer took it */
                atomic_fetch_add(&wrong, 1);
        atomic_fetch_sub(&inside, 1);
        brook__gate_leave(&gate);
        atomic_fetch_add(&passes, 1);
    }
    return NULL;
}

/* No thread is inside while the gate is closed and found empty: a resource swapped then is never
 * seen after it was poisoned; and the workers get through between the swaps. */
static void test_swaps_exclude_holders(void **state) {
    (void)state;
    brook__gate_init(&gate);
    int slots[2] = {MAGIC, 0};
    atomic_store(&resource, &slots[0]);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int k = 0; k < SWAPS; k++) {
        long before = atomic_load(&passes);
        while (atomic_load(&passes) < before + WORKERS) /* they run between swaps */
            sched_yield();
        brook__gate_close(&gate);
        while (!brook__gate_wait_empty(&gate, brook__now_ms() + 1000))
            ;
        assert_int_equal(atomic_load(&inside), 0);
        int *old = atomic_load(&resource);
        int *next = old == &slots[0] ? &slots[1] : &slots[0];
        *next = MAGIC;
        atomic_store(&resource, next);
        *old = 0;
        brook__gate_open(&gate);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&wrong), 0);
    brook__gate_destroy(&gate);
}

static atomic_int entered;

static void *enter_once(void *arg) {
    brook__gate_t *g = arg;
    brook__gate_enter(g);
    atomic_store(&entered, 1);
    brook__gate_leave(g);
    return NULL;
}

/* Waiting for the gate to empty gives up at its deadline while a thread is inside; a closed gate
 * keeps a thread out until it opens. */
static void test_deadline_and_closed(void **state) {
    (void)state;
    brook__gate_t g;
    brook__gate_init(&g);
    brook__gate_enter(&g);
    brook__gate_close(&g);
    assert_false(brook__gate_wait_empty(&g, brook__now_ms() + 20));
    brook__gate_leave(&g);
    assert_true(brook__gate_wait_empty(&g, brook__now_ms() + 1000));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, enter_once, &g), 0);
    int64_t until = brook__now_ms() + 100; /* it stays out for as long as this watches */
    while (brook__now_ms() < until)
        assert_int_equal(atomic_load(&entered), 0);
    brook__gate_open(&g);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&entered), 1);
    brook__gate_destroy(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swaps_exclude_holders),
        cmocka_unit_test(test_deadline_and_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
