/* Request-reply through generated code (brookc): the service of tests/codegen/valid/request_reply
 * (its golden files pin what brookc writes for it) run on the cluster. "quotes" asks in Avro and
 * reads its replies on partition 1 of pricing.replies; the "quoter" listener answers through
 * "quote_replies"; "echo" and "echoer" do the same with text. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook_test.h"
#include "pricing.brook.h"

static brook_test_cluster_t *cluster;
static atomic_int quoted, traced, echoed;

/* The price of a quote: 250 cents plus the SKU's length, per unit. A negative quantity fails
 * for good (no reply: its request times out). */
brook_result_t on_quote_request(brook_ctx_t *ctx, const char *key, const shop_QuoteRequest *value,
                                shop_Quote *reply) {
    if (value->quantity < 0)
        return brook_ctx_fail(ctx, "shop.InvalidQuantity", "quantity %d", (int)value->quantity);
    const void *trace;
    size_t len;
    if (brook_ctx_header(ctx, "trace-id", &trace, &len) && len == 5 && !memcmp(trace, "t-123", 5))
        atomic_fetch_add(&traced, 1);
    reply->sku = value->sku; /* the request's own value: valid until the reply is sent */
    reply->quantity = value->quantity;
    reply->unit_price_cents = 250 + (int64_t)strlen(value->sku);
    reply->total_cents = reply->unit_price_cents * value->quantity;
    /* currency keeps its default, "EUR" */
    const char *id = brook_ctx_listener_id(ctx);
    char *note = brook_arena_alloc(&reply->brook_arena_, strlen(id) + 16);
    if (!note)
        return BROOK_RETRY;
    sprintf(note, "quoted by %s", id);
    reply->has_note = true;
    reply->note = note;
    atomic_fetch_add(&quoted, 1);
    return BROOK_OK;
}

brook_result_t on_echo(brook_ctx_t *ctx, const char *key, const char *value, brook_buf_t *reply) {
    brook_buf_append(reply, "echo:", 5);
    brook_buf_append(reply, value, strlen(value));
    atomic_fetch_add(&echoed, 1);
    return BROOK_OK;
}

static int setup(void **state) {
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    brook_test_cluster_destroy(cluster);
    return 0;
}

typedef struct {
    pricing_t *svc;
    int index, ok, bad;
} asker_t;

static void *ask_quotes(void *arg) {
    asker_t *a = arg;
    shop_Quote q;
    shop_Quote_init(&q);
    for (int i = 0; i < 200; i++) {
        char sku[32];
        snprintf(sku, sizeof(sku), "sku-%d-%d", a->index, i);
        shop_QuoteRequest req = {.sku = sku, .quantity = i + 1};
        /* The same reply value again and again: each decode frees what the last one held. */
        if (pricing_quotes_request(a->svc, sku, &req, &q, 0) == 0 && q.sku && !strcmp(q.sku, sku) &&
            q.quantity == i + 1 && q.total_cents == (int64_t)(250 + strlen(sku)) * (i + 1))
            a->ok++;
        else
            a->bad++;
    }
    shop_Quote_clear(&q);
    return NULL;
}

static void test_generated_request_reply(void **state) {
    brook_error_t err = {0};
    pricing_t *svc = pricing_new(NULL, &err);
    if (!svc)
        fail_msg("pricing_new: %s", err.message);
    if (pricing_start(svc, &err))
        fail_msg("pricing_start: %s", err.message);
    assert_true(brook_test_wait_assigned(pricing_app(svc), 30000));

    /* Avro both ways. */
    shop_QuoteRequest req = {.sku = "AB-1", .quantity = 3};
    shop_Quote q;
    shop_Quote_init(&q);
    assert_int_equal(pricing_quotes_request(svc, "AB-1", &req, &q, 0), 0);
    assert_string_equal(q.sku, "AB-1");
    assert_int_equal(q.quantity, 3);
    assert_int_equal(q.unit_price_cents, 254);
    assert_int_equal(q.total_cents, 762);
    assert_string_equal(q.currency, "EUR");
    assert_true(q.has_note);
    assert_string_equal(q.note, "quoted by quoter");

    /* With headers of the caller's, which the handler sees. */
    brook_header_t trace = {"trace-id", "t-123", 5};
    brook_send_opts_t opts = BROOK_SEND_OPTS_INIT;
    opts.headers = &trace;
    opts.header_count = 1;
    req.quantity = 2;
    assert_int_equal(pricing_quotes_request_ex(svc, "AB-1", &req, &q, 0, &opts, &err), 0);
    assert_int_equal(q.total_cents, 508);
    assert_int_equal(atomic_load(&traced), 1);

    /* A request its handler refuses: no reply, BROOK_ERR_TIMEOUT with the reason. */
    req.quantity = -1;
    assert_int_equal(pricing_quotes_request_ex(svc, "AB-1", &req, &q, 500, NULL, &err),
                     BROOK_ERR_TIMEOUT);
    print_message("%s\n", err.message);
    assert_non_null(strstr(err.message, "no reply on pricing.replies within 500 ms"));
    /* q was left as it was. */
    assert_int_equal(q.total_cents, 508);
    shop_Quote_clear(&q);

    /* Text both ways. */
    brook_buf_t text;
    brook_buf_init(&text);
    assert_int_equal(pricing_echo_request(svc, "k", "hello", &text, 0), 0);
    assert_string_equal((const char *)text.data, "echo:hello");
    brook_buf_free(&text);

    /* Two threads at once. */
    asker_t askers[2] = {{svc, 0, 0, 0}, {svc, 1, 0, 0}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, ask_quotes, &askers[t]), 0);
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(askers[t].ok, 200);
        assert_int_equal(askers[t].bad, 0);
    }

    brook_request_stats_t s;
    brook_template_request_stats(brook_app_template(pricing_app(svc), "quotes"), &s);
    assert_int_equal(s.requests, 403);
    assert_int_equal(s.replies, 402);
    assert_int_equal(s.timeouts, 1);
    assert_int_equal(s.late, 0);
    assert_int_equal(s.unmatched, 0);
    brook_template_request_stats(brook_app_template(pricing_app(svc), "echo"), &s);
    assert_int_equal(s.requests, 1);
    assert_int_equal(s.replies, 1);
    assert_int_equal(atomic_load(&quoted), 402);
    assert_int_equal(atomic_load(&echoed), 1);

    /* Every quote reply went to partition 1 of pricing.replies, which each request named. */
    brook_test_record_t *recs;
    size_t n = brook_test_consume(cluster, "pricing.replies", 402, 10000, &recs);
    assert_int_equal(n, 402);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(recs[i].partition, 1);
        const brook_header_t *c = brook_test_record_header(&recs[i], BROOK_HEADER_CORRELATION_ID);
        assert_true(c && c->len == 16);
    }
    brook_test_records_free(recs, n);
    /* The refused request went to the dead-letter topic. */
    n = brook_test_consume(cluster, "pricing.requests-dlt", 1, 10000, &recs);
    assert_int_equal(n, 1);
    brook_test_records_free(recs, n);
    assert_int_equal(brook_test_end_offsets(cluster, "pricing.requests-dlt"), 1);

    assert_int_equal(pricing_stop(svc), 0);
    pricing_destroy(svc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_request_reply),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
