/* Replying listeners (consume/reply.h, brook_ctx_reply in brook.h): the reply a handler fills
 * and its sending after the handler. Runs on the member's poll thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume/reply.h"
#include "request/request.h"

struct brook__replier_s {
    brook_template_t *tpl;
    brook__serde_t value; /* the template's value type: what handlers fill */
};

/* A member's reply to the record in hand. */
struct brook__reply_slot_s {
    bool taken;      /* the handler asked for it: sent if it returns BROOK_OK */
    void *value;     /* avro: a T of the reply's type */
    brook_buf_t buf; /* string, json, bytes */
};

int brook__replier_start(brook_listener_t *l, brook_error_t *err) {
    const brook_decl_listener_t *d = l->decl;
    brook__consume_t *c = l->consume;
    if (!d->reply)
        return 0;
    const brook_decl_template_t *td = NULL;
    for (size_t i = 0; i < c->decl->template_count && !td; i++)
        if (!strcmp(c->decl->templates[i].name, d->reply))
            td = &c->decl->templates[i];
    brook_template_t *tpl = brook__producer_template(c->env.producer, d->reply);
    if (!td || !tpl)
        return brook_error_set(err, BROOK_ERR_DECL, "%s:%d: listeners \"%s\": no template \"%s\"",
                               c->decl->source, d->reply_line, d->id, d->reply);
    if (!(l->replier = calloc(1, sizeof(*l->replier))))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    l->replier->tpl = tpl;
    return brook__serde_resolve(&l->replier->value, c->env.types, &td->value, c->decl->source,
                                td->framing, td->schema_id, err);
}

void brook__replier_free(brook_listener_t *l) {
    if (!l->replier)
        return;
    for (int k = 0; k < l->member_count; k++) {
        struct brook__reply_slot_s *s = l->members[k].ctx.reply;
        if (!s)
            continue;
        if (s->value) {
            if (s->taken)
                l->replier->value.type->clear(s->value);
            free(s->value);
        }
        brook_buf_free(&s->buf);
        free(s);
        l->members[k].ctx.reply = NULL;
    }
    free(l->replier);
    l->replier = NULL;
}

void *brook_ctx_reply(brook_ctx_t *ctx) {
    if (!ctx || !ctx->member->listener->replier)
        return NULL;
    const brook__serde_t *v = &ctx->member->listener->replier->value;
    struct brook__reply_slot_s *s = ctx->reply;
    if (!s) {
        if (!(s = calloc(1, sizeof(*s))) ||
            (v->kind == BROOK_SERDE_AVRO && !(s->value = calloc(1, v->type->size)))) {
            free(s);
            return NULL;
        }
        ctx->reply = s;
    }
    if (!s->taken) {
        s->taken = true;
        if (v->kind == BROOK_SERDE_AVRO)
            v->type->init(s->value);
        else
            brook_buf_reset(&s->buf);
    }
    return v->kind == BROOK_SERDE_AVRO ? s->value : (void *)&s->buf;
}

brook_result_t brook__reply_finish(brook__member_t *m, brook_result_t res, const void *key) {
    brook_ctx_t *ctx = &m->ctx;
    struct brook__reply_slot_s *s = ctx->reply;
    if (!s || !s->taken)
        return res;
    const struct brook__replier_s *r = m->listener->replier;
    if (res == BROOK_OK) {
        brook_bytes_t bytes = {s->buf.data, s->buf.len};
        static const char empty[1];
        const void *value = s->value;
        if (r->value.kind == BROOK_SERDE_BYTES) {
            value = &bytes;
        } else if (r->value.kind != BROOK_SERDE_AVRO) {
            /* Text is sent NUL-terminated. */
            if (!brook_buf_reserve(&s->buf, 1)) {
                s->buf.data[s->buf.len] = 0;
                value = s->buf.data;
            } else {
                value = empty;
            }
        }
        brook__ctx_headers(ctx);
        brook_error_t err = {0};
        int rc = brook__reply_send(r->tpl, &ctx->record, key, value, &err);
        if (rc) {
            snprintf(ctx->failure_name, sizeof(ctx->failure_name), "brook.ReplyFailure");
            snprintf(ctx->failure_message, sizeof(ctx->failure_message), "%s", err.message);
            /* A reply that can never be sent is not worth the handler's work again. */
            res = rc == BROOK_ERR_ENCODE || rc == BROOK_ERR_DECODE ? BROOK_FAIL : BROOK_RETRY;
        }
    }
    if (r->value.kind == BROOK_SERDE_AVRO)
        r->value.type->clear(s->value);
    s->taken = false;
    return res;
}
