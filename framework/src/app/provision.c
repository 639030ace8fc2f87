/* Topic provisioning (app/provision.h): declared topics, their retry and DLT topics, and on
 * the embedded cluster every topic a service references. */
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "app/provision.h"
#include "recover/recover.h"

typedef struct {
    char *name; /* owned */
    int partitions, replication;
    const brook_decl_topic_t *decl; /* declared topics: their config */
    /* Retry and DLT topics of a topic the service did not declare: its partition count is
     * the cluster's (owned; NULL otherwise). */
    char *source;
} topic_spec_t;

typedef struct {
    const brook_decl_t *decl;
    brook_cluster_t *cluster; /* embedded only */
    topic_spec_t *items;
    size_t count, cap;
} topic_set_t;

static const brook_decl_topic_t *declared_topic(const brook_decl_t *d, const char *topic) {
    for (size_t i = 0; i < d->topic_count; i++)
        if (!strcmp(d->topics[i].name, topic))
            return &d->topics[i];
    return NULL;
}

static int known_partitions(const topic_set_t *s, const char *topic) {
    const brook_decl_topic_t *t = declared_topic(s->decl, topic);
    if (t)
        return t->partitions;
    return s->cluster ? brook_cluster_topic_partitions(s->cluster, topic) : -1;
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
    const brook_decl_topic_t *src = declared_topic(s->decl, source);
    topic_set_add(s, topic, known_partitions(s, source), src ? src->replication : -1, NULL,
                  src ? NULL : source);
}

/* Declared topics, then retry and DLT topics; on the embedded cluster also every topic the
 * service only references (one partition unless someone declared it first), since the
 * cluster cannot be told to create them later. */
static void collect_topics(topic_set_t *s) {
    const brook_decl_t *d = s->decl;
    for (size_t i = 0; i < d->topic_count; i++)
        topic_set_add(s, d->topics[i].name, d->topics[i].partitions, d->topics[i].replication,
                      &d->topics[i], NULL);
    /* Reply topics are the service's own (docs/request-reply.md): created on any cluster, with
     * room for the declared reply partition. */
    for (size_t i = 0; i < d->template_count; i++) {
        const brook_decl_reply_t *r = &d->templates[i].reply;
        int partitions = r->declared ? known_partitions(s, r->topic) : 0;
        if (r->declared)
            topic_set_add(s, r->topic, partitions > r->partition ? partitions : r->partition + 1,
                          -1, NULL, NULL);
    }
    if (s->cluster) {
        for (size_t i = 0; i < d->listener_count; i++)
            for (size_t j = 0; j < d->listeners[i].topic_count; j++)
                topic_set_add(s, d->listeners[i].topics[j],
                              known_partitions(s, d->listeners[i].topics[j]), 1, NULL, NULL);
        for (size_t i = 0; i < d->template_count; i++)
            topic_set_add(s, d->templates[i].topic, known_partitions(s, d->templates[i].topic), 1,
                          NULL, NULL);
    }
    for (size_t i = 0; i < d->listener_count; i++) {
        brook__recover_topics_foreach(&d->listeners[i], add_derived, s);
        brook__recover_parking_foreach(&d->listeners[i], add_derived, s);
    }
}

static void topic_set_free(topic_set_t *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].name);
        free(s->items[i].source);
    }
    free(s->items);
}

/* `topic` in the metadata, or NULL. */
static const rd_kafka_metadata_topic_t *metadata_topic(const struct rd_kafka_metadata *md,
                                                       const char *topic) {
    for (int t = 0; t < md->topic_cnt; t++)
        if (!strcmp(md->topics[t].topic, topic) && !md->topics[t].err)
            return &md->topics[t];
    return NULL;
}

/* Partition count of `topic` in the metadata, or -1. */
static int metadata_partitions(const struct rd_kafka_metadata *md, const char *topic) {
    const rd_kafka_metadata_topic_t *t = metadata_topic(md, topic);
    return t ? t->partition_cnt : -1;
}

typedef struct {
    bool dry_run;
    brook__provision_fn *fn; /* may be NULL */
    void *opaque;
} report_t;

static void report(const report_t *r, const topic_spec_t *t, brook__provision_state_t state,
                   const rd_kafka_metadata_topic_t *found) {
    if (!r->fn)
        return;
    if (found)
        r->fn(t->name, state, found->partition_cnt,
              found->partition_cnt ? found->partitions[0].replica_cnt : 0, r->opaque);
    else
        r->fn(t->name, state, t->partitions, t->replication, r->opaque);
}

/* Creates missing topics through the Admin API. Existing ones are left as they are (a
 * partition count other than the declared one is a warning), so a service whose topics exist
 * needs no permission to create any, and one on a dev-broker (which cannot create topics; it
 * made them from the declarations) never asks. */
static int provision_admin(rd_kafka_t *rk, topic_set_t *s, const report_t *r, brook_error_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (merr)
        return brook_error_set(err, merr, "cannot read cluster metadata: %s",
                               rd_kafka_err2str(merr));
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
        const rd_kafka_metadata_topic_t *found = metadata_topic(md, t->name);
        if (found) {
            if (found->partition_cnt != t->partitions && !t->source)
                brook_log(BROOK_LOG_WARN, "app", "topic %s has %d partitions, declared %d", t->name,
                          found->partition_cnt, t->partitions);
            report(r, t, BROOK__PROVISION_EXISTS, found);
            continue;
        }
        /* A retry or DLT topic gets its source topic's partitions, so records keep theirs. */
        int source_partitions = t->source ? metadata_partitions(md, t->source) : -1;
        if (source_partitions > 0)
            t->partitions = source_partitions;
        if (r->dry_run) {
            report(r, t, BROOK__PROVISION_MISSING, NULL);
            continue;
        }
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
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
        rd_kafka_AdminOptions_set_request_timeout(opts, 30000, NULL, 0);
        rd_kafka_CreateTopics(rk, nt, missing, opts, q);
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
                else if (!e) /* else another client created it since the metadata read */
                    brook_log(BROOK_LOG_INFO, "app", "created topic %s",
                              rd_kafka_topic_result_name(res[i]));
                for (size_t k = 0; !rc && k < s->count; k++)
                    if (!strcmp(s->items[k].name, rd_kafka_topic_result_name(res[i])))
                        report(r, &s->items[k],
                               e ? BROOK__PROVISION_EXISTS : BROOK__PROVISION_CREATED, NULL);
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

int brook__provision(const brook_decl_t *d, brook_cluster_t *cluster, rd_kafka_t *rk,
                     brook_error_t *err) {
    topic_set_t s = {.decl = d, .cluster = cluster};
    collect_topics(&s);
    int rc = 0;
    if (cluster) {
        for (size_t i = 0; i < s.count && !rc; i++)
            if ((rc = brook_cluster_create_topic(cluster, s.items[i].name, s.items[i].partitions,
                                                 s.items[i].replication)))
                brook_error_set(err, rc, "cannot create topic %s on the embedded cluster: %s",
                                s.items[i].name, brook_err2str(rc));
    } else {
        report_t none = {false, NULL, NULL};
        rc = provision_admin(rk, &s, &none, err);
    }
    topic_set_free(&s);
    return rc;
}

int brook__provision_admin(const brook_decl_t *d, rd_kafka_t *rk, bool dry_run,
                           brook__provision_fn *fn, void *opaque, brook_error_t *err) {
    topic_set_t s = {.decl = d};
    collect_topics(&s);
    report_t r = {dry_run, fn, opaque};
    int rc = provision_admin(rk, &s, &r, err);
    topic_set_free(&s);
    return rc;
}

int brook_cluster_provision(brook_cluster_t *c, const char *decl_path, brook_error_t *err) {
    if (!c || !decl_path)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "no cluster or declaration");
    brook_decl_t *d = NULL;
    int rc = brook_decl_parse_file(decl_path, &d, err);
    if (!rc)
        rc = brook_decl_apply_env(d, err);
    if (!rc)
        rc = brook__provision(d, c, NULL, err);
    brook_decl_destroy(d);
    return rc;
}
