/* The shop in one process, at a small scale, and its invariants checked against the topics:
 * every order closed exactly once, stock conserved, the DLT holding exactly the malformed
 * orders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook_test.h"
#include "shop.h"

#define ORDERS 200
#define TAG "t"

static int order_index(const char *id) {
    return atoi(id + strlen(TAG) + 1);
}

/* After a failed run: the saga's topics that hold each order that reached neither terminal
 * topic, with partition and offset ("uncommitted": seen by a read_uncommitted reader only),
 * so that a failure says at which hop an order stopped. */
static void print_open_orders(brook_test_cluster_t *c) {
    static const char *const saga[] = {
        "shop.orders.placed",      "shop.inventory.reserved",
        "shop.inventory.rejected", "shop.inventory.reserved-retry-200",
        "shop.payments.completed", "shop.payments.failed",
        "shop.inventory.released", "shop.orders.shipped",
        "shop.orders.completed",   "shop.orders.cancelled",
    };
    enum { SAGA = sizeof(saga) / sizeof(saga[0]) };
    brook_test_record_t *recs[SAGA][2];
    size_t n[SAGA][2];
    for (int t = 0; t < SAGA; t++) {
        int64_t end = brook_test_end_offsets(c, saga[t]);
        size_t want = end > 0 ? (size_t)end : 1;
        n[t][0] = brook_test_consume(c, saga[t], want, 3000, &recs[t][0]);
        n[t][1] = brook_test_consume_uncommitted(c, saga[t], want, 3000, &recs[t][1]);
    }
    for (int k = 0; k < ORDERS; k++) {
        shop_order_spec_t spec;
        shop_order_spec(TAG, k, &spec);
        const char *id = spec.id;
        bool closed = false;
        for (int t = SAGA - 2; t < SAGA; t++)
            for (size_t i = 0; i < n[t][0]; i++)
                closed |= !strcmp(recs[t][0][i].key, id);
        if (closed)
            continue;
        fprintf(stderr, "  order %s:", id);
        for (int t = 0; t < SAGA; t++)
            for (size_t i = 0; i < n[t][1]; i++) {
                const brook_test_record_t *r = &recs[t][1][i];
                if (strcmp(r->key, id))
                    continue;
                bool committed = false;
                for (size_t j = 0; j < n[t][0]; j++)
                    committed |= recs[t][0][j].partition == r->partition &&
                                 recs[t][0][j].offset == r->offset;
                fprintf(stderr, " %s [%d] @%lld%s", saga[t], (int)r->partition,
                        (long long)r->offset, committed ? "" : " (uncommitted)");
            }
        fprintf(stderr, "\n");
    }
    for (int t = 0; t < SAGA; t++)
        for (int u = 0; u < 2; u++)
            brook_test_records_free(recs[t][u], n[t][u]);
}

static void test_shop_in_one_process(void **state) {
    brook_test_cluster_t *c = brook_test_cluster_new(1);
    assert_non_null(c);
    shop_options_t o = {.orders = ORDERS, .rate = 400, .tag = TAG, .timeout_s = 90, .quiet = true};
    int rc = shop_run(&o);
    if (rc)
        print_open_orders(c);
    assert_int_equal(rc, 0);

    /* Every order closed exactly once: its id appears once across the two terminal topics,
     * and in the one its fate says. */
    int seen[ORDERS] = {0}, expected_completed = 0, expected_invalid = 0;
    for (int k = 0; k < ORDERS; k++) {
        expected_completed += shop_order_expect(TAG, k) == SHOP_EXPECT_COMPLETED;
        expected_invalid += shop_order_expect(TAG, k) == SHOP_EXPECT_INVALID;
    }
    /* Read what is expected (a real broker's consumer may take seconds to start), then the
     * topics' end offsets show there is nothing more. */
    brook_test_record_t *done, *cancelled, *dlt;
    size_t n_done =
        brook_test_consume(c, "shop.orders.completed", expected_completed, 30000, &done);
    size_t n_cancelled = brook_test_consume(c, "shop.orders.cancelled", ORDERS - expected_completed,
                                            30000, &cancelled);
    assert_int_equal(n_done, expected_completed);
    assert_int_equal(brook_test_end_offsets(c, "shop.orders.completed"), expected_completed);
    assert_int_equal(n_done + n_cancelled, ORDERS);
    assert_int_equal(brook_test_end_offsets(c, "shop.orders.cancelled"), n_cancelled);
    int sold[SHOP_SKU_COUNT] = {0};
    for (size_t i = 0; i < n_done; i++) {
        int k = order_index(done[i].key);
        seen[k]++;
        assert_int_equal(shop_order_expect(TAG, k), SHOP_EXPECT_COMPLETED);
        shop_order_spec_t spec;
        shop_order_spec(TAG, k, &spec);
        sold[shop_sku_index(spec.sku)] += spec.quantity;
    }
    for (size_t i = 0; i < n_cancelled; i++) {
        int k = order_index(cancelled[i].key);
        seen[k]++;
        assert_int_not_equal(shop_order_expect(TAG, k), SHOP_EXPECT_COMPLETED);
    }
    for (int k = 0; k < ORDERS; k++)
        assert_int_equal(seen[k], 1);

    /* Stock: what left the shelves is exactly what completed orders bought (declined orders
     * gave theirs back, once). */
    for (int s = 0; s < SHOP_SKU_COUNT; s++)
        assert_int_equal(shop_initial_stock[s] - shop_inventory_stock(s), sold[s]);

    /* The DLT holds exactly the malformed orders, each once, with the failure's name. */
    size_t n_dlt = brook_test_consume(c, "shop.orders.placed-dlt", expected_invalid, 30000, &dlt);
    assert_true(expected_invalid > 0);
    assert_int_equal(n_dlt, expected_invalid);
    assert_int_equal(brook_test_end_offsets(c, "shop.orders.placed-dlt"), expected_invalid);
    for (size_t i = 0; i < n_dlt; i++) {
        assert_int_equal(shop_order_expect(TAG, order_index(dlt[i].key)), SHOP_EXPECT_INVALID);
        const brook_header_t *h = brook_test_record_header(&dlt[i], "kafka_dlt-exception-fqcn");
        assert_non_null(h);
        assert_memory_equal(h->value, "shop.InvalidOrder", h->len);
    }
    /* The flaky gateway went through the retry topics. */
    assert_true(brook_test_end_offsets(c, "shop.inventory.reserved-retry-200") > 0);

    brook_test_records_free(done, n_done);
    brook_test_records_free(cancelled, n_cancelled);
    brook_test_records_free(dlt, n_dlt);
    brook_test_cluster_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shop_in_one_process)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
