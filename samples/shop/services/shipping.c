/* The shipping service: ships each paid order once. */
#include "shipping_service.brook.h"
#include "shop.h"

enum { SHIPPED = 1 };

static shop_ledger_t *shipments;

brook_result_t ship_order(brook_ctx_t *ctx, const char *order_id,
                          const shop_PaymentCompleted *paid) {
    char tracking[64];
    snprintf(tracking, sizeof(tracking), "TRK-%s", order_id);
    shop_ledger_move(shipments, order_id, 0, SHIPPED, NULL); /* a repeat ships nothing new */
    shop_OrderShipped shipped = {
        .order_id = (char *)order_id, .tracking = tracking, .placed_at = paid->placed_at};
    return shipping_service_shipped_send(shipping_service_from_ctx(ctx), order_id, &shipped)
               ? BROOK_RETRY
               : BROOK_OK;
}

static const char *const listener_ids[] = {"ship", NULL};

static void *create(brook_error_t *err) {
    shipments = shop_ledger_new();
    return shipping_service_new(NULL, err);
}

static brook_app_t *app(void *svc) {
    return shipping_service_app(svc);
}

static void destroy(void *svc) {
    shipping_service_destroy(svc);
    shop_ledger_destroy(shipments);
    shipments = NULL;
}

const shop_service_t shop_shipping_service = {"shipping", listener_ids, create, app, destroy, NULL};
