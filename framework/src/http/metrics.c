/*
 * brook_app_metrics: an app's figures in Prometheus' text exposition format 0.0.4 (the list is
 * docs/operations.md). Every family is written whole, HELP and TYPE first, then its samples for
 * every listener or template: the format wants a family's samples together.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"

typedef struct {
    brook_buf_t *out;
    int rc; /* the first failure; writing stops there */
} prom_t;

static void put(prom_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(prom_t *w, const char *fmt, ...) {
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (!w->rc && n > 0 && !(w->rc = brook_buf_reserve(w->out, (size_t)n + 1))) {
        vsnprintf((char *)w->out->data + w->out->len, (size_t)n + 1, fmt, again);
        w->out->len += (size_t)n;
    }
    va_end(again);
}

static void family(prom_t *w, const char *name, const char *type, const char *help) {
    put(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name="value", the value escaped as the format wants (\\, \", \n). */
static void label(char *out, size_t size, const char *name, const char *value) {
    size_t n = (size_t)snprintf(out, size, "%s=\"", name);
    for (const char *v = value; *v && n + 3 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n')
            out[n++] = '\\';
        out[n++] = *v == '\n' ? 'n' : *v;
    }
    if (n + 2 <= size) {
        out[n++] = '"';
        out[n] = '\0';
    }
}

/* The labels of one listener or template: service="...",<kind>="..." */
static void labels2(char *out, size_t size, const char *service, const char *kind,
                    const char *name) {
    char a[160], b[160];
    label(a, sizeof(a), "service", service);
    label(b, sizeof(b), kind, name);
    snprintf(out, size, "%s,%s", a, b);
}

static void histogram(prom_t *w, const char *name, const char *labels,
                      const brook__histogram_snap_t *h) {
#define BROOK__BOUND_TEXT(s) #s,
    static const char *const bounds[BROOK__HISTOGRAM_BUCKETS] = {
        BROOK__HISTOGRAM_BOUNDS(BROOK__BOUND_TEXT)};
#undef BROOK__BOUND_TEXT
    uint64_t cumulative = 0;
    for (int i = 0; i <= BROOK__HISTOGRAM_BUCKETS; i++) {
        cumulative += h->counts[i];
        put(w, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels,
            i < BROOK__HISTOGRAM_BUCKETS ? bounds[i] : "+Inf", (unsigned long long)cumulative);
    }
    put(w, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, labels, (double)h->sum_ns / 1e9, name,
        labels, (unsigned long long)cumulative);
}

/* ---- listeners ------------------------------------------------------------------------------- */

#define LISTENER_FIELD(f) offsetof(brook__listener_metrics_t, f)
static const struct {
    const char *name, *help;
    size_t field;      /* a uint64_t of brook__listener_metrics_t */
    bool exactly_once; /* only for exactly-once listeners */
} listener_counters[] = {
    {"brook_listener_records_handled_total", "Handler calls that returned BROOK_OK.",
     LISTENER_FIELD(stats.handled), false},
    {"brook_listener_records_failed_total",
     "Handler calls that returned BROOK_RETRY or BROOK_FAIL (or records that could not be "
     "decoded).",
     LISTENER_FIELD(stats.failed), false},
    {"brook_listener_records_filtered_total",
     "Records a filter dropped (done with, not handled).", LISTENER_FIELD(stats.filtered), false},
    {"brook_listener_records_retried_total",
     "Records delivered again (blocking retry) or forwarded to a retry topic.",
     LISTENER_FIELD(stats.retried), false},
    {"brook_listener_records_dead_lettered_total", "Records forwarded to the dead-letter topic.",
     LISTENER_FIELD(stats.dead_lettered), false},
    {"brook_listener_rebalances_total", "Partition assignments received by the members.",
     LISTENER_FIELD(stats.rebalances), false},
    {"brook_listener_revokes_uncommitted_total",
     "Partitions revoked or lost before what was handled on them could be committed: their "
     "next owner handles those records again.",
     LISTENER_FIELD(stats.revokes_uncommitted), false},
    {"brook_listener_commits_total", "Offset commits answered by the group coordinator.",
     LISTENER_FIELD(commits), false},
    {"brook_listener_commit_failures_total", "Offset commits that failed.",
     LISTENER_FIELD(commit_failures), false},
    {"brook_listener_transactions_total",
     "Transactions committed by the members (exactly_once listeners).",
     LISTENER_FIELD(stats.transactions), true},
    {"brook_listener_transactions_aborted_total",
     "Transactions aborted by the members (exactly_once listeners).",
     LISTENER_FIELD(stats.aborted_transactions), true},
};

typedef struct {
    prom_t *w;
    const char *labels;
} lag_ctx_t;

static void put_lag(const char *topic, int32_t partition, int64_t lag, void *opaque) {
    lag_ctx_t *x = opaque;
    char t[300];
    label(t, sizeof(t), "topic", topic);
    put(x->w, "brook_listener_lag_records{%s,%s,partition=\"%d\"} %lld\n", x->labels, t,
        (int)partition, (long long)lag);
}

static void listeners(prom_t *w, const brook__http_app_t *app, const char *service) {
    brook__consume_t *c = app->consume;
    size_t n = brook__consume_count(c);
    brook__listener_metrics_t *m = calloc(n ? n : 1, sizeof(*m));
    char(*labels)[340] = calloc(n ? n : 1, sizeof(*labels));
    if (!m || !labels) {
        free(m);
        free(labels);
        w->rc = BROOK_ERR_NOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        brook_listener_t *l = brook__consume_at(c, i);
        brook__listener_metrics(l, &m[i]);
        labels2(labels[i], sizeof(labels[i]), service, "listener", brook_listener_id(l));
    }
    for (size_t k = 0; k < sizeof(listener_counters) / sizeof(listener_counters[0]); k++) {
        family(w, listener_counters[k].name, "counter", listener_counters[k].help);
        for (size_t i = 0; i < n; i++) {
            const brook_decl_listener_t *d = &app->decl->listeners[i];
            if (listener_counters[k].exactly_once && !d->exactly_once)
                continue;
            uint64_t v;
            memcpy(&v, (const char *)&m[i] + listener_counters[k].field, sizeof(v));
            put(w, "%s{%s} %llu\n", listener_counters[k].name, labels[i], (unsigned long long)v);
        }
    }
    family(w, "brook_listener_handler_seconds", "histogram",
           "Time spent in the handler, per call.");
    for (size_t i = 0; i < n; i++)
        histogram(w, "brook_listener_handler_seconds", labels[i], &m[i].handler_seconds);
    family(w, "brook_listener_commit_seconds", "histogram",
           "Offset commits, from sent to answered.");
    for (size_t i = 0; i < n; i++)
        histogram(w, "brook_listener_commit_seconds", labels[i], &m[i].commit_seconds);
    family(w, "brook_listener_members_assigned", "gauge",
           "Members that have joined their group and received an assignment.");
    for (size_t i = 0; i < n; i++)
        put(w, "brook_listener_members_assigned{%s} %d\n", labels[i], m[i].assigned);
    family(w, "brook_listener_running", "gauge",
           "1 while the listener's members run; 0 before the app's start and once stopped on "
           "purpose (brook_listener_stop, auto_startup = false).");
    for (size_t i = 0; i < n; i++)
        put(w, "brook_listener_running{%s} %d\n", labels[i], !m[i].stopped && m[i].members > 0);
    family(w, "brook_listener_paused", "gauge",
           "1 while the listener is paused (brook_listener_pause in effect on every member).");
    for (size_t i = 0; i < n; i++)
        put(w, "brook_listener_paused{%s} %d\n", labels[i], m[i].paused);
    family(w, "brook_listener_lag_records", "gauge",
           "Records in a partition the listener owns that it has not read yet (high watermark "
           "minus position).");
    for (size_t i = 0; i < n && !w->rc; i++) {
        lag_ctx_t x = {w, labels[i]};
        int rc = brook__listener_lag(brook__consume_at(c, i), put_lag, &x);
        if (rc && !w->rc)
            w->rc = rc;
    }
    free(m);
    free(labels);
}

/* ---- the producer and its templates ---------------------------------------------------------- */

static const struct {
    const char *name, *help;
    size_t field; /* a uint64_t of brook_template_stats_t */
} template_counters[] = {
    {"brook_template_records_sent_total", "Records queued through the template.",
     offsetof(brook_template_stats_t, sent)},
    {"brook_template_records_delivered_total", "Records the broker acknowledged.",
     offsetof(brook_template_stats_t, delivered)},
    {"brook_template_records_failed_total",
     "Records that failed for good (reported to the delivery callback).",
     offsetof(brook_template_stats_t, failed)},
};

static void producer(prom_t *w, const brook__http_app_t *app, const char *service) {
    const brook_decl_t *d = app->decl;
    brook__producer_t *p = app->producer;
    char svc[160];
    label(svc, sizeof(svc), "service", service);
    for (size_t k = 0; k < sizeof(template_counters) / sizeof(template_counters[0]); k++) {
        family(w, template_counters[k].name, "counter", template_counters[k].help);
        for (size_t i = 0; i < d->template_count; i++) {
            brook_template_stats_t st;
            brook_template_stats(brook__producer_template(p, d->templates[i].name), &st);
            char labels[340], topic[300];
            labels2(labels, sizeof(labels), service, "template", d->templates[i].name);
            label(topic, sizeof(topic), "topic", d->templates[i].topic);
            uint64_t v;
            memcpy(&v, (const char *)&st + template_counters[k].field, sizeof(v));
            put(w, "%s{%s,%s} %llu\n", template_counters[k].name, labels, topic,
                (unsigned long long)v);
        }
    }
    int depth = brook__producer_queue_depth(p);
    family(w, "brook_producer_queue_depth", "gauge",
           "Records queued in the app's producer or in flight to the brokers.");
    if (depth >= 0)
        put(w, "brook_producer_queue_depth{%s} %d\n", svc, depth);
    family(w, "brook_producer_replacements_total", "counter",
           "Times the app's producer failed for good and was replaced.");
    put(w, "brook_producer_replacements_total{%s} %llu\n", svc,
        (unsigned long long)brook__producer_replacements(p));

    brook__broker_stats_t brokers[64];
    size_t nb = brook__producer_brokers(p, brokers, sizeof(brokers) / sizeof(brokers[0]));
    family(w, "brook_producer_broker_up", "gauge",
           "1 while the app's producer is connected to the broker (librdkafka statistics).");
    for (size_t i = 0; i < nb; i++)
        put(w, "brook_producer_broker_up{%s,broker=\"%d\"} %d\n", svc, (int)brokers[i].id,
            brokers[i].up);
    static const char *const rtt[2][2] = {
        {"brook_producer_broker_rtt_avg_seconds",
         "Mean request round trip from the app's producer to the broker over the last "
         "statistics interval."},
        {"brook_producer_broker_rtt_p99_seconds",
         "99th percentile of the request round trips from the app's producer to the broker "
         "over the last statistics interval."}};
    for (int k = 0; k < 2; k++) {
        family(w, rtt[k][0], "gauge", rtt[k][1]);
        for (size_t i = 0; i < nb; i++) {
            double v = k ? brokers[i].rtt_p99_s : brokers[i].rtt_avg_s;
            if (v >= 0)
                put(w, "%s{%s,broker=\"%d\"} %.6f\n", rtt[k][0], svc, (int)brokers[i].id, v);
        }
    }
}

int brook__http_metrics(const brook__http_app_t *app, brook_buf_t *out) {
    prom_t w = {out, 0};
    const char *service = app->decl->name;
    char svc[160];
    label(svc, sizeof(svc), "service", service);
    family(&w, "brook_app_ready", "gauge",
           "1 while the app is ready (the readiness probe, /health/ready, is UP).");
    int ready = brook__http_health(app, BROOK_HEALTH_READINESS, NULL);
    put(&w, "brook_app_ready{%s} %d\n", svc, ready > 0);
    listeners(&w, app, service);
    producer(&w, app, service);
    const brook__registry_t *registry = app->registry ? *app->registry : NULL;
    if (registry) {
        family(&w, "brook_schema_registry_requests_total", "counter",
               "Requests sent to the schema registry (registrations, writer schemas by id).");
        put(&w, "brook_schema_registry_requests_total{%s} %llu\n", svc,
            (unsigned long long)brook__registry_requests(registry));
        family(&w, "brook_schema_registry_failures_total", "counter",
               "Requests to the schema registry that got no answer or a server error.");
        put(&w, "brook_schema_registry_failures_total{%s} %llu\n", svc,
            (unsigned long long)brook__registry_failures(registry));
    }
    return w.rc;
}
