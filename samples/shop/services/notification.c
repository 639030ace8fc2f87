/* The notification service: tells each customer once how their order ended. */
#include <stdlib.h>

#include "notification_service.brook.h"
#include "shop.h"

enum { NOTIFIED = 1 };

static shop_ledger_t *sent;

/* SHOP_VERBOSE=1 prints every message; the demo only counts them. */
static void notify(const char *order_id, const char *text) {
    if (shop_ledger_move(sent, order_id, 0, NOTIFIED, NULL) && getenv("SHOP_VERBOSE"))
        printf("  [notification] %s: %s\n", order_id, text);
}

brook_result_t notify_completed(brook_ctx_t *ctx, const char *order_id,
                                const shop_OrderCompleted *order) {
    notify(order_id, order->tracking);
    return BROOK_OK;
}

brook_result_t notify_cancelled(brook_ctx_t *ctx, const char *order_id,
                                const shop_OrderCancelled *order) {
    notify(order_id, order->detail);
    return BROOK_OK;
}

static const char *const listener_ids[] = {"completed", "cancelled", NULL};

static void *create(brook_error_t *err) {
    sent = shop_ledger_new();
    return notification_service_new(NULL, err);
}

static brook_app_t *app(void *svc) {
    return notification_service_app(svc);
}

static void destroy(void *svc) {
    notification_service_destroy(svc);
    shop_ledger_destroy(sent);
    sent = NULL;
}

const shop_service_t shop_notification_service = {"notification", listener_ids, create, app,
                                                  destroy,        NULL};
