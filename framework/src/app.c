/* The app: declarations, lifecycle, the shared producer and topic provisioning. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_int.h"
#include "brook/avro.h"
#include "retry.h"

/* ---- construction ------------------------------------------------------------------------- */

static brook_app_t *app_from_decl(brook_decl_t *decl, char *errstr, size_t errstr_size) {
    brook_error_t err = {0};
    brook_app_t *app = calloc(1, sizeof(*app));
    if (!app) {
        brook_decl_destroy(decl);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    app->decl = decl;
    pthread_mutex_init(&app->stop_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are brook__now_ms() */
    pthread_cond_init(&app->stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pipe2(app->wake, O_NONBLOCK | O_CLOEXEC))
        app->wake[0] = app->wake[1] = -1;
    app->templates =
        calloc(decl->template_count ? decl->template_count : 1, sizeof(*app->templates));
    app->listeners =
        calloc(decl->listener_count ? decl->listener_count : 1, sizeof(*app->listeners));
    if (!app->templates || !app->listeners) {
        brook_app_destroy(app);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    app->template_count = decl->template_count;
    app->listener_count = decl->listener_count;
    for (size_t i = 0; i < decl->template_count; i++) {
        app->templates[i].app = app;
        app->templates[i].decl = &decl->templates[i];
    }
    for (size_t i = 0; i < decl->listener_count; i++) {
        if (brook__listener_init(&app->listeners[i], app, &decl->listeners[i], &err)) {
            snprintf(errstr, errstr_size, "%s", err.message);
            brook_app_destroy(app);
            return NULL;
        }
    }
    return app;
}

brook_app_t *brook_app_new(const char *decl_text, const char *decl_name, const char *override_path,
                           char *errstr, size_t errstr_size) {
    brook_error_t err = {0};
    brook_decl_t *decl = NULL, *over = NULL;
    if (brook_decl_parse_string(decl_text, decl_name ? decl_name : "<declarations>", &decl, &err) ||
        (override_path && (brook_decl_parse_file(override_path, &over, &err) ||
                           brook_decl_merge(decl, over, &err))) ||
        brook_decl_apply_env(decl, &err)) {
        snprintf(errstr, errstr_size, "%s", err.message);
        brook_decl_destroy(decl);
        brook_decl_destroy(over);
        return NULL;
    }
    brook_decl_destroy(over);
    return app_from_decl(decl, errstr, errstr_size);
}

brook_app_t *brook_app_new_from_file(const char *path, char *errstr, size_t errstr_size) {
    brook_error_t err = {0};
    brook_decl_t *decl = NULL;
    if (brook_decl_parse_file(path, &decl, &err) || brook_decl_apply_env(decl, &err)) {
        snprintf(errstr, errstr_size, "%s", err.message);
        brook_decl_destroy(decl);
        return NULL;
    }
    return app_from_decl(decl, errstr, errstr_size);
}

const brook_type_t *brook__app_find_type(const brook_app_t *app, const char *name) {
    for (size_t i = 0; i < app->type_count; i++)
        if (!strcmp(app->types[i]->name, name))
            return app->types[i];
    return NULL;
}

int brook_app_register_type(brook_app_t *app, const brook_type_t *type) {
    if (!app || !type || !type->name)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_NEW)
        return BROOK_ERR_STATE;
    const brook_type_t *known = brook__app_find_type(app, type->name);
    if (known == type)
        return 0;
    if (known)
        return brook_app_register_writer_schema(app, type->name, type->schema_json, NULL);
    const brook_type_t **types = realloc(app->types, (app->type_count + 1) * sizeof(*types));
    if (!types)
        return BROOK_ERR_NOMEM;
    types[app->type_count++] = type;
    app->types = types;
    return 0;
}

int brook_app_register_writer_schema(brook_app_t *app, const char *type_name,
                                     const char *writer_schema_json, brook_error_t *err) {
    if (!app || !type_name || !writer_schema_json)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "invalid argument");
    if (app->state != APP_NEW)
        return brook_error_set(err, BROOK_ERR_STATE, "writer schemas are registered before start");
    /* Records name their writer by the fingerprint of its canonical form, whatever form the
     * schema is given in here. */
    uint64_t fingerprint;
    int rc = brook_avro_schema_fingerprint(writer_schema_json, &fingerprint, err);
    if (rc)
        return rc;
    brook__writer_schema_t *w =
        realloc(app->writers, (app->writer_count + 1) * sizeof(*app->writers));
    if (!w)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    app->writers = w;
    w = &app->writers[app->writer_count];
    w->type_name = strdup(type_name);
    w->schema_json = strdup(writer_schema_json);
    if (!w->type_name || !w->schema_json) {
        free(w->type_name);
        free(w->schema_json);
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    w->fingerprint = fingerprint;
    app->writer_count++;
    return 0;
}

int brook_app_set_handler(brook_app_t *app, const char *listener_id, brook_handler_fn *fn,
                          void *opaque) {
    if (app && app->state != APP_NEW)
        return BROOK_ERR_STATE;
    brook_listener_t *l = brook_app_listener(app, listener_id);
    if (!l) {
        brook_log(BROOK_LOG_ERROR, "app", "%s: no listener \"%s\" declared",
                  app ? app->decl->source : "?", listener_id);
        return BROOK_ERR_NOT_FOUND;
    }
    l->handler = fn;
    l->handler_opaque = opaque;
    return 0;
}

void brook_app_set_opaque(brook_app_t *app, void *opaque) {
    app->opaque = opaque;
}

void *brook_app_get_opaque(const brook_app_t *app) {
    return app->opaque;
}

const char *brook_app_name(const brook_app_t *app) {
    return app->decl->name;
}

const char *brook_app_bootstrap(const brook_app_t *app) {
    return app->bootstrap;
}

brook_template_t *brook_app_template(brook_app_t *app, const char *name) {
    if (!app || !name)
        return NULL;
    for (size_t i = 0; i < app->template_count; i++)
        if (!strcmp(app->decl->templates[i].name, name))
            return &app->templates[i];
    return NULL;
}

size_t brook_app_listener_count(const brook_app_t *app) {
    return app->listener_count;
}

brook_listener_t *brook_app_listener_at(brook_app_t *app, size_t i) {
    return i < app->listener_count ? &app->listeners[i] : NULL;
}

brook_listener_t *brook_app_listener(brook_app_t *app, const char *id) {
    if (!app || !id)
        return NULL;
    for (size_t i = 0; i < app->listener_count; i++)
        if (!strcmp(app->decl->listeners[i].id, id))
            return &app->listeners[i];
    return NULL;
}

/* ---- provisioning ---------------------------------------------------------------------------- */

typedef struct {
    char *name; /* owned */
    int partitions, replication;
    const brook_decl_topic_t *decl; /* declared topics: their config */
    /* Retry and DLT topics of a topic the service did not declare: its partition count is
     * the cluster's (owned; NULL otherwise). */
    char *source;
} topic_spec_t;

typedef struct {
    brook_app_t *app;
    topic_spec_t *items;
    size_t count, cap;
} topic_set_t;

static const brook_decl_topic_t *declared_topic(const brook_app_t *app, const char *topic) {
    for (size_t i = 0; i < app->decl->topic_count; i++)
        if (!strcmp(app->decl->topics[i].name, topic))
            return &app->decl->topics[i];
    return NULL;
}

static int known_partitions(const brook_app_t *app, const char *topic) {
    const brook_decl_topic_t *t = declared_topic(app, topic);
    if (t)
        return t->partitions;
    return app->cluster ? brook_cluster_topic_partitions(app->cluster, topic) : -1;
}

static void topic_set_add(topic_set_t *s, const char *name, int partitions, int replication,
                          const brook_decl_topic_t *decl, const char *source) {
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->items[i].name, name))
            return;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        topic_spec_t *items = realloc(s->items, cap * sizeof(*items));
        if (!items)
            return;
        s->items = items;
        s->cap = cap;
    }
    topic_spec_t *t = &s->items[s->count];
    t->name = strdup(name);
    t->source = source ? strdup(source) : NULL;
    if (!t->name || (source && !t->source)) {
        free(t->name);
        free(t->source);
        return;
    }
    t->partitions = partitions > 0 ? partitions : 1;
    t->replication = replication;
    t->decl = decl;
    s->count++;
}

static void add_derived(const char *topic, const char *source, brook__topic_kind_t kind,
                        void *opaque) {
    topic_set_t *s = opaque;
    const brook_decl_topic_t *src = declared_topic(s->app, source);
    topic_set_add(s, topic, known_partitions(s->app, source), src ? src->replication : -1, NULL,
                  src ? NULL : source);
}

/* Declared topics, then retry and DLT topics; on the embedded cluster also every topic the
 * service only references (one partition unless someone declared it first), since the
 * cluster cannot be told to create them later. */
static void collect_topics(brook_app_t *app, topic_set_t *s) {
    const brook_decl_t *d = app->decl;
    s->app = app;
    for (size_t i = 0; i < d->topic_count; i++)
        topic_set_add(s, d->topics[i].name, d->topics[i].partitions, d->topics[i].replication,
                      &d->topics[i], NULL);
    if (app->cluster) {
        for (size_t i = 0; i < d->listener_count; i++)
            for (size_t j = 0; j < d->listeners[i].topic_count; j++)
                topic_set_add(s, d->listeners[i].topics[j],
                              known_partitions(app, d->listeners[i].topics[j]), 1, NULL, NULL);
        for (size_t i = 0; i < d->template_count; i++)
            topic_set_add(s, d->templates[i].topic, known_partitions(app, d->templates[i].topic), 1,
                          NULL, NULL);
    }
    for (size_t i = 0; i < app->listener_count; i++)
        brook__retry_topics_foreach(&app->listeners[i], add_derived, s);
}

static void topic_set_free(topic_set_t *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].name);
        free(s->items[i].source);
    }
    free(s->items);
}

/* Partition count of `topic` in the metadata, or -1. */
static int metadata_partitions(const struct rd_kafka_metadata *md, const char *topic) {
    for (int t = 0; t < md->topic_cnt; t++)
        if (!strcmp(md->topics[t].topic, topic) && !md->topics[t].err)
            return md->topics[t].partition_cnt;
    return -1;
}

/* Creates missing topics through the Admin API. Existing ones are left as they are (a
 * partition count other than the declared one is a warning), so a service whose topics exist
 * needs no permission to create any, and one on a dev-broker (which cannot create topics; it
 * made them from the declarations) never asks. */
static int provision_admin(brook_app_t *app, topic_set_t *s, brook_error_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t merr = rd_kafka_metadata(app->producer, 1, NULL, &md, 10000);
    if (merr)
        return brook_error_set(err, merr, "cannot read cluster metadata from %s: %s",
                               app->bootstrap, rd_kafka_err2str(merr));
    char errstr[512];
    int rc = 0;
    size_t missing = 0;
    rd_kafka_NewTopic_t **nt = calloc(s->count ? s->count : 1, sizeof(*nt));
    if (!nt) {
        rd_kafka_metadata_destroy(md);
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->count && !rc; i++) {
        topic_spec_t *t = &s->items[i];
        int found = metadata_partitions(md, t->name);
        if (found >= 0) {
            if (found != t->partitions && !t->source)
                brook_log(BROOK_LOG_WARN, "app", "topic %s has %d partitions, declared %d", t->name,
                          found, t->partitions);
            continue;
        }
        /* A retry or DLT topic gets its source topic's partitions, so records keep theirs. */
        int source_partitions = t->source ? metadata_partitions(md, t->source) : -1;
        if (source_partitions > 0)
            t->partitions = source_partitions;
        rd_kafka_NewTopic_t *nt_one =
            rd_kafka_NewTopic_new(t->name, t->partitions, t->replication, errstr, sizeof(errstr));
        if (!nt_one) {
            rc = brook_error_set(err, BROOK_ERR_DECL, "topic %s: %s", t->name, errstr);
            break;
        }
        if (t->decl)
            for (size_t k = 0; k < t->decl->config_count; k++)
                rd_kafka_NewTopic_set_config(nt_one, t->decl->config[k].name,
                                             t->decl->config[k].value);
        nt[missing++] = nt_one;
    }
    rd_kafka_metadata_destroy(md);
    if (!rc && missing) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(app->producer);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(app->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
        rd_kafka_AdminOptions_set_request_timeout(opts, 30000, NULL, 0);
        rd_kafka_CreateTopics(app->producer, nt, missing, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (!ev) {
            rc = brook_error_set(err, BROOK_ERR_TIMEOUT, "creating topics timed out");
        } else if (rd_kafka_event_error(ev)) {
            rc = brook_error_set(err, rd_kafka_event_error(ev), "creating topics: %s",
                                 rd_kafka_event_error_string(ev));
        } else {
            size_t n;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
            for (size_t i = 0; i < n && !rc; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    rc = brook_error_set(err, e, "creating topic %s: %s",
                                         rd_kafka_topic_result_name(res[i]),
                                         rd_kafka_topic_result_error_string(res[i]));
                else
                    brook_log(BROOK_LOG_INFO, "app", "created topic %s",
                              rd_kafka_topic_result_name(res[i]));
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; i < missing; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

static int provision(brook_app_t *app, brook_error_t *err) {
    topic_set_t s = {0};
    collect_topics(app, &s);
    int rc = 0;
    if (app->cluster) {
        for (size_t i = 0; i < s.count && !rc; i++)
            rc = brook_cluster_create_topic(app->cluster, s.items[i].name, s.items[i].partitions,
                                            s.items[i].replication);
        if (rc)
            brook_error_set(err, rc, "cannot create topics on the embedded cluster");
    } else {
        rc = provision_admin(app, &s, err);
    }
    topic_set_free(&s);
    return rc;
}

int brook_cluster_provision(brook_cluster_t *c, const char *decl_path, brook_error_t *err) {
    char errstr[512];
    brook_app_t *app = brook_app_new_from_file(decl_path, errstr, sizeof(errstr));
    if (!app)
        return brook_error_set(err, BROOK_ERR_DECL, "%s", errstr);
    app->cluster = c;
    int rc = provision(app, err);
    app->cluster = NULL; /* borrowed */
    brook_app_destroy(app);
    return rc;
}

/* ---- producer
 * ------------------------------------------------------------------------------------ */

static void *producer_main(void *arg) {
    brook_app_t *app = arg;
    while (atomic_load(&app->producer_run))
        rd_kafka_poll(app->producer, 100);
    rd_kafka_poll(app->producer, 0);
    return NULL;
}

static int start_producer(brook_app_t *app, brook_error_t *err) {
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s", app->decl->name);
    rd_kafka_conf_set_dr_msg_cb(conf, brook__template_delivered);
    int rc = brook__kafka_conf_set(conf, "bootstrap.servers", app->bootstrap, err);
    if (!rc)
        rc = brook__kafka_conf_set(conf, "client.id", client_id, err);
    if (!rc)
        rc = brook__kafka_conf_set(conf, "enable.idempotence", "true", err);
    /* The partition a Java producer would choose for a key; random for null keys. */
    if (!rc)
        rc = brook__kafka_conf_set(conf, "partitioner", "murmur2_random", err);
    if (!rc)
        rc = brook__apply_user_kafka(app, conf, true, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    char errstr[512];
    app->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!app->producer) {
        rd_kafka_conf_destroy(conf);
        return brook_error_set(err, BROOK_ERR_KAFKA, "producer: %s", errstr);
    }
    atomic_store(&app->producer_run, true);
    if (pthread_create(&app->producer_thread, NULL, producer_main, app))
        return brook_error_set(err, BROOK_ERR_STATE, "cannot start the producer thread");
    app->producer_thread_started = true;
    return 0;
}

/* Fails every queued and in-flight record at once: each still gets its delivery report (with a
 * purge error) from the producer thread. Waiting forwards return, their records are held and
 * not committed, so nothing is lost. */
static void purge_producer(brook_app_t *app) {
    if (app->producer)
        rd_kafka_purge(app->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

static void stop_producer(brook_app_t *app, int64_t deadline) {
    if (!app->producer)
        return;
    int64_t left = deadline - brook__now_ms();
    int timeout_ms = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
    if (atomic_load(&app->crashing)) {
        int n = rd_kafka_outq_len(app->producer);
        if (n)
            brook_log(BROOK_LOG_WARN, "app", "%s: dropping %d unsent record(s)", app->decl->name,
                      n);
        purge_producer(app);
    } else if (rd_kafka_flush(app->producer, timeout_ms)) {
        brook_log(BROOK_LOG_ERROR, "app", "%s: %d record(s) not delivered before shutdown",
                  app->decl->name, rd_kafka_outq_len(app->producer));
        purge_producer(app);
    }
    /* Serve the reports of what was purged, so every send still hears how it ended. */
    rd_kafka_flush(app->producer, 1000);
    atomic_store(&app->producer_run, false);
    if (app->producer_thread_started) {
        pthread_join(app->producer_thread, NULL);
        app->producer_thread_started = false;
    }
    for (size_t i = 0; i < app->template_count; i++)
        if (app->templates[i].rkt) {
            rd_kafka_topic_destroy(app->templates[i].rkt);
            app->templates[i].rkt = NULL;
        }
    rd_kafka_destroy(app->producer);
    app->producer = NULL;
}

/* Members stop polling and finish the record in hand, wait for their handlers' sends, commit,
 * and close only once every member has committed (the first to leave starts a rebalance that
 * would refuse the others' commits). Past the deadline, or at once for a crash-like destroy,
 * the producer is purged so that no member waits on a delivery any longer. */
static void stop_all(brook_app_t *app, int64_t deadline) {
    int members = 0;
    for (size_t i = 0; i < app->listener_count; i++)
        for (int k = 0; k < app->listeners[i].member_count; k++)
            members += app->listeners[i].members[k].thread_started;
    app->stop_deadline = deadline;
    atomic_store(&app->running, false);
    if (atomic_load(&app->crashing)) {
        purge_producer(app);
    } else {
        struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000};
        pthread_mutex_lock(&app->stop_lock);
        while (app->stop_committed < members &&
               pthread_cond_timedwait(&app->stop_cond, &app->stop_lock, &until) == 0)
            ;
        if (app->stop_committed < members) {
            brook_log(BROOK_LOG_WARN, "app",
                      "%s: %d of %d listener member(s) not done within shutdown_timeout_ms",
                      app->decl->name, members - app->stop_committed, members);
            purge_producer(app);
        }
        app->stop_may_close = true;
        pthread_cond_broadcast(&app->stop_cond);
        pthread_mutex_unlock(&app->stop_lock);
    }
    for (size_t i = 0; i < app->listener_count; i++)
        brook__listener_join(&app->listeners[i]);
    stop_producer(app, deadline);
}

int brook_app_start(brook_app_t *app, brook_error_t *err) {
    if (!app)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "no app");
    if (app->state != APP_NEW)
        return brook_error_set(err, BROOK_ERR_STATE, "%s: already started", app->decl->name);
    brook_decl_t *d = app->decl;
    int rc = 0;
    char errstr[512];
    app->user_debug = brook_decl_kafka_value(d, "debug") != NULL;
    /* What the declaration alone can refuse, before anything starts. */
    for (size_t i = 0; i < app->template_count && !rc; i++)
        rc = brook__template_resolve(&app->templates[i], err);
    if (rc)
        return rc;
    if (brook_decl_is_embedded(d)) {
        if (!app->cluster &&
            !(app->cluster = brook_cluster_acquire(d->embedded_brokers, errstr, sizeof(errstr))))
            return brook_error_set(err, BROOK_ERR_KAFKA, "embedded cluster: %s", errstr);
        app->bootstrap = strdup(brook_cluster_bootstrap(app->cluster));
    } else {
        app->bootstrap = strdup(d->bootstrap);
    }
    if (!app->bootstrap)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = start_producer(app, err);
    if (!rc)
        rc = provision(app, err);
    for (size_t i = 0; i < app->template_count && !rc; i++) {
        app->templates[i].rkt = rd_kafka_topic_new(app->producer, d->templates[i].topic, NULL);
        if (!app->templates[i].rkt)
            rc = brook_error_set(err, BROOK_ERR_KAFKA, "template %s: %s", d->templates[i].name,
                                 rd_kafka_err2str(rd_kafka_last_error()));
    }
    atomic_store(&app->running, true);
    for (size_t i = 0; i < app->listener_count && !rc; i++)
        rc = brook__listener_start(&app->listeners[i], err);
    if (rc) {
        app->state = APP_STOPPED;
        stop_all(app, brook__add_ms(brook__now_ms(), d->shutdown_timeout_ms));
        return rc;
    }
    app->state = APP_STARTED;
    brook_log(BROOK_LOG_INFO, "app", "%s started on %s%s", d->name, app->bootstrap,
              app->cluster ? " (embedded)" : "");
    return 0;
}

int brook_app_stop(brook_app_t *app) {
    if (!app)
        return BROOK_ERR_INVALID_ARG;
    if (app->state != APP_STARTED)
        return 0;
    app->state = APP_STOPPED;
    int64_t started = brook__now_ms();
    stop_all(app, brook__add_ms(started, app->decl->shutdown_timeout_ms));
    int64_t took = brook__now_ms() - started;
    if (took > app->decl->shutdown_timeout_ms)
        brook_log(BROOK_LOG_WARN, "app", "%s: stop took %lld ms (shutdown_timeout_ms %lld)",
                  app->decl->name, (long long)took, (long long)app->decl->shutdown_timeout_ms);
    else
        brook_log(BROOK_LOG_INFO, "app", "%s stopped in %lld ms", app->decl->name, (long long)took);
    return 0;
}

/*
 * SIGINT/SIGTERM stop every brook_app_run() in the process. The handler only writes to a
 * process-wide pipe (async-signal-safe, and it touches no app, so none can be freed under
 * it); the pipe stays readable, so every running app sees it. The handler is installed while
 * at least one app runs, and the previous one is restored when the last stops running.
 */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static int signal_runners;
static int signal_pipe[2] = {-1, -1};
static struct sigaction signal_old_int, signal_old_term;

static void on_signal(int sig) {
    int saved = errno;
    ssize_t n = write(signal_pipe[1], "s", 1);
    (void)n;
    errno = saved;
}

static void drain_fd(int fd) {
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* The fd that becomes readable on a signal, or -1. */
static int signals_begin(void) {
    pthread_mutex_lock(&signal_lock);
    if (signal_runners++ == 0) {
        if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC))
            signal_pipe[0] = signal_pipe[1] = -1;
        if (signal_pipe[0] >= 0) {
            drain_fd(signal_pipe[0]);
            struct sigaction sa = {0};
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &signal_old_int);
            sigaction(SIGTERM, &sa, &signal_old_term);
        }
    }
    int fd = signal_pipe[0];
    pthread_mutex_unlock(&signal_lock);
    return fd;
}

static void signals_end(void) {
    pthread_mutex_lock(&signal_lock);
    if (--signal_runners == 0 && signal_pipe[0] >= 0) {
        sigaction(SIGINT, &signal_old_int, NULL);
        sigaction(SIGTERM, &signal_old_term, NULL);
        drain_fd(signal_pipe[0]);
    }
    pthread_mutex_unlock(&signal_lock);
}

void brook_app_request_stop(brook_app_t *app) {
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
    int signal_fd = signals_begin();
    while (!atomic_load(&app->stop_requested) && app->state == APP_STARTED) {
        struct pollfd pfd[2] = {{.fd = app->wake[0], .events = POLLIN},
                                {.fd = signal_fd, .events = POLLIN}};
        if (poll(pfd, signal_fd >= 0 ? 2 : 1, 1000) > 0) {
            if (pfd[0].revents & POLLIN)
                drain_fd(app->wake[0]);
            if (signal_fd >= 0 && (pfd[1].revents & POLLIN)) {
                brook_log(BROOK_LOG_INFO, "app", "%s: stopping on a signal", app->decl->name);
                break;
            }
        }
    }
    signals_end();
    return brook_app_stop(app);
}

void brook_app_destroy(brook_app_t *app) {
    if (!app)
        return;
    if (app->state == APP_STARTED) {
        /* No stop: leave like a crash would, without committing. */
        atomic_store(&app->crashing, true);
        app->state = APP_STOPPED;
        stop_all(app, brook__now_ms());
    }
    for (size_t i = 0; i < app->listener_count; i++)
        brook__listener_free(&app->listeners[i]);
    brook_cluster_release(app->cluster);
    for (size_t i = 0; i < app->writer_count; i++) {
        free(app->writers[i].type_name);
        free(app->writers[i].schema_json);
    }
    free(app->writers);
    free(app->types);
    free(app->templates);
    free(app->listeners);
    free(app->bootstrap);
    pthread_cond_destroy(&app->stop_cond);
    pthread_mutex_destroy(&app->stop_lock);
    if (app->wake[0] >= 0)
        close(app->wake[0]);
    if (app->wake[1] >= 0)
        close(app->wake[1]);
    brook_decl_destroy(app->decl);
    free(app);
}
