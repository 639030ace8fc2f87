/* Generated code of filters (tests/codegen/valid/filters): the declared filter functions compile
 * against their prototypes (-Wall -Wextra -Wpedantic -Werror) and are bound: the service runs on
 * the embedded cluster, sends orders through its template, and its listener handles only those
 * both filters keep; the raw filter, shared by two listeners, runs for every record. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filtering.brook.h"

#include "check.h"

#define N 30

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int handled[N], raw_calls, typed_calls;

static int index_of(const char *id) {
    int i = -1;
    return id && sscanf(id, "o-%d", &i) == 1 && i >= 0 && i < N ? i : -1;
}

/* Raw: drops the records whose key ends in 7 (o-7, o-17, o-27) by the key's bytes. */
bool filtering_is_ours(brook_ctx_t *ctx) {
    const brook_record_t *r = brook_ctx_record(ctx);
    pthread_mutex_lock(&lock);
    raw_calls++;
    pthread_mutex_unlock(&lock);
    return !(r->key_len && ((const char *)r->key)[r->key_len - 1] == '7');
}

/* Typed: keeps orders of 10.00 or more. */
bool filtering_is_big(brook_ctx_t *ctx, const char *key, const shop_OrderPlaced *value) {
    pthread_mutex_lock(&lock);
    typed_calls++;
    pthread_mutex_unlock(&lock);
    return value->amount_cents >= 1000;
}

brook_result_t filtering_on_big(brook_ctx_t *ctx, const char *key, const shop_OrderPlaced *value) {
    int k = index_of(value->order_id);
    pthread_mutex_lock(&lock);
    if (k >= 0)
        handled[k]++;
    pthread_mutex_unlock(&lock);
    return BROOK_OK;
}

brook_result_t filtering_on_audit(brook_ctx_t *ctx, const char *key,
                                  const shop_OrderPlaced *value) {
    return BROOK_OK;
}

static int done_with(brook_app_t *app) {
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "big"), &st);
    return (int)(st.handled + st.filtered);
}

int main(void) {
    brook_error_t err = {0, ""};
    filtering_t *svc = filtering_new(NULL, &err);
    if (!svc || filtering_start(svc, &err)) {
        fprintf(stderr, "start: %s\n", err.message);
        return 1;
    }
    brook_app_t *app = filtering_app(svc);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o-%d", i);
        shop_OrderPlaced o;
        shop_OrderPlaced_init(&o);
        o.order_id = id;
        o.amount_cents = 100 * i; /* o-10 and up are big */
        CHECK(filtering_placed_send(svc, id, &o) == 0);
    }
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int t = 0; t < 3000 && done_with(app) < N; t++)
        nanosleep(&nap, NULL);
    CHECK(done_with(app) == N);
    CHECK(filtering_stop(svc) == 0);
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "big"), &st);
    int expected = 0;
    for (int i = 0; i < N; i++) {
        bool kept = i >= 10 && i % 10 != 7;
        expected += kept;
        CHECK(handled[i] == kept);
    }
    CHECK((int)st.handled == expected);
    CHECK((int)st.filtered == N - expected);
    CHECK(raw_calls == N);
    CHECK(typed_calls == N - 3); /* not for what the raw filter dropped */
    printf("filters: %d of %d orders handled, %d filtered\n", expected, N, N - expected);
    filtering_destroy(svc);
    return checks_done("codegen filters");
}
