/* The embedded cluster: one librdkafka mock cluster per process, shared by reference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka/kafka.h"

typedef struct cluster_topic_s {
    char *name;
    int partitions;
    struct cluster_topic_s *next;
} cluster_topic_t;

struct brook_cluster_s {
    rd_kafka_t *host; /* the mock cluster needs a client instance to live in */
    rd_kafka_mock_cluster_t *mock;
    char *bootstrap;
    int brokers;
    int refs;
    pthread_mutex_t lock;
    cluster_topic_t *topics;
};

static pthread_mutex_t cluster_lock = PTHREAD_MUTEX_INITIALIZER;
static brook_cluster_t *the_cluster;

static void cluster_free(brook_cluster_t *c) {
    while (c->topics) {
        cluster_topic_t *t = c->topics;
        c->topics = t->next;
        free(t->name);
        free(t);
    }
    if (c->mock)
        rd_kafka_mock_cluster_destroy(c->mock);
    if (c->host)
        rd_kafka_destroy(c->host);
    free(c->bootstrap);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

brook_cluster_t *brook_cluster_acquire(int brokers, brook_error_t *err) {
    char errstr[512];
    pthread_mutex_lock(&cluster_lock);
    if (the_cluster) {
        the_cluster->refs++;
        pthread_mutex_unlock(&cluster_lock);
        return the_cluster;
    }
    brook_cluster_t *c = calloc(1, sizeof(*c));
    if (!c) {
        pthread_mutex_unlock(&cluster_lock);
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->brokers = brokers < 1 ? 1 : brokers;
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "brook-embedded", NULL, 0);
    /* The host client never connects anywhere: spare the warning that says so. */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    c->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!c->host) {
        rd_kafka_conf_destroy(conf);
        brook_error_set(err, BROOK_ERR_KAFKA, "embedded cluster: %s", errstr);
        goto fail;
    }
    c->mock = rd_kafka_mock_cluster_new(c->host, c->brokers);
    if (!c->mock) {
        brook_error_set(err, BROOK_ERR_KAFKA, "cannot start the embedded cluster");
        goto fail;
    }
    c->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(c->mock));
    c->refs = 1;
    the_cluster = c;
    pthread_mutex_unlock(&cluster_lock);
    brook_log(BROOK_LOG_INFO, "cluster", "embedded cluster with %d broker(s) at %s", c->brokers,
              c->bootstrap);
    return c;
fail:
    pthread_mutex_unlock(&cluster_lock);
    cluster_free(c);
    return NULL;
}

void brook_cluster_release(brook_cluster_t *c) {
    if (!c)
        return;
    pthread_mutex_lock(&cluster_lock);
    int last = --c->refs == 0;
    if (last && the_cluster == c)
        the_cluster = NULL;
    pthread_mutex_unlock(&cluster_lock);
    if (last) {
        brook_log(BROOK_LOG_DEBUG, "cluster", "embedded cluster stopped");
        cluster_free(c);
    }
}

const char *brook_cluster_bootstrap(const brook_cluster_t *c) {
    return c ? c->bootstrap : NULL;
}

int brook_cluster_broker_count(const brook_cluster_t *c) {
    return c ? c->brokers : 0;
}

rd_kafka_mock_cluster_t *brook_cluster_mock(brook_cluster_t *c) {
    return c ? c->mock : NULL;
}

int brook_cluster_create_topic(brook_cluster_t *c, const char *topic, int partitions,
                               int replication) {
    if (!c || !topic || !*topic || partitions < 1)
        return BROOK_ERR_INVALID_ARG;
    if (replication > c->brokers)
        replication = c->brokers;
    if (replication < 1)
        replication = 1;
    pthread_mutex_lock(&c->lock);
    for (cluster_topic_t *t = c->topics; t; t = t->next) {
        if (!strcmp(t->name, topic)) {
            if (t->partitions != partitions)
                brook_log(BROOK_LOG_WARN, "cluster",
                          "topic %s exists with %d partitions, not %d; left as it is", topic,
                          t->partitions, partitions);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(c->mock, topic, partitions, replication);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        pthread_mutex_unlock(&c->lock);
        return err;
    }
    cluster_topic_t *t = calloc(1, sizeof(*t));
    if (t && (t->name = strdup(topic))) {
        t->partitions = partitions;
        t->next = c->topics;
        c->topics = t;
    } else {
        free(t);
    }
    pthread_mutex_unlock(&c->lock);
    brook_log(BROOK_LOG_DEBUG, "cluster", "created topic %s (%d partitions)", topic, partitions);
    return 0;
}

int brook_cluster_topic_partitions(brook_cluster_t *c, const char *topic) {
    int n = -1;
    if (!c || !topic)
        return -1;
    pthread_mutex_lock(&c->lock);
    for (cluster_topic_t *t = c->topics; t; t = t->next)
        if (!strcmp(t->name, topic))
            n = t->partitions;
    pthread_mutex_unlock(&c->lock);
    return n;
}
