/* The payment service: charges each reserved order once through a flaky gateway.
 *
 * A gateway timeout is worth another try: brook_ctx_fail() names it and returns BROOK_RETRY,
 * so the runtime forwards the record to the next retry topic and the partition keeps
 * flowing. A declined card is an answer: it is published as PaymentFailed. Each answer is
 * remembered by order id and given again when the same reservation arrives again. */
#include "payment_service.brook.h"
#include "shop.h"

enum { PAID = 1, DECLINED };

static shop_ledger_t *payments;

brook_result_t charge_order(brook_ctx_t *ctx, const char *order_id,
                            const shop_InventoryReserved *order) {
    payment_service_t *svc = payment_service_from_ctx(ctx);
    shop_entry_t answer = shop_ledger_get(payments, order_id);
    if (answer.state == 0) {
        int attempt = brook_ctx_attempt(ctx);
        switch (shop_gateway_charge(order_id, order->amount_cents, attempt)) {
        case SHOP_GATEWAY_TIMEOUT:
            return brook_ctx_fail(ctx, "shop.GatewayTimeout",
                                  "no answer from the gateway (attempt %d)", attempt);
        case SHOP_GATEWAY_DECLINED:
            answer.state = DECLINED;
            break;
        case SHOP_GATEWAY_OK:
            answer.state = PAID;
            break;
        }
        answer.quantity = attempt; /* the ledger's number: how many calls it took */
        shop_ledger_move(payments, order_id, 0, answer.state, &answer);
    }
    if (answer.state == DECLINED) {
        shop_PaymentFailed failed = {.order_id = (char *)order_id,
                                     .sku = order->sku,
                                     .quantity = order->quantity,
                                     .reason = "card declined",
                                     .placed_at = order->placed_at};
        return payment_service_failed_send(svc, order_id, &failed) ? BROOK_RETRY : BROOK_OK;
    }
    shop_PaymentCompleted paid = {.order_id = (char *)order_id,
                                  .amount_cents = order->amount_cents,
                                  .attempts = answer.quantity,
                                  .placed_at = order->placed_at};
    return payment_service_completed_send(svc, order_id, &paid) ? BROOK_RETRY : BROOK_OK;
}

static const char *const listener_ids[] = {"charge", NULL};

static void *create(brook_error_t *err) {
    payments = shop_ledger_new();
    return payment_service_new(NULL, err);
}

static brook_app_t *app(void *svc) {
    return payment_service_app(svc);
}

static void destroy(void *svc) {
    payment_service_destroy(svc);
    shop_ledger_destroy(payments);
    payments = NULL;
}

const shop_service_t shop_payment_service = {"payment", listener_ids, create, app, destroy, NULL};
