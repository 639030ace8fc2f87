/*
 * brook_app_health: the readiness and liveness probes (docs/operations.md), as JSON in the shape
 * of Spring Boot's actuator: {"status":"UP"|"DOWN","components":{name:{"status":...,
 * "details":{...}}}}, a DOWN component saying why in details.reason.
 *
 * Readiness: the app has started and is not stopping, every member of every running listener
 * has its first assignment and is running, the producer has no fatal error outstanding. A
 * listener stopped on purpose (brook_listener_stop, auto_startup = false) or paused is UP, with
 * its state in details. Liveness: the app's threads run (started or stopping, no listener
 * member's thread ended early).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/http.h"

typedef struct {
    json_t *root, *components;
    bool up;
    int rc;
} health_t;

/* Sets parent[name] (taking value, which json_object_set_new frees on failure); false and
 * h->rc when out of memory. */
static bool set(health_t *h, json_t *parent, const char *name, json_t *value) {
    if (!parent)
        json_decref(value);
    if (!parent || json_object_set_new(parent, name, value)) {
        h->rc = BROOK_ERR_NOMEM;
        return false;
    }
    return true;
}

/* A component {"status": ..., "details": {...}} under `parent`; `reason` (may be NULL) goes
 * into details. Returns its details object (borrowed), NULL when out of memory. */
static json_t *component(health_t *h, json_t *parent, const char *name, bool up,
                         const char *reason) {
    json_t *c = json_object(), *details = json_object();
    if (!set(h, parent, name, c) || !set(h, c, "status", json_string(up ? "UP" : "DOWN")) ||
        !set(h, c, "details", details) ||
        (reason && !set(h, details, "reason", json_string(reason))))
        return NULL;
    return details;
}

static const char *phase_name(brook__phase_t phase) {
    switch (phase) {
    case BROOK__PHASE_NEW:
        return "not started";
    case BROOK__PHASE_STARTED:
        return "started";
    case BROOK__PHASE_STOPPING:
        return "stopping";
    case BROOK__PHASE_STOPPED:
        return "stopped";
    }
    return "unknown";
}

static brook__phase_t phase_of(const brook__http_app_t *app) {
    return (brook__phase_t)atomic_load(app->phase);
}

static void app_component(health_t *h, const brook__http_app_t *app, brook_health_probe_t probe) {
    brook__phase_t phase = phase_of(app);
    bool up = phase == BROOK__PHASE_STARTED ||
              (probe == BROOK_HEALTH_LIVENESS && phase == BROOK__PHASE_STOPPING);
    json_t *details = component(h, h->components, "app", up, up ? NULL : phase_name(phase));
    set(h, details, "state", json_string(phase_name(phase)));
    h->up &= up;
}

/* Why listener l is DOWN, or "" when it is UP. */
static void listener_reason(const brook__listener_metrics_t *m, bool running,
                            brook_health_probe_t probe, char *out, size_t size) {
    out[0] = '\0';
    if (m->stopped)
        return; /* stopped on purpose (brook_listener_stop, auto_startup = false): not a fault */
    if (running && m->fenced)
        snprintf(out, size, "%d of %d member(s) stopped (fenced by a newer instance)", m->fenced,
                 m->members);
    else if (probe == BROOK_HEALTH_READINESS && !m->members)
        snprintf(out, size, "not running");
    else if (probe == BROOK_HEALTH_READINESS && m->assigned < m->members)
        snprintf(out, size, "%d of %d member(s) without an assignment yet",
                 m->members - m->assigned, m->members);
}

static void listeners_component(health_t *h, const brook__http_app_t *app,
                                brook_health_probe_t probe) {
    json_t *all = json_object(), *parts = json_object();
    if (!set(h, h->components, "listeners", all) || !set(h, all, "status", json_string("UP")) ||
        !set(h, all, "components", parts))
        return;
    bool all_up = true, running = phase_of(app) == BROOK__PHASE_STARTED;
    for (size_t i = 0; i < brook__consume_count(app->consume) && !h->rc; i++) {
        brook_listener_t *l = brook__consume_at(app->consume, i);
        brook__listener_metrics_t m;
        brook__listener_metrics(l, &m);
        char reason[160];
        listener_reason(&m, running, probe, reason, sizeof(reason));
        json_t *details =
            component(h, parts, brook_listener_id(l), !reason[0], reason[0] ? reason : NULL);
        if (m.stopped || m.paused) /* on purpose (docs/seek-and-control.md) */
            set(h, details, "state", json_string(m.stopped ? "stopped" : "paused"));
        set(h, details, "members", json_integer(m.members));
        set(h, details, "assigned", json_integer(m.assigned));
        all_up &= !reason[0];
    }
    if (!all_up)
        set(h, all, "status", json_string("DOWN"));
    h->up &= all_up;
}

static void producer_component(health_t *h, const brook__http_app_t *app) {
    brook__producer_t *p = app->producer;
    char reason[512] = "";
    int depth = brook__producer_queue_depth(p);
    /* A fatal error's reason is librdkafka's; the producer thread replaces the producer. */
    if (depth < 0)
        snprintf(reason, sizeof(reason), "not running");
    else if (!brook__producer_fatal(p, reason, sizeof(reason)))
        reason[0] = '\0';
    json_t *details =
        component(h, h->components, "producer", !reason[0], reason[0] ? reason : NULL);
    if (depth >= 0)
        set(h, details, "queue_depth", json_integer(depth));
    h->up &= !reason[0];
}

int brook__http_health(const brook__http_app_t *app, brook_health_probe_t probe, brook_buf_t *out) {
    health_t h = {.root = json_object(), .components = json_object(), .up = true};
    json_incref(h.components); /* ours until the end, whether root took it or not */
    /* "status" first, as Spring writes it; its value once known (replacing a value keeps the
     * key's place). */
    if (!h.components)
        h.rc = BROOK_ERR_NOMEM;
    else if (set(&h, h.root, "status", json_string("UP")) &&
             set(&h, h.root, "service", json_string(app->decl->name)) &&
             set(&h, h.root, "components", h.components)) {
        app_component(&h, app, probe);
        if (!h.rc)
            listeners_component(&h, app, probe);
        if (!h.rc && probe == BROOK_HEALTH_READINESS)
            producer_component(&h, app);
    }
    if (!h.rc && !h.up)
        set(&h, h.root, "status", json_string("DOWN"));
    if (!h.rc && out) {
        char *text = json_dumps(h.root, JSON_PRESERVE_ORDER | JSON_COMPACT);
        h.rc = text ? brook_buf_append(out, text, strlen(text)) : BROOK_ERR_NOMEM;
        free(text);
    }
    json_decref(h.components);
    json_decref(h.root);
    return h.rc ? h.rc : h.up;
}
