/*
 * What services touch: every topic a declaration names (declared, written by a template, read
 * by a listener) and the retry and dead-letter topics its listeners derive from them, named by
 * the runtime's own code (recover/topics.c), so that a document or a graph never shows a topic
 * other than the one the service provisions. The AsyncAPI documents and the graph are drawn
 * from this.
 */
#include <string.h>

#include "brookc.h"
#include "recover/topics.h"

topic_t *topic_set_find(const topic_set_t *set, const char *name) {
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i].name, name))
            return &set->v[i];
    return NULL;
}

/* Adds `name` (once). A topic some listener derives as a retry or dead-letter topic is shown as
 * one, even where another service declares or reads it as a plain topic. */
static topic_t *add(topic_set_t *set, const char *name, topic_role_t role, const char *source) {
    topic_t *t = topic_set_find(set, name);
    if (!t) {
        set->v = xrealloc(set->v, (set->n + 1) * sizeof(topic_t));
        t = &set->v[set->n++];
        *t = (topic_t){.name = xstrdup(name), .role = TOPIC_MAIN};
    }
    if (role != TOPIC_MAIN && t->role == TOPIC_MAIN) {
        t->role = role;
        t->source = xstrdup(source);
    }
    return t;
}

static void add_derived(const char *topic, const char *source, brook__topic_kind_t kind,
                        void *opaque) {
    add(opaque, topic, kind == BROOK__TOPIC_RETRY ? TOPIC_RETRY : TOPIC_DLT, source);
}

void topic_set_add_service(topic_set_t *set, const brook_decl_t *d) {
    for (size_t i = 0; i < d->topic_count; i++) {
        topic_t *t = add(set, d->topics[i].name, TOPIC_MAIN, NULL);
        if (!t->decl)
            t->decl = &d->topics[i];
    }
    for (size_t i = 0; i < d->template_count; i++)
        add(set, d->templates[i].topic, TOPIC_MAIN, NULL);
    for (size_t i = 0; i < d->listener_count; i++) {
        const brook_decl_listener_t *l = &d->listeners[i];
        for (size_t k = 0; k < l->topic_count; k++)
            add(set, l->topics[k], TOPIC_MAIN, NULL);
        brook__recover_topics_foreach(l, add_derived, set);
    }
}
