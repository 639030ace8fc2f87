/* The inventory service: reserves stock per order, gives it back when payment fails.
 *
 * Idempotent by order id: the ledger remembers what was decided for each order, so a
 * redelivered order is answered the same way without touching stock twice, and a release
 * puts stock back only for a reservation this process holds. */
#include <pthread.h>
#include <string.h>

#include "inventory_service.brook.h"
#include "shop.h"

enum { RESERVED = 1, REJECTED, RELEASED, INVALID };

static shop_ledger_t *reservations;
static pthread_mutex_t stock_lock = PTHREAD_MUTEX_INITIALIZER;
static int stock[SHOP_SKU_COUNT];

static bool take_stock(int sku, int quantity) {
    pthread_mutex_lock(&stock_lock);
    bool ok = stock[sku] >= quantity;
    if (ok)
        stock[sku] -= quantity;
    pthread_mutex_unlock(&stock_lock);
    return ok;
}

static void put_back_stock(int sku, int quantity) {
    pthread_mutex_lock(&stock_lock);
    stock[sku] += quantity;
    pthread_mutex_unlock(&stock_lock);
}

brook_result_t reserve_stock(brook_ctx_t *ctx, const char *order_id,
                             const shop_OrderPlaced *order) {
    inventory_service_t *svc = inventory_service_from_ctx(ctx);
    int sku = shop_sku_index(order->sku);
    if (sku < 0 || order->quantity <= 0) {
        /* Not retryable (see not_retryable): straight to the DLT, once per order. */
        if (!shop_ledger_move(reservations, order_id, 0, INVALID, NULL))
            return BROOK_OK;
        if (sku < 0)
            return brook_ctx_fail(ctx, "shop.InvalidOrder", "no such item: \"%s\"", order->sku);
        return brook_ctx_fail(ctx, "shop.InvalidOrder", "quantity %d", order->quantity);
    }

    shop_entry_t entry = shop_ledger_get(reservations, order_id);
    if (entry.state == 0) { /* decide once per order: a redelivery gets the same answer */
        entry.state = take_stock(sku, order->quantity) ? RESERVED : REJECTED;
        entry.quantity = order->quantity;
        snprintf(entry.sku, sizeof(entry.sku), "%s", order->sku);
        shop_ledger_move(reservations, order_id, 0, entry.state, &entry);
    }
    if (entry.state == REJECTED) {
        shop_InventoryRejected rejected = {
            .order_id = (char *)order_id, .reason = "sold out", .placed_at = order->placed_at};
        return inventory_service_rejected_send(svc, order_id, &rejected) ? BROOK_RETRY : BROOK_OK;
    }
    shop_InventoryReserved reserved = {.order_id = (char *)order_id,
                                       .sku = order->sku,
                                       .quantity = order->quantity,
                                       .amount_cents = order->amount_cents,
                                       .placed_at = order->placed_at};
    return inventory_service_reserved_send(svc, order_id, &reserved) ? BROOK_RETRY : BROOK_OK;
}

brook_result_t release_stock(brook_ctx_t *ctx, const char *order_id,
                             const shop_PaymentFailed *failed) {
    if (shop_ledger_move(reservations, order_id, RESERVED, RELEASED, NULL))
        put_back_stock(shop_sku_index(failed->sku), failed->quantity);
    shop_InventoryReleased released = {.order_id = (char *)order_id,
                                       .sku = failed->sku,
                                       .quantity = failed->quantity,
                                       .reason = failed->reason,
                                       .placed_at = failed->placed_at};
    return inventory_service_released_send(inventory_service_from_ctx(ctx), order_id, &released)
               ? BROOK_RETRY
               : BROOK_OK;
}

/* ---- for the runner ---- */

int shop_inventory_stock(int sku) {
    pthread_mutex_lock(&stock_lock);
    int n = stock[sku];
    pthread_mutex_unlock(&stock_lock);
    return n;
}

static void add_held(const char *id, const shop_entry_t *e, void *arg) {
    int *held = arg;
    if (e->state == RESERVED)
        held[shop_sku_index(e->sku)] += e->quantity;
}

/* Stock is conserved when what left the shelf is exactly what reservations still hold. */
static int report(FILE *out) {
    int held[SHOP_SKU_COUNT] = {0}, bad = 0;
    shop_ledger_foreach(reservations, add_held, held);
    for (int i = 0; i < SHOP_SKU_COUNT; i++) {
        int stock_now = shop_inventory_stock(i);
        bool ok = shop_initial_stock[i] - stock_now == held[i];
        bad += !ok;
        fprintf(out, "  stock %-15s %8d left, %6d held by reservations%s\n", shop_skus[i],
                stock_now, held[i], ok ? "" : "  <- NOT CONSERVED");
    }
    return bad;
}

static const char *const listener_ids[] = {"reserve", "release", NULL};

static void *create(brook_error_t *err) {
    reservations = shop_ledger_new();
    memcpy(stock, shop_initial_stock, sizeof(stock));
    return inventory_service_new(NULL, err);
}

static brook_app_t *app(void *svc) {
    return inventory_service_app(svc);
}

static void destroy(void *svc) {
    inventory_service_destroy(svc);
    shop_ledger_destroy(reservations);
    reservations = NULL;
}

const shop_service_t shop_inventory_service = {"inventory", listener_ids, create,
                                               app,         destroy,      report};
