/*
 * The operations endpoint (docs/operations.md): an HTTP server (libmicrohttpd, one thread of
 * its own) that serves an app's metrics in Prometheus' text format and its health as JSON, and
 * the rendering of both (brook_app_metrics and brook_app_health in brook.h forward here). The
 * figures are kept where they arise (consume/, produce/); this module only reads them. It sits
 * below app/, which hands it what it reads of an app.
 */
#ifndef BROOK_HTTP_H
#define BROOK_HTTP_H

#include <stdatomic.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "consume/consume.h"
#include "produce/produce.h"
#include "registry/registry.h"

/* Where an app is in its life, as the health checks see it. */
typedef enum {
    BROOK__PHASE_NEW = 0,  /* not started (or its start failed) */
    BROOK__PHASE_STARTED,  /* brook_app_start returned 0 */
    BROOK__PHASE_STOPPING, /* brook_app_stop (or a destroy without it) began */
    BROOK__PHASE_STOPPED,  /* the stop is over */
} brook__phase_t;

/* What the endpoint reads of an app, all borrowed from it for the app's life. Read on any
 * thread. */
typedef struct {
    const brook_decl_t *decl;
    brook__consume_t *consume;
    brook__producer_t *producer;
    const atomic_int *phase; /* a brook__phase_t, which the app's controlling thread sets */
    brook__registry_t *const *registry; /* *registry: the schema registry client, or NULL */
} brook__http_app_t;

/* brook_app_metrics: appends the app's metrics in Prometheus' text format 0.0.4 to out. 0, or
 * BROOK_ERR_NOMEM. */
int brook__http_metrics(const brook__http_app_t *app, brook_buf_t *out);
/* brook_app_health: evaluates a probe (1 UP, 0 DOWN, BROOK_ERR_NOMEM), appending its JSON to out
 * when out is not NULL. */
int brook__http_health(const brook__http_app_t *app, brook_health_probe_t probe, brook_buf_t *out);

/* How often an app with an endpoint asks librdkafka for its producer's statistics (the broker
 * figures of /metrics). */
#define BROOK__HTTP_STATS_INTERVAL_MS 5000

typedef struct brook__http_s brook__http_t;

/* Binds and listens on bind_addr:port (NULL: 127.0.0.1; port 0: a free one), serving nothing
 * yet, so that a port in use fails a start before anything connects. NULL and err (BROOK_ERR_IO
 * naming the address) on failure. */
brook__http_t *brook__http_open(const char *bind_addr, int port, brook_error_t *err);
/* Serves app's /metrics, /health, /health/live and /health/ready on the server's own thread
 * until brook__http_close. `app` is copied; what it points to must outlive the server. */
int brook__http_serve(brook__http_t *h, const brook__http_app_t *app, brook_error_t *err);
/* The port listened on. */
int brook__http_port(const brook__http_t *h);
/* "http://addr:port" (IPv6 in brackets). Borrowed, valid until close. */
const char *brook__http_url(const brook__http_t *h);
/* Stops serving (waits for a request in progress) and frees. NULL is a no-op. */
void brook__http_close(brook__http_t *h);

#endif
