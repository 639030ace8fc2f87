/*
 * brookc --graph: how services cooperate through topics, as a Graphviz dot graph. Services are
 * boxes, topics ellipses (retry topics dashed, dead-letter topics red and doubled); an edge from
 * a service to a topic is a template writing it, from a topic to a service a listener reading it
 * (labelled with the listener's id and consumer group); dashed edges follow a failed record from
 * its topic through the listener's retry topics to its dead-letter topic. Topics are those the
 * services touch (topology.c), named as the runtime names them. `dot -Tsvg` draws it.
 */
#include <string.h>

#include "brookc.h"
#include "recover/topics.h"

#define SERVICE_STYLE                                                                              \
    "shape=box, style=\"rounded,filled\", fillcolor=\"#dae8fc\", color=\"#6c8ebf\""
#define TOPIC_STYLE "shape=ellipse, style=filled, fillcolor=\"#f5f5f5\", color=\"#666666\""
#define RETRY_STYLE                                                                                \
    "shape=ellipse, style=\"dashed,filled\", fillcolor=\"#fff2cc\", color=\"#d6b656\""
#define DLT_STYLE                                                                                  \
    "shape=ellipse, style=filled, fillcolor=\"#f8cecc\", color=\"#b85450\", peripheries=2"
#define PATTERN_STYLE "shape=parallelogram, style=dashed, color=\"#666666\""
#define RETRY_EDGE "style=dashed, color=\"#d6b656\", fontcolor=\"#9c7a12\""
#define DLT_EDGE "style=dashed, color=\"#b85450\", fontcolor=\"#b85450\""

typedef struct {
    sb_t out;
    char **lines; /* the node and edge lines written */
    size_t nlines;
} graph_t;

/* A dot string: quoted, with quotes and backslashes escaped, line breaks as dot's \n. */
static char *dq(const char *s) {
    sb_t b = {0};
    sb_puts(&b, "\"");
    for (; *s; s++) {
        if (*s == '\n') {
            sb_puts(&b, "\\n");
            continue;
        }
        if (*s == '"' || *s == '\\')
            sb_puts(&b, "\\");
        sb_put(&b, s, 1);
    }
    sb_puts(&b, "\"");
    return sb_take(&b);
}

static char *node_id(const char *kind, const char *name) {
    char *raw = xprintf("%s:%s", kind, name);
    char *q = dq(raw);
    free(raw);
    return q;
}

/* Writes `line` (taking it) unless it was written already: two listeners of a topic name the
 * same retry chain, two listeners may subscribe to the same pattern. */
static void emit(graph_t *g, char *line) {
    for (size_t i = 0; i < g->nlines; i++)
        if (!strcmp(g->lines[i], line)) {
            free(line);
            return;
        }
    g->lines = xrealloc(g->lines, (g->nlines + 1) * sizeof(char *));
    g->lines[g->nlines++] = line;
    sb_puts(&g->out, line);
}

static void node(graph_t *g, const char *kind, const char *name, const char *style) {
    char *id = node_id(kind, name), *label = dq(name);
    emit(g, xprintf("  %s [label=%s, %s];\n", id, label, style));
    free(id);
    free(label);
}

static void edge(graph_t *g, const char *from_kind, const char *from, const char *to_kind,
                 const char *to, const char *label, const char *style) {
    char *f = node_id(from_kind, from), *t = node_id(to_kind, to), *l = dq(label);
    emit(g,
         xprintf("  %s -> %s [label=%s%s%s];\n", f, t, l, style ? ", " : "", style ? style : ""));
    free(f);
    free(t);
    free(l);
}

typedef struct {
    graph_t *g;
    const brook_decl_t *d;
    const brook_decl_listener_t *l;
    char *source; /* the source topic of the chain being drawn */
    char *prev;   /* its last topic so far */
} chain_t;

/* One link of a failed record's way. brook__recover_topics_foreach gives each source topic's
 * retry topics in the order a record goes through them, then its DLT. A retry topic is read by
 * the listener itself. */
static void chain_link(const char *topic, const char *source, brook__topic_kind_t kind,
                       void *opaque) {
    chain_t *c = opaque;
    if (!c->source || strcmp(c->source, source)) {
        free(c->source);
        free(c->prev);
        c->source = xstrdup(source);
        c->prev = xstrdup(source);
    }
    bool retry = kind == BROOK__TOPIC_RETRY;
    edge(c->g, "topic", c->prev, "topic", topic, retry ? "retry" : "dead letter",
         retry ? RETRY_EDGE : DLT_EDGE);
    if (retry)
        edge(c->g, "topic", topic, "service", c->d->name, c->l->id, RETRY_EDGE);
    free(c->prev);
    c->prev = xstrdup(topic);
}

static void service_edges(graph_t *g, const brook_decl_t *d) {
    sb_puts(&g->out, "\n");
    for (size_t i = 0; i < d->template_count; i++)
        edge(g, "service", d->name, "topic", d->templates[i].topic, d->templates[i].name, NULL);
    for (size_t i = 0; i < d->listener_count; i++) {
        const brook_decl_listener_t *l = &d->listeners[i];
        char *label = xprintf("%s (%s)", l->id, l->group);
        if (l->topic_pattern)
            edge(g, "pattern", l->topic_pattern, "service", d->name, label, NULL);
        for (size_t k = 0; k < l->topic_count; k++)
            edge(g, "topic", l->topics[k], "service", d->name, label, NULL);
        chain_t c = {.g = g, .d = d, .l = l};
        brook__recover_topics_foreach(l, chain_link, &c);
        free(c.source);
        free(c.prev);
        free(label);
    }
}

char *graph_dot(brook_decl_t *const *d, size_t n, const char *name) {
    graph_t g = {0};
    char *title = dq(name);
    sb_printf(&g.out,
              "// Generated by brookc --graph from services' declarations. DO NOT EDIT.\n"
              "digraph %s {\n"
              "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, "
              "ranksep=0.5, labelloc=b,\n"
              "         label=\"services (boxes) write topics (ellipses) through templates and "
              "read them through listeners (id and group);\\nretry topics dashed, dead-letter "
              "topics red\"];\n"
              "  node [fontname=\"Helvetica\", fontsize=11];\n"
              "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n\n",
              title);
    free(title);
    for (size_t i = 0; i < n; i++)
        node(&g, "service", d[i]->name, SERVICE_STYLE);
    topic_set_t topics = {0};
    for (size_t i = 0; i < n; i++)
        topic_set_add_service(&topics, d[i]);
    for (size_t i = 0; i < topics.n; i++) {
        const topic_t *t = &topics.v[i];
        node(&g, "topic", t->name,
             t->role == TOPIC_RETRY ? RETRY_STYLE
             : t->role == TOPIC_DLT ? DLT_STYLE
                                    : TOPIC_STYLE);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d[i]->listener_count; k++)
            if (d[i]->listeners[k].topic_pattern)
                node(&g, "pattern", d[i]->listeners[k].topic_pattern, PATTERN_STYLE);
    for (size_t i = 0; i < n; i++)
        service_edges(&g, d[i]);
    sb_puts(&g.out, "}\n");
    for (size_t i = 0; i < g.nlines; i++)
        free(g.lines[i]);
    free(g.lines);
    return sb_take(&g.out);
}
