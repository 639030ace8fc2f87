/* The app: a declaration's service put together from the modules, and its lifecycle. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/provision.h"
#include "app/signals.h"
#include "consume/consume.h"
#include "core/core.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "produce/produce.h"
#include "request/request.h"
#include "serde/serde.h"

typedef enum { APP_NEW = 0, APP_STARTED, APP_STOPPED } app_state_t;

struct brook_app_s {
    brook_decl_t *decl;
    brook__types_t *types;
    brook__registry_t *registry; /* schema_registry declared: from start to destroy */
    brook__producer_t *producer;
    brook__consume_t *consume;
    brook__requests_t *requests; /* templates that declare a reply, and their reply consumer */
    char *bootstrap;             /* in use once started */
    brook_cluster_t *cluster;    /* embedded only */
    void *opaque;
    app_state_t state;
    atomic_int phase;      /* brook__phase_t: state as the endpoint's thread reads it */
    brook__http_app_t ops; /* what the endpoint reads */
    brook__http_t *http;   /* the operations endpoint, from start to destroy */
    atomic_bool stop_requested;
    pthread_mutex_t tx_lock; /* one brook_app_execute_in_transaction at a time */
    brook__txn_t *txn;       /* its producer, made on first use */
    int wake[2];             /* brook_app_request_stop() wakes brook_app_run() through this pipe */
};

/* ---- construction --------------------------------------------------------------------------- */

static brook_app_t *app_from_decl(brook_decl_t *decl, brook_error_t *err) {
    brook_app_t *app = calloc(1, sizeof(*app));
    if (!app) {
        brook_decl_destroy(decl);
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    app->decl = decl;
    pthread_mutex_init(&app->tx_lock, NULL);
    atomic_init(&app->phase, BROOK__PHASE_NEW);
    if (pipe2(app->wake, O_NONBLOCK | O_CLOEXEC))
        app->wake[0] = app->wake[1] = -1;
    app->types = brook__types_new();
    app->producer = brook__producer_new(decl);
    app->consume = brook__consume_new(decl, app);
    app->requests = app->producer ? brook__requests_new(decl, app->producer) : NULL;
    app->ops = (brook__http_app_t){decl, app->consume, app->producer, &app->phase, &app->registry};
    int rc = app->types && app->producer && app->consume && app->requests ? 0 : BROOK_ERR_NOMEM;
    /* A Confluent schema id a template declares names its value type's schema (with a schema
     * registry, the registry gives the ids at start). */
    for (size_t i = 0; i < decl->template_count && !rc && !decl->registry.declared; i++) {
        const brook_decl_template_t *t = &decl->templates[i];
        if (t->framing == BROOK_AVRO_FRAMING_CONFLUENT && t->value.kind == BROOK_SERDE_AVRO)
            rc = brook__types_add_schema_id(app->types, t->value.type_name, t->schema_id);
    }
    if (rc) {
        brook_app_destroy(app);
        brook_error_set(err, rc, "out of memory");
        return NULL;
    }
    return app;
}

brook_app_t *brook_app_new(const char *decl_text, const char *decl_name, const char *override_path,
                           brook_error_t *err) {
    brook_decl_t *decl = NULL, *over = NULL;
    if (!decl_text) {
        brook_error_set(err, BROOK_ERR_INVALID_ARG, "no declaration");
        return NULL;
    }
    if (brook_decl_parse_string(decl_text, decl_name ? decl_name : "<declarations>", &decl, err) ||
        (override_path &&
         (brook_decl_parse_file(override_path, &over, err) || brook_decl_merge(decl, over, err))) ||
        brook_decl_apply_env(decl, err)) {
        brook_decl_destroy(decl);
        brook_decl_destroy(over);
        return NULL;
    }
    brook_decl_destroy(over);
    return app_from_decl(decl, err);
}

brook_app_t *brook_app_new_from_file(const char *path, brook_error_t *err) {
    brook_decl_t *decl = NULL;
    if (!path) {
        brook_error_set(err, BROOK_ERR_INVALID_ARG, "no declaration file");
        return NULL;
    }
    if (brook_decl_parse_file(path, &decl, err) || brook_decl_apply_env(decl, err)) {
        brook_decl_destroy(decl);
        return NULL;
    }
    return app_from_decl(decl, err);
}

int brook_app_register_type(brook_app_t *app, const brook_type_t *type) {
    if (!app || !type || !type->name)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__types_add(app->types, type);
}

int brook_app_register_writer_schema(brook_app_t *app, const char *type_name,
                                     const char *writer_schema_json, brook_error_t *err) {
    if (!app || !type_name || !writer_schema_json)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "invalid argument");
    if (app->state != APP_NEW)
        return brook_error_set(err, BROOK_ERR_STATE, "writer schemas are registered before start");
    return brook__types_add_writer(app->types, type_name, writer_schema_json, err);
}

int brook_app_set_handler(brook_app_t *app, const char *listener_id, brook_handler_fn *fn,
                          void *opaque) {
    if (!app || !listener_id)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__consume_set_handler(app->consume, listener_id, fn, opaque);
}

int brook_app_set_batch_handler(brook_app_t *app, const char *listener_id,
                                brook_batch_handler_fn *fn, void *opaque) {
    if (!app || !listener_id)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__consume_set_batch_handler(app->consume, listener_id, fn, opaque);
}

int brook_app_set_filter(brook_app_t *app, const char *listener_id, brook_filter_stage_t stage,
                         brook_filter_fn *fn, void *opaque) {
    if (!app || !listener_id)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__consume_set_filter(app->consume, listener_id, stage, fn, opaque);
}

int brook_app_add_handle_interceptor(brook_app_t *app, const char *listener_id,
                                     brook_handle_interceptor_fn *fn, void *opaque) {
    if (!app)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__consume_add_interceptor(app->consume, listener_id, fn, opaque);
}

int brook_app_add_send_interceptor(brook_app_t *app, const char *template_name,
                                   brook_send_interceptor_fn *before,
                                   brook_delivered_interceptor_fn *after, void *opaque) {
    if (!app)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    return brook__producer_add_interceptor(app->producer, template_name, before, after, opaque);
}

void brook_app_set_opaque(brook_app_t *app, void *opaque) {
    if (app)
        app->opaque = opaque;
}

void *brook_app_get_opaque(const brook_app_t *app) {
    return app ? app->opaque : NULL;
}

const char *brook_app_name(const brook_app_t *app) {
    return app ? app->decl->name : NULL;
}

const char *brook_app_bootstrap(const brook_app_t *app) {
    return app ? app->bootstrap : NULL;
}

brook_template_t *brook_app_template(brook_app_t *app, const char *name) {
    return app && name ? brook__producer_template(app->producer, name) : NULL;
}

size_t brook_app_listener_count(const brook_app_t *app) {
    return app ? brook__consume_count(app->consume) : 0;
}

brook_listener_t *brook_app_listener_at(brook_app_t *app, size_t i) {
    return app ? brook__consume_at(app->consume, i) : NULL;
}

brook_listener_t *brook_app_listener(brook_app_t *app, const char *id) {
    return app && id ? brook__consume_find(app->consume, id) : NULL;
}

int brook_app_http_port(const brook_app_t *app) {
    return app && app->http ? brook__http_port(app->http) : 0;
}

int brook_app_metrics(brook_app_t *app, brook_buf_t *out) {
    return app && out ? brook__http_metrics(&app->ops, out) : BROOK_ERR_INVALID_ARG;
}

int brook_app_health(brook_app_t *app, brook_health_probe_t probe, brook_buf_t *out) {
    return app ? brook__http_health(&app->ops, probe, out) : BROOK_ERR_INVALID_ARG;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* The listeners first (their last forwards and commits need the producer), then the producer.
 * The first error is the stop's. */
static int stop_all(brook_app_t *app, int64_t deadline, bool crash) {
    brook__requests_stopping(app->requests, deadline);
    int rc = brook__consume_stop(app->consume, deadline, crash, app->producer);
    /* After the listeners, whose handlers may wait for replies. */
    brook__requests_stop(app->requests);
    pthread_mutex_lock(&app->tx_lock);
    brook__txn_free(app->txn);
    app->txn = NULL;
    pthread_mutex_unlock(&app->tx_lock);
    int prc = brook__producer_stop(app->producer, deadline, crash);
    return rc ? rc : prc;
}

static int app_start(brook_app_t *app, brook_error_t *err) {
    if (app->state != APP_NEW)
        return brook_error_set(err, BROOK_ERR_STATE, "%s: already started", app->decl->name);
    brook_decl_t *d = app->decl;
    /* What the declaration alone can refuse, before anything starts. */
    int rc = brook__producer_resolve(app->producer, app->types, err);
    if (!rc)
        rc = brook__requests_resolve(app->requests, app->types, err);
    if (rc)
        return rc;
    /* The templates' schemas are registered before anything connects: a schema the registry
     * refuses stops the start. */
    if (d->registry.declared) {
        if (!app->registry && !(app->registry = brook__registry_new(&d->registry, err)))
            return err ? err->code : BROOK_ERR_NOMEM;
        brook__types_set_registry(app->types, app->registry);
        if ((rc = brook__producer_register_schemas(app->producer, app->registry, app->types, err)))
            return rc;
    }
    if (brook_decl_is_embedded(d)) {
        if (!app->cluster && !(app->cluster = brook_cluster_acquire(d->embedded_brokers, err)))
            return err ? err->code : BROOK_ERR_KAFKA;
        app->bootstrap = strdup(brook_cluster_bootstrap(app->cluster));
    } else {
        app->bootstrap = strdup(d->bootstrap);
    }
    if (!app->bootstrap)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    /* The endpoint's port first: one in use fails the start before anything connects. */
    if (d->http_port >= 0) {
        if (!(app->http = brook__http_open(d->http_bind, d->http_port, err)))
            rc = err ? err->code : BROOK_ERR_IO;
        /* Broker round trips for the metrics. */
        brook__producer_enable_stats(app->producer, BROOK__HTTP_STATS_INTERVAL_MS);
    }
    if (!rc)
        rc = brook__producer_start(app->producer, app->bootstrap, err);
    if (!rc)
        rc = brook__provision(d, app->cluster, brook__producer_handle(app->producer), err);
    if (!rc)
        rc = brook__producer_open_templates(app->producer, err);
    /* Before the listeners: a handler may make a request at once. */
    if (!rc)
        rc = brook__requests_start(app->requests, app->bootstrap, app->cluster != NULL, err);
    if (!rc) {
        brook__consume_env_t env = {.bootstrap = app->bootstrap,
                                    .embedded = app->cluster != NULL,
                                    .producer = app->producer,
                                    .types = app->types};
        rc = brook__consume_start(app->consume, &env, err);
    }
    if (!rc && app->http)
        rc = brook__http_serve(app->http, &app->ops, err);
    if (rc) {
        app->state = APP_STOPPED;
        brook__http_close(app->http);
        app->http = NULL;
        stop_all(app, brook__add_ms(brook__now_ms(), d->shutdown_timeout_ms), false);
        atomic_store(&app->phase, BROOK__PHASE_STOPPED);
        return rc;
    }
    app->state = APP_STARTED;
    atomic_store(&app->phase, BROOK__PHASE_STARTED);
    brook_log(BROOK_LOG_INFO, "app", "%s started on %s%s", d->name, app->bootstrap,
              app->cluster ? " (embedded)" : "");
    if (app->http)
        brook_log(BROOK_LOG_INFO, "app", "%s: metrics on %s/metrics, health on %s/health", d->name,
                  brook__http_url(app->http), brook__http_url(app->http));
    return 0;
}

/* The lines the controlling thread logs for the app name its service (BROOK_LOG_FORMAT=json). */
int brook_app_start(brook_app_t *app, brook_error_t *err) {
    if (!app)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "no app");
    const char *caller = brook__log_service(app->decl->name);
    int rc = app_start(app, err);
    brook__log_service(caller);
    return rc;
}

static int app_stop(brook_app_t *app) {
    if (app->state != APP_STARTED)
        return 0;
    app->state = APP_STOPPED;
    atomic_store(&app->phase, BROOK__PHASE_STOPPING);
    int64_t started = brook__now_ms();
    int rc = stop_all(app, brook__add_ms(started, app->decl->shutdown_timeout_ms), false);
    int64_t took = brook__now_ms() - started;
    atomic_store(&app->phase, BROOK__PHASE_STOPPED);
    if (took > app->decl->shutdown_timeout_ms)
        brook_log(BROOK_LOG_WARN, "app", "%s: stop took %lld ms (shutdown_timeout_ms %lld)",
                  app->decl->name, (long long)took, (long long)app->decl->shutdown_timeout_ms);
    else
        brook_log(BROOK_LOG_INFO, "app", "%s stopped in %lld ms", app->decl->name, (long long)took);
    return rc;
}

int brook_app_stop(brook_app_t *app) {
    if (!app)
        return BROOK_ERR_INVALID_ARG;
    const char *caller = brook__log_service(app->decl->name);
    int rc = app_stop(app);
    brook__log_service(caller);
    return rc;
}

void brook_app_request_stop(brook_app_t *app) {
    if (!app)
        return;
    atomic_store(&app->stop_requested, true);
    if (app->wake[1] >= 0) {
        int saved = errno;
        ssize_t n = write(app->wake[1], "x", 1);
        (void)n;
        errno = saved;
    }
}

int brook_app_run(brook_app_t *app) {
    if (!app)
        return BROOK_ERR_INVALID_ARG;
    if (app->state == APP_NEW) {
        brook_error_t err = {0};
        if (brook_app_start(app, &err)) {
            brook_log(BROOK_LOG_ERROR, "app", "%s", err.message);
            return err.code;
        }
    }
    int signal_fd = brook__signals_begin();
    while (!atomic_load(&app->stop_requested) && app->state == APP_STARTED) {
        struct pollfd pfd[2] = {{.fd = app->wake[0], .events = POLLIN},
                                {.fd = signal_fd, .events = POLLIN}};
        if (poll(pfd, signal_fd >= 0 ? 2 : 1, 1000) > 0) {
            if (pfd[0].revents & POLLIN)
                brook__drain_fd(app->wake[0]);
            if (signal_fd >= 0 && (pfd[1].revents & POLLIN)) {
                brook_log(BROOK_LOG_INFO, "app", "%s: stopping on a signal", app->decl->name);
                break;
            }
        }
    }
    brook__signals_end();
    return brook_app_stop(app);
}

void brook_app_destroy(brook_app_t *app) {
    if (!app)
        return;
    /* First: its requests read the rest. */
    brook__http_close(app->http);
    if (app->state == APP_STARTED) {
        /* No stop: leave like a crash would, without committing. */
        app->state = APP_STOPPED;
        stop_all(app, brook__now_ms(), true);
    }
    brook__consume_free(app->consume);
    brook__requests_free(app->requests);
    brook__producer_free(app->producer);
    brook__types_free(app->types);
    brook__registry_free(app->registry);
    brook_cluster_release(app->cluster);
    free(app->bootstrap);
    if (app->wake[0] >= 0)
        close(app->wake[0]);
    if (app->wake[1] >= 0)
        close(app->wake[1]);
    brook_decl_destroy(app->decl);
    pthread_mutex_destroy(&app->tx_lock);
    free(app);
}

/* ---- transactions --------------------------------------------------------------------------- */

int brook_app_execute_in_transaction(brook_app_t *app, brook_tx_fn *fn, void *opaque,
                                     brook_error_t *err) {
    if (!app || !fn)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "no app or function");
    if (app->state != APP_STARTED)
        return brook_error_set(err, BROOK_ERR_STATE, "%s: not started", app->decl->name);
    if (brook__txn_current())
        return brook_error_set(err, BROOK_ERR_STATE,
                               "%s: already in a transaction (an exactly-once handler's sends "
                               "are in its transaction)",
                               app->decl->name);
    pthread_mutex_lock(&app->tx_lock);
    int rc = 0;
    if (!app->txn) {
        char inst[256], id[512];
        brook__kafka_instance_id(inst, sizeof(inst));
        snprintf(id, sizeof(id), "%s-%s-app", app->decl->name, inst);
        if (!(app->txn = brook__txn_new(app->producer, id, err)))
            rc = err ? err->code : BROOK_ERR_KAFKA;
    }
    if (!rc)
        rc = brook__txn_begin(app->txn, err);
    if (!rc) {
        brook__txn_bind(app->txn);
        int frc = fn(app, opaque);
        brook__txn_bind(NULL);
        if (frc) {
            rc = brook__txn_abort(app->txn, err);
            if (!rc)
                rc = brook_error_set(err, frc,
                                     "%s: the transaction's function returned %d; "
                                     "aborted",
                                     app->decl->name, frc);
        } else {
            rc = brook__txn_commit(app->txn, NULL, NULL, err);
        }
    }
    pthread_mutex_unlock(&app->tx_lock);
    return rc;
}
