/*
 * The shop: what its five services share (the catalog, the payment gateway, a per-order
 * ledger) and how the runner drives them. Nothing here includes generated code: each
 * services/<name>.c includes only its own <unit>.brook.h.
 */
#ifndef SHOP_H
#define SHOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "brook/brook.h"

/* ---- the catalog: an order is a pure function of (tag, index) ----------------------------------
 */

typedef struct shop_order_spec_s {
    char id[48];
    char customer[24];
    const char *sku;
    int quantity;
    int64_t amount_cents;
} shop_order_spec_t;

/* Order number `i` of run `tag`. Every 40th asks for a sold-out item, two in a hundred are
 * malformed (no quantity, or an item the shop does not sell). */
void shop_order_spec(const char *tag, int i, shop_order_spec_t *out);
/* What happens to order `i` (for tests and the summary's expectations). */
typedef enum {
    SHOP_EXPECT_COMPLETED,
    SHOP_EXPECT_OUT_OF_STOCK,
    SHOP_EXPECT_DECLINED,
    SHOP_EXPECT_INVALID
} shop_expect_t;
shop_expect_t shop_order_expect(const char *tag, int i);

#define SHOP_SKU_COUNT 4
extern const char *const shop_skus[SHOP_SKU_COUNT];
extern const int shop_initial_stock[SHOP_SKU_COUNT];
/* Index of a SKU, -1 when the shop does not sell it. */
int shop_sku_index(const char *sku);

/* ---- the payment gateway: flaky, but deterministically so ---------------------------------------
 */

typedef enum { SHOP_GATEWAY_OK, SHOP_GATEWAY_TIMEOUT, SHOP_GATEWAY_DECLINED } shop_gateway_t;
/* Call `attempt` (1, 2, ...) to charge an order: some orders time out once or twice first,
 * some cards are declined. Depends only on the order id and the attempt. */
shop_gateway_t shop_gateway_charge(const char *order_id, int64_t amount_cents, int attempt);

/* ---- a per-order ledger: what one service remembers, by order id --------------------------------
 */

typedef struct shop_entry_s {
    int state; /* 0: never seen */
    int quantity;
    int64_t at;
    char sku[24];
} shop_entry_t;

typedef struct shop_ledger_s shop_ledger_t;
shop_ledger_t *shop_ledger_new(void);
void shop_ledger_destroy(shop_ledger_t *l);
/* The order's entry (state 0 when never seen), copied. */
shop_entry_t shop_ledger_get(shop_ledger_t *l, const char *order_id);
/* Atomically: if the order's state is `from` (0: never seen), makes it `to`, copies `e`'s other
 * fields in when `e` is given, and returns true; otherwise changes nothing and returns false.
 * In both cases *e (if given) receives the entry as it now is. */
bool shop_ledger_move(shop_ledger_t *l, const char *order_id, int from, int to, shop_entry_t *e);
/* Calls fn for every entry, under the ledger's lock. */
void shop_ledger_foreach(shop_ledger_t *l,
                         void (*fn)(const char *id, const shop_entry_t *e, void *arg), void *arg);

int64_t shop_now_ms(void);

/* ---- services, as the runner sees them ----------------------------------------------------------
 */

typedef struct shop_service_s {
    const char *name;                /* "inventory" */
    const char *const *listener_ids; /* NULL-terminated */
    /* NULL and err on failure. */
    void *(*create)(brook_error_t *err);
    brook_app_t *(*app)(void *svc);
    void (*destroy)(void *svc);
    /* Prints what the service holds at the end; non-zero when its own books do not balance. */
    int (*report)(FILE *out);
} shop_service_t;

extern const shop_service_t shop_order_service, shop_inventory_service, shop_payment_service,
    shop_shipping_service, shop_notification_service;

/* ---- the order service's side of the run --------------------------------------------------------
 */

enum { ORDER_PLACED = 1, ORDER_COMPLETED, ORDER_OUT_OF_STOCK, ORDER_DECLINED, ORDER_INVALID };

typedef struct shop_progress_s {
    int placed;
    int completed;
    int cancelled[3];       /* out of stock, payment declined, invalid */
    int duplicates;         /* terminal events for an order already closed (ignored) */
    int64_t p50_ms, p99_ms; /* placement to terminal state */
} shop_progress_t;

/* Places order `i` of run `tag`. Thread: the runner's. */
int shop_place_order(const char *tag, int i);
void shop_order_progress(shop_progress_t *p);
/* Orders of run `tag` in [0, n) not in exactly one terminal state; prints up to a few. */
int shop_order_unfinished(const char *tag, int n, FILE *out);
/* Current stock of a SKU in this process's inventory. */
int shop_inventory_stock(int sku);

/* ---- the runner (run.c) -------------------------------------------------------------------------
 */

typedef struct shop_options_s {
    const char *service; /* NULL: all five in this process */
    int orders;          /* how many the order service places */
    int rate;            /* orders per second */
    const char *tag;     /* order ids are "<tag>-<n>" */
    int timeout_s;       /* give up waiting for terminal states after this */
    bool quiet;          /* no live progress */
} shop_options_t;

/* Runs the shop (or one service of it) as the options say; returns the exit status: 0 when
 * every order reached exactly one terminal state (order service) or the service stopped
 * cleanly with balanced books (the others, on SIGINT/SIGTERM). */
int shop_run(const shop_options_t *opts);
void shop_request_stop(void);

#endif
