/* Several services in one binary (tests/codegen/valid/services: brookc *.brook --types-name):
 * their headers included together, their units linked together, each type defined once by the
 * shared types unit. Also includes a header of another brookc run (valid/payment, a single
 * declaration) that declares some of the same types: the per-type guards let it compile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing_service.brook.h"
#include "orders.brook.h"
#include "shipping.brook.h"

#include "../valid/payment/expected/payment_service.brook.h"

#include "check.h"

/* The handlers the three services declare; never called here. */
brook_result_t orders_on_shipped(brook_ctx_t *ctx, const char *key,
                                 const shop_OrderShipped *value) {
    return BROOK_OK;
}

brook_result_t billing_charge(brook_ctx_t *ctx, const char *key, const shop_OrderPlaced *value) {
    return BROOK_OK;
}

brook_result_t shipping_ship(brook_ctx_t *ctx, const char *key,
                             const shop_PaymentCompleted *value) {
    return BROOK_OK;
}

static size_t count(const brook_type_t *const *types) {
    size_t n = 0;
    while (types[n])
        n++;
    return n;
}

static const brook_type_t *find(const brook_type_t *const *types, const char *name) {
    for (size_t i = 0; types[i]; i++)
        if (!strcmp(types[i]->name, name))
            return types[i];
    return NULL;
}

/* Each service lists its own types, and they are the shared descriptors. */
static void test_descriptors(void) {
    CHECK(count(shop_types_types) == 5);
    CHECK(count(orders_types) == 5);
    CHECK(count(billing_service_types) == 3);
    CHECK(count(shipping_types) == 3);
    CHECK(find(orders_types, "shop.OrderPlaced") == &shop_OrderPlaced_type);
    CHECK(find(billing_service_types, "shop.OrderPlaced") == &shop_OrderPlaced_type);
    CHECK(find(billing_service_types, "shop.OrderShipped") == NULL);
    CHECK(find(shipping_types, "shop.PaymentCompleted") == &shop_PaymentCompleted_type);
    CHECK(find(billing_service_types, "shop.PaymentCompleted") == &shop_PaymentCompleted_type);
    const brook_type_t *const *units[] = {orders_types, billing_service_types, shipping_types};
    for (size_t u = 0; u < 3; u++)
        for (size_t i = 0; units[u][i]; i++)
            CHECK(find(shop_types_types, units[u][i]->name) == units[u][i]);
}

/* A type that uses a type of another schema file, through the shared functions. */
static void test_round_trip(void) {
    shop_OrderShipped v, back = {0};
    shop_OrderShipped_init(&v);
    v.order_id = "o-1";
    v.carrier = shop_Carrier_COURIER;
    v.payment.order_id = "o-1";
    v.payment.paid = 1700000000000;
    brook_buf_t buf;
    brook_buf_init(&buf);
    brook_error_t err = {0, ""};
    CHECK(shop_OrderShipped_encode(&v, &buf) == 0);
    CHECK(shop_OrderShipped_type.decode(&back, buf.data, buf.len, &err) == 0);
    CHECK(back.order_id && !strcmp(back.order_id, "o-1"));
    CHECK(back.carrier == shop_Carrier_COURIER);
    CHECK(back.payment.paid == 1700000000000);
    shop_OrderShipped_clear(&back);
    brook_buf_free(&buf);
}

/* The services of one binary, side by side: each registers its types with its own app. */
static void test_services(void) {
    brook_error_t err = {0, ""};
    orders_t *o = orders_new(NULL, &err);
    if (!o)
        fprintf(stderr, "orders_new: %s\n", err.message);
    billing_service_t *b = billing_service_new(NULL, &err);
    if (!b)
        fprintf(stderr, "billing_service_new: %s\n", err.message);
    shipping_t *s = shipping_new(NULL, &err);
    if (!s)
        fprintf(stderr, "shipping_new: %s\n", err.message);

    CHECK(o && b && s);
    shipping_destroy(s);
    billing_service_destroy(b);
    orders_destroy(o);
}

int main(void) {
    test_descriptors();
    test_round_trip();
    test_services();
    return checks_done("services");
}
