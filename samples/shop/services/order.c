/* The order service: places orders and closes each one exactly once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "order_service.brook.h"
#include "shop.h"

static order_service_t *service;
static shop_ledger_t *orders;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static shop_progress_t progress;
static int64_t *latencies;
static size_t latency_count, latency_cap;

/* Moves the order from PLACED to its terminal state; a second terminal event for the same
 * order (a redelivery, a replayed answer) finds it closed and changes nothing. */
static bool close_order(const char *order_id, int state, int64_t placed_at) {
    if (!shop_ledger_move(orders, order_id, ORDER_PLACED, state, NULL)) {
        pthread_mutex_lock(&lock);
        progress.duplicates += shop_ledger_get(orders, order_id).state != 0;
        pthread_mutex_unlock(&lock);
        return false;
    }
    pthread_mutex_lock(&lock);
    if (state == ORDER_COMPLETED)
        progress.completed++;
    else
        progress.cancelled[state - ORDER_OUT_OF_STOCK]++;
    if (latency_count == latency_cap) {
        latency_cap = latency_cap ? 2 * latency_cap : 1024;
        latencies = realloc(latencies, latency_cap * sizeof(*latencies));
    }
    latencies[latency_count++] = shop_now_ms() - placed_at;
    pthread_mutex_unlock(&lock);
    return true;
}

static brook_result_t cancel(brook_ctx_t *ctx, const char *order_id, shop_CancelReason reason,
                             const char *detail, int64_t placed_at) {
    if (!close_order(order_id, ORDER_OUT_OF_STOCK + (int)reason, placed_at))
        return BROOK_OK;
    shop_OrderCancelled cancelled = {.order_id = (char *)order_id,
                                     .reason = reason,
                                     .detail = (char *)detail,
                                     .placed_at = placed_at};
    return order_service_cancelled_send(order_service_from_ctx(ctx), order_id, &cancelled)
               ? BROOK_RETRY
               : BROOK_OK;
}

brook_result_t complete_shipped_order(brook_ctx_t *ctx, const char *order_id,
                                      const shop_OrderShipped *shipped) {
    if (!close_order(order_id, ORDER_COMPLETED, shipped->placed_at))
        return BROOK_OK;
    shop_OrderCompleted completed = {.order_id = (char *)order_id,
                                     .tracking = shipped->tracking,
                                     .placed_at = shipped->placed_at};
    return order_service_completed_send(order_service_from_ctx(ctx), order_id, &completed)
               ? BROOK_RETRY
               : BROOK_OK;
}

brook_result_t cancel_rejected_order(brook_ctx_t *ctx, const char *order_id,
                                     const shop_InventoryRejected *rejected) {
    return cancel(ctx, order_id, shop_CancelReason_OUT_OF_STOCK, rejected->reason,
                  rejected->placed_at);
}

brook_result_t cancel_unpaid_order(brook_ctx_t *ctx, const char *order_id,
                                   const shop_InventoryReleased *released) {
    return cancel(ctx, order_id, shop_CancelReason_PAYMENT_DECLINED, released->reason,
                  released->placed_at);
}

/* The inventory dead-lettered this order: the DLT record carries the order as it was sent and
 * the reason (Spring's kafka_dlt-exception-message header, read by brook_record_failure_info). */
brook_result_t cancel_invalid_order(brook_ctx_t *ctx, const char *order_id,
                                    const shop_OrderPlaced *order) {
    brook_failure_info_t failure;
    char detail[256] = "invalid order";
    if (brook_record_failure_info(brook_ctx_record(ctx), &failure) &&
        failure.exception_message.data)
        snprintf(detail, sizeof(detail), "%.*s", (int)failure.exception_message.len,
                 failure.exception_message.data);
    return cancel(ctx, order_id, shop_CancelReason_INVALID_ORDER, detail, order->placed_at);
}

int shop_place_order(const char *tag, int i) {
    shop_order_spec_t spec;
    shop_order_spec(tag, i, &spec);
    shop_OrderPlaced order = {.order_id = spec.id,
                              .customer = spec.customer,
                              .sku = (char *)spec.sku,
                              .quantity = spec.quantity,
                              .amount_cents = spec.amount_cents,
                              .placed_at = shop_now_ms()};
    shop_ledger_move(orders, spec.id, 0, ORDER_PLACED, NULL);
    pthread_mutex_lock(&lock);
    progress.placed++;
    pthread_mutex_unlock(&lock);
    return order_service_placed_send(service, spec.id, &order);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void shop_order_progress(shop_progress_t *p) {
    pthread_mutex_lock(&lock);
    *p = progress;
    if (latency_count) {
        qsort(latencies, latency_count, sizeof(*latencies), cmp_i64);
        p->p50_ms = latencies[(latency_count - 1) / 2];
        p->p99_ms = latencies[(latency_count - 1) * 99 / 100];
    }
    pthread_mutex_unlock(&lock);
}

int shop_order_unfinished(const char *tag, int n, FILE *out) {
    int unfinished = 0;
    for (int i = 0; i < n; i++) {
        shop_order_spec_t spec;
        shop_order_spec(tag, i, &spec);
        int state = shop_ledger_get(orders, spec.id).state;
        if (state < ORDER_COMPLETED && unfinished++ < 5 && out)
            fprintf(out, "  order %s: %s\n", spec.id, state ? "still open" : "never placed");
    }
    return unfinished;
}

static const char *const listener_ids[] = {"shipped", "rejected", "released", "invalid", NULL};

static void *create(brook_error_t *err) {
    orders = shop_ledger_new();
    memset(&progress, 0, sizeof(progress));
    latency_count = 0;
    return service = order_service_new(NULL, err);
}

static brook_app_t *app(void *svc) {
    return order_service_app(svc);
}

static void destroy(void *svc) {
    order_service_destroy(svc);
    service = NULL;
    shop_ledger_destroy(orders);
    orders = NULL;
    free(latencies);
    latencies = NULL;
    latency_cap = latency_count = 0;
}

const shop_service_t shop_order_service = {"order", listener_ids, create, app, destroy, NULL};
