/* The shop's shared pieces: catalog, payment gateway, per-order ledger. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop.h"

const char *const shop_skus[SHOP_SKU_COUNT] = {"book", "mug", "t-shirt", "poster-limited"};
/* Plenty of everything but the limited poster, which sold out long ago: so whether an order
 * gets stock depends on the order alone, however often and in whatever order it arrives. */
const int shop_initial_stock[SHOP_SKU_COUNT] = {1000000, 1000000, 1000000, 0};
static const int64_t prices[SHOP_SKU_COUNT] = {1999, 899, 2499, 4999};

int shop_sku_index(const char *sku) {
    for (int i = 0; i < SHOP_SKU_COUNT; i++)
        if (!strcmp(sku, shop_skus[i]))
            return i;
    return -1;
}

/* FNV-1a: a stable hash, so flakiness is the same in every process and every run. */
static uint32_t hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void shop_order_spec(const char *tag, int i, shop_order_spec_t *o) {
    snprintf(o->id, sizeof(o->id), "%s-%05d", tag, i);
    snprintf(o->customer, sizeof(o->customer), "customer-%03d", (i * 37) % 500);
    uint32_t h = hash(o->id);
    int sku = (int)(h % 3);
    o->sku = shop_skus[sku];
    o->quantity = 1 + (int)(h / 3 % 3);
    if (i % 40 == 17)
        o->sku = shop_skus[sku = 3];
    if (i % 100 == 42)
        o->quantity = 0;
    if (i % 100 == 77)
        o->sku = "gift-card";
    o->amount_cents = prices[sku] * o->quantity;
}

shop_expect_t shop_order_expect(const char *tag, int i) {
    shop_order_spec_t o;
    shop_order_spec(tag, i, &o);
    int sku = shop_sku_index(o.sku);
    if (sku < 0 || o.quantity <= 0)
        return SHOP_EXPECT_INVALID;
    if (shop_initial_stock[sku] < o.quantity)
        return SHOP_EXPECT_OUT_OF_STOCK;
    for (int attempt = 1;; attempt++) {
        shop_gateway_t g = shop_gateway_charge(o.id, o.amount_cents, attempt);
        if (g != SHOP_GATEWAY_TIMEOUT)
            return g == SHOP_GATEWAY_OK ? SHOP_EXPECT_COMPLETED : SHOP_EXPECT_DECLINED;
    }
}

shop_gateway_t shop_gateway_charge(const char *order_id, int64_t amount_cents, int attempt) {
    uint32_t h = hash(order_id) >> 8;
    int timeouts = h % 5 == 1 ? 1 : h % 10 == 3 ? 2 : 0; /* 20% once, 10% twice */
    if (attempt <= timeouts)
        return SHOP_GATEWAY_TIMEOUT;
    return h % 17 == 5 ? SHOP_GATEWAY_DECLINED : SHOP_GATEWAY_OK; /* about 6% declined */
}

int64_t shop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- ledger: an open-addressing hash table under one mutex ---- */

typedef struct {
    char *id;
    shop_entry_t e;
} slot_t;

struct shop_ledger_s {
    pthread_mutex_t lock;
    slot_t *slots;
    size_t cap, count;
};

shop_ledger_t *shop_ledger_new(void) {
    shop_ledger_t *l = calloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    l->cap = 1024;
    l->slots = calloc(l->cap, sizeof(slot_t));
    return l;
}

void shop_ledger_destroy(shop_ledger_t *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->cap; i++)
        free(l->slots[i].id);
    free(l->slots);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static slot_t *find(shop_ledger_t *l, const char *id) {
    size_t i = hash(id) & (l->cap - 1);
    while (l->slots[i].id && strcmp(l->slots[i].id, id))
        i = (i + 1) & (l->cap - 1);
    return &l->slots[i];
}

static slot_t *find_or_add(shop_ledger_t *l, const char *id) {
    if ((l->count + 1) * 2 > l->cap) {
        slot_t *old = l->slots;
        size_t n = l->cap;
        l->cap *= 2;
        l->slots = calloc(l->cap, sizeof(slot_t));
        for (size_t i = 0; i < n; i++)
            if (old[i].id)
                *find(l, old[i].id) = old[i];
        free(old);
    }
    slot_t *s = find(l, id);
    if (!s->id) {
        s->id = strdup(id);
        l->count++;
    }
    return s;
}

shop_entry_t shop_ledger_get(shop_ledger_t *l, const char *id) {
    pthread_mutex_lock(&l->lock);
    slot_t *s = find(l, id);
    shop_entry_t e = s->id ? s->e : (shop_entry_t){0};
    pthread_mutex_unlock(&l->lock);
    return e;
}

bool shop_ledger_move(shop_ledger_t *l, const char *id, int from, int to, shop_entry_t *e) {
    pthread_mutex_lock(&l->lock);
    slot_t *s = find_or_add(l, id);
    bool moved = s->e.state == from;
    if (moved) {
        if (e)
            s->e = *e;
        s->e.state = to;
    }
    if (e)
        *e = s->e;
    pthread_mutex_unlock(&l->lock);
    return moved;
}

void shop_ledger_foreach(shop_ledger_t *l, void (*fn)(const char *, const shop_entry_t *, void *),
                         void *arg) {
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i].id && l->slots[i].e.state)
            fn(l->slots[i].id, &l->slots[i].e, arg);
    pthread_mutex_unlock(&l->lock);
}
