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

static void test_shop_in_one_process(void **state) {
    brook_test_cluster_t *c = brook_test_cluster_new(1);
    assert_non_null(c);
    shop_options_t o = {.orders = ORDERS, .rate = 400, .tag = TAG, .timeout_s = 90, .quiet = true};
    assert_int_equal(shop_run(&o), 0);

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
