/* Filters and handle interceptors of listeners (brook.h, docs/filters-and-interceptors.md). */
#include <stdlib.h>
#include <string.h>

#include "consume/member.h"

typedef struct brook__interceptor_s {
    brook_handle_interceptor_fn *fn;
    void *opaque;
} brook__interceptor_t;

struct brook_chain_s {
    brook_listener_t *l;
    size_t next; /* the interceptor brook_chain_next runs; interceptor_count: the handler */
    brook_ctx_t *ctx;
    const void *key, *value;
};

int brook__consume_set_filter(brook__consume_t *c, const char *id, brook_filter_stage_t stage,
                              brook_filter_fn *fn, void *opaque) {
    if (stage != BROOK_FILTER_RAW && stage != BROOK_FILTER_DECODED)
        return BROOK_ERR_INVALID_ARG;
    brook_listener_t *l = brook__consume_find(c, id);
    if (!l)
        return BROOK_ERR_NOT_FOUND;
    if (l->decl->batch)
        return BROOK_ERR_INVALID_ARG; /* batch handlers take no filters (docs/batch-listeners.md) */
    l->filters[stage] = fn;
    l->filter_opaques[stage] = opaque;
    return 0;
}

static int add_interceptor(brook_listener_t *l, brook_handle_interceptor_fn *fn, void *opaque) {
    brook__interceptor_t *grown =
        realloc(l->interceptors, (l->interceptor_count + 1) * sizeof(*grown));
    if (!grown)
        return BROOK_ERR_NOMEM;
    grown[l->interceptor_count++] = (brook__interceptor_t){fn, opaque};
    l->interceptors = grown;
    return 0;
}

int brook__consume_add_interceptor(brook__consume_t *c, const char *id,
                                   brook_handle_interceptor_fn *fn, void *opaque) {
    if (!fn)
        return BROOK_ERR_INVALID_ARG;
    if (id) {
        brook_listener_t *l = brook__consume_find(c, id);
        if (!l)
            return BROOK_ERR_NOT_FOUND;
        /* Batch handlers are not wrapped (docs/batch-listeners.md). */
        return l->decl->batch ? BROOK_ERR_INVALID_ARG : add_interceptor(l, fn, opaque);
    }
    for (size_t i = 0; i < brook__consume_count(c); i++) {
        brook_listener_t *l = brook__consume_at(c, i);
        int rc = l->decl->batch ? 0 : add_interceptor(l, fn, opaque);
        if (rc)
            return rc;
    }
    return 0;
}

void brook__listener_free_interceptors(brook_listener_t *l) {
    free(l->interceptors);
    l->interceptors = NULL;
    l->interceptor_count = 0;
}

brook_result_t brook_chain_next(brook_chain_t *next) {
    if (!next)
        return BROOK_FAIL;
    brook_listener_t *l = next->l;
    if (next->next >= l->interceptor_count)
        return l->handler(next->ctx, next->key, next->value, l->handler_opaque);
    const brook__interceptor_t *ic = &l->interceptors[next->next++];
    return ic->fn(next->ctx, next->key, next->value, next, ic->opaque);
}

brook_result_t brook__listener_call(brook_listener_t *l, brook_ctx_t *ctx, const void *key,
                                    const void *value) {
    if (!l->interceptor_count)
        return l->handler(ctx, key, value, l->handler_opaque);
    brook_chain_t chain = {l, 0, ctx, key, value};
    return brook_chain_next(&chain);
}
