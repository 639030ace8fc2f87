/* Generated code of batch listeners (tests/codegen/valid/batch): the typed batch handlers
 * compile against their prototypes (-Wall -Wextra -Wpedantic -Werror) and are wired: the service
 * runs on the embedded cluster, sends orders through its template and gets them back as typed
 * arrays in its batch handlers (Avro values and raw bytes), beside a record handler. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_service.brook.h"

#include "check.h"

#define N 40

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int bill_seen[N], audit_seen[N], one_seen[N];
static int bill_calls, bill_bad, audit_bad, max_batch;
static batch_service_t *the_service;

static int index_of(const char *id) {
    int i = -1;
    return id && sscanf(id, "o-%d", &i) == 1 && i >= 0 && i < N ? i : -1;
}

/* Typed: keys are strings, values decoded bt.Order; each record's metadata agrees. */
brook_result_t on_orders(brook_batch_t *batch, size_t n, const char *const *keys,
                         const bt_Order *const *values) {
    pthread_mutex_lock(&lock);
    bill_calls++;
    if ((int)n > max_batch)
        max_batch = (int)n;
    if (batch_service_from_batch(batch) != the_service || brook_batch_count(batch) != n ||
        strcmp(brook_batch_listener_id(batch), "bill"))
        bill_bad++;
    for (size_t i = 0; i < n; i++) {
        const brook_record_t *r = brook_batch_record(batch, i);
        int k = index_of(values[i]->id);
        if (k < 0 || values[i]->amount_cents != 100 * k || strcmp(keys[i], values[i]->id) || !r ||
            r->key_len != strlen(keys[i]) || memcmp(r->key, keys[i], r->key_len) ||
            strcmp(r->topic, "bt.orders") || brook_batch_attempt(batch, i) != 1)
            bill_bad++;
        else
            bill_seen[k]++;
    }
    if (brook_batch_record(batch, n) != NULL)
        bill_bad++;
    pthread_mutex_unlock(&lock);
    return BROOK_OK;
}

/* Raw bytes: the Avro single-object encoding as sent. */
brook_result_t on_order_bytes(brook_batch_t *batch, size_t n, const char *const *keys,
                              const brook_bytes_t *const *values) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        int k = index_of(keys[i]);
        const brook_record_t *r = brook_batch_record(batch, i);
        if (k < 0 || values[i]->len < 10 || values[i]->data[0] != 0xC3 ||
            values[i]->data[1] != 0x01 || values[i]->len != r->value_len)
            audit_bad++;
        else
            audit_seen[k]++;
    }
    pthread_mutex_unlock(&lock);
    return BROOK_OK;
}

brook_result_t on_order(brook_ctx_t *ctx, const char *key, const bt_Order *value) {
    int k = index_of(value->id);
    pthread_mutex_lock(&lock);
    if (k >= 0)
        one_seen[k]++;
    pthread_mutex_unlock(&lock);
    return BROOK_OK;
}

static bool all_seen(void) {
    bool all = true;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < N; i++)
        all = all && bill_seen[i] && audit_seen[i] && one_seen[i];
    pthread_mutex_unlock(&lock);
    return all;
}

int main(void) {
    brook_error_t err = {0, ""};
    the_service = batch_service_new(NULL, &err);
    if (!the_service) {
        fprintf(stderr, "new: %s\n", err.message);
        return 1;
    }
    /* The generic binding refuses a batch listener, and the other way round. */
    brook_app_t *app = batch_service_app(the_service);
    CHECK(brook_app_set_handler(app, "bill", NULL, NULL) == BROOK_ERR_INVALID_ARG);
    CHECK(brook_app_set_batch_handler(app, "one", NULL, NULL) == BROOK_ERR_INVALID_ARG);
    CHECK(brook_app_set_batch_handler(app, "nope", NULL, NULL) == BROOK_ERR_NOT_FOUND);
    if (batch_service_start(the_service, &err)) {
        fprintf(stderr, "start: %s\n", err.message);
        return 1;
    }
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o-%d", i);
        bt_Order o;
        bt_Order_init(&o);
        o.id = id;
        o.amount_cents = 100 * i;
        CHECK(batch_service_orders_send(the_service, id, &o) == 0);
    }
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int t = 0; t < 3000 && !all_seen(); t++)
        nanosleep(&nap, NULL);
    CHECK(all_seen());
    CHECK(batch_service_stop(the_service) == 0);
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "bill"), &st);
    printf("bill: %d record(s) in %d batch(es), the largest %d\n", N, bill_calls, max_batch);
    for (int i = 0; i < N; i++) {
        CHECK(bill_seen[i] == 1);
        CHECK(audit_seen[i] == 1);
        CHECK(one_seen[i] == 1);
    }
    CHECK(bill_bad == 0);
    CHECK(audit_bad == 0);
    CHECK(max_batch <= 50);
    CHECK(st.handled == N);
    CHECK(st.batches == (uint64_t)bill_calls);
    batch_service_destroy(the_service);
    return checks_done("codegen batch");
}
