/* Send interceptors of templates (brook.h, docs/filters-and-interceptors.md). */
#include <stdlib.h>
#include <string.h>

#include "produce/internal.h"

typedef struct brook__send_ic_s {
    brook_send_interceptor_fn *before;
    brook_delivered_interceptor_fn *after;
    void *opaque;
} brook__send_ic_t;

struct brook_outgoing_s {
    const brook_template_t *tpl;
    const char *topic;
    const void *key, *value;
    size_t key_len, value_len;
    rd_kafka_headers_t **hdrs;
};

static int add(brook_template_t *t, brook_send_interceptor_fn *before,
               brook_delivered_interceptor_fn *after, void *opaque) {
    brook__send_ic_t *grown = realloc(t->interceptors, (t->interceptor_count + 1) * sizeof(*grown));
    if (!grown)
        return BROOK_ERR_NOMEM;
    grown[t->interceptor_count++] = (brook__send_ic_t){before, after, opaque};
    t->interceptors = grown;
    return 0;
}

int brook__producer_add_interceptor(brook__producer_t *p, const char *template_name,
                                    brook_send_interceptor_fn *before,
                                    brook_delivered_interceptor_fn *after, void *opaque) {
    if (!before && !after)
        return BROOK_ERR_INVALID_ARG;
    if (p->rk)
        return BROOK_ERR_STATE;
    if (template_name) {
        brook_template_t *t = brook__producer_template(p, template_name);
        return t ? add(t, before, after, opaque) : BROOK_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < p->template_count; i++) {
        int rc = add(&p->templates[i], before, after, opaque);
        if (rc)
            return rc;
    }
    return 0;
}

void brook__intercept_free(brook_template_t *tpl) {
    free(tpl->interceptors);
    tpl->interceptors = NULL;
    tpl->interceptor_count = 0;
}

int brook__intercept_before(brook_template_t *tpl, const char *topic, const void *key,
                            size_t key_len, const void *value, size_t value_len,
                            rd_kafka_headers_t **hdrs) {
    brook_outgoing_t o = {tpl, topic, key, value, key_len, value_len, hdrs};
    for (size_t i = 0; i < tpl->interceptor_count; i++) {
        const brook__send_ic_t *ic = &tpl->interceptors[i];
        int rc = ic->before ? ic->before(&o, ic->opaque) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

void brook__intercept_after(brook_template_t *tpl, const rd_kafka_message_t *m) {
    brook_delivered_t d = {.template_name = tpl->decl->name,
                           .err = m->err,
                           .topic = rd_kafka_topic_name(m->rkt),
                           .partition = m->partition,
                           .offset = m->offset,
                           .latency_us = rd_kafka_message_latency(m)};
    for (size_t i = 0; i < tpl->interceptor_count; i++) {
        const brook__send_ic_t *ic = &tpl->interceptors[i];
        if (ic->after)
            ic->after(&d, ic->opaque);
    }
}

const char *brook_outgoing_topic(const brook_outgoing_t *o) {
    return o ? o->topic : NULL;
}

const char *brook_outgoing_template(const brook_outgoing_t *o) {
    return o ? o->tpl->decl->name : NULL;
}

const void *brook_outgoing_key(const brook_outgoing_t *o, size_t *len) {
    if (len)
        *len = o ? o->key_len : 0;
    return o ? o->key : NULL;
}

const void *brook_outgoing_value(const brook_outgoing_t *o, size_t *len) {
    if (len)
        *len = o ? o->value_len : 0;
    return o ? o->value : NULL;
}

int brook_outgoing_add_header(brook_outgoing_t *o, const char *name, const void *value,
                              size_t len) {
    if (!o || !name)
        return BROOK_ERR_INVALID_ARG;
    if (!*o->hdrs && !(*o->hdrs = rd_kafka_headers_new(4)))
        return BROOK_ERR_NOMEM;
    rd_kafka_resp_err_t err =
        rd_kafka_header_add(*o->hdrs, name, -1, value, value ? (ssize_t)len : 0);
    return err ? BROOK_ERR_INVALID_ARG : 0;
}
