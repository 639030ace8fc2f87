/* What a scrape reads of the producer (produce/produce.h, docs/operations.md): its queue, its
 * state, and the brokers as librdkafka's statistics describe them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kafka/kafka.h"
#include "produce/internal.h"

/* On the producer thread (inside rd_kafka_poll): keeps the report for the next scrape, which
 * parses it; the thread that serves delivery reports does no more than copy it. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    brook__producer_t *p = opaque;
    char *copy = strndup(json, len);
    if (!copy)
        return 0;
    pthread_mutex_lock(&p->stats_lock);
    char *old = p->stats_json;
    p->stats_json = copy;
    pthread_mutex_unlock(&p->stats_lock);
    free(old);
    return 0;
}

void brook__producer_enable_stats(brook__producer_t *p, int interval_ms) {
    p->stats_interval_ms = interval_ms;
}

int brook__producer_stats_conf(brook__producer_t *p, rd_kafka_conf_t *conf, brook_error_t *err) {
    if (p->stats_interval_ms <= 0)
        return 0;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    /* The declaration's own interval wins. */
    if (brook_decl_kafka_value(p->decl, "statistics.interval.ms"))
        return 0;
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", p->stats_interval_ms);
    return brook__kafka_conf_set(conf, "statistics.interval.ms", ms, err);
}

int brook__producer_queue_depth(brook__producer_t *p) {
    brook__producer_hold(p);
    int n = p->rk ? rd_kafka_outq_len(p->rk) : -1;
    brook__producer_release(p);
    return n;
}

uint64_t brook__producer_replacements(const brook__producer_t *p) {
    return atomic_load(&p->replacements);
}

bool brook__producer_fatal(brook__producer_t *p, char *reason, size_t size) {
    brook__producer_hold(p);
    bool fatal = p->rk && rd_kafka_fatal_error(p->rk, reason, size);
    brook__producer_release(p);
    return fatal;
}

static int by_id(const void *a, const void *b) {
    const brook__broker_stats_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

size_t brook__producer_brokers(brook__producer_t *p, brook__broker_stats_t *out, size_t max) {
    pthread_mutex_lock(&p->stats_lock);
    json_t *root = p->stats_json ? json_loads(p->stats_json, 0, NULL) : NULL;
    pthread_mutex_unlock(&p->stats_lock);
    size_t n = 0;
    const char *key;
    json_t *b;
    /* "brokers": {"<host:port/id>": {"nodeid": 1, "state": "UP", "rtt": {"avg": us, ...}}};
     * the bootstrap and internal entries have no node id (-1). */
    json_object_foreach(json_object_get(root, "brokers"), key, b) {
        json_t *rtt = json_object_get(b, "rtt");
        json_int_t id = json_integer_value(json_object_get(b, "nodeid"));
        if (id < 0 || n == max)
            continue;
        bool measured = json_integer_value(json_object_get(rtt, "cnt")) > 0;
        out[n].id = (int32_t)id;
        const char *state = json_string_value(json_object_get(b, "state"));
        out[n].up = state && !strcmp(state, "UP");
        out[n].rtt_avg_s =
            measured ? (double)json_integer_value(json_object_get(rtt, "avg")) / 1e6 : -1;
        out[n].rtt_p99_s =
            measured ? (double)json_integer_value(json_object_get(rtt, "p99")) / 1e6 : -1;
        n++;
    }
    json_decref(root);
    qsort(out, n, sizeof(*out), by_id);
    return n;
}
