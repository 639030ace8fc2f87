/* Brook's side of librdkafka (kafka/kafka.h), and brook_err2str, which names its codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka/kafka.h"

const char *brook_err2str(int err) {
    switch (err) {
#define BROOK__ERR_CASE(name, value, text)                                                         \
    case value:                                                                                    \
        return text;
        BROOK_ERRORS(BROOK__ERR_CASE)
#undef BROOK__ERR_CASE
    default:
        /* Everything else is a librdkafka code, passed through as it came. */
        return rd_kafka_err2str((rd_kafka_resp_err_t)err);
    }
}

void brook__kafka_pause_at(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t *p = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(p, topic, partition)->offset = offset;
    rd_kafka_pause_partitions(rk, p);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(rk, p, 0);
    if (e) {
        brook_log(BROOK_LOG_ERROR, "listener", "seek %s [%d] to %lld: %s", topic, (int)partition,
                  (long long)offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(p);
}

void brook__kafka_record(const rd_kafka_message_t *m, brook_record_t *r) {
    rd_kafka_timestamp_type_t tstype;
    r->topic = rd_kafka_topic_name(m->rkt);
    r->partition = m->partition;
    r->offset = m->offset;
    r->timestamp = rd_kafka_message_timestamp(m, &tstype);
    r->timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? BROOK_TS_CREATE_TIME
                        : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? BROOK_TS_LOG_APPEND_TIME
                                                                       : BROOK_TS_NONE;
    r->key = m->key;
    r->key_len = m->key_len;
    r->value = m->payload;
    r->value_len = m->len;
    r->headers = NULL;
    r->header_count = 0;
}

void brook__kafka_record_headers(const rd_kafka_message_t *m, brook_record_t *r,
                                 brook_header_t **headers, size_t *cap) {
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    size_t n = rd_kafka_header_cnt(hdrs);
    if (n > *cap) {
        brook_header_t *h = realloc(*headers, n * sizeof(*h));
        if (!h) {
            n = *cap;
        } else {
            *headers = h;
            *cap = n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *value;
        size_t size;
        if (rd_kafka_header_get_all(hdrs, i, &name, &value, &size))
            break;
        (*headers)[i] = (brook_header_t){name, value, size};
        r->header_count = i + 1;
    }
    r->headers = *headers;
}

void brook__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* librdkafka uses syslog levels; Brook's levels are the same numbers, coarser. */
    brook_log_level_t l = level <= 3   ? BROOK_LOG_ERROR
                          : level == 4 ? BROOK_LOG_WARN
                          : level <= 6 ? BROOK_LOG_INFO
                                       : BROOK_LOG_DEBUG;
    brook_log(l, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *brook__kafka_conf_new(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, brook__kafka_log);
    return conf;
}

int brook__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                          brook_error_t *err) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "kafka property %s=%s: %s", name, value,
                               errstr);
    return 0;
}

/* ---- the declaration's properties ----------------------------------------------------------- */

/* Properties that mean something to one client type only; applying them to the other makes
 * librdkafka warn at every start. */
static const char *const producer_only[] = {"linger.ms",
                                            "queue.buffering.max.ms",
                                            "batch.size",
                                            "batch.num.messages",
                                            "compression.type",
                                            "compression.codec",
                                            "acks",
                                            "request.required.acks",
                                            "enable.idempotence",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "retries",
                                            "message.send.max.retries",
                                            "retry.backoff.ms",
                                            "partitioner",
                                            "transactional.id",
                                            "transaction.timeout.ms",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "sticky.partitioning.linger.ms",
                                            NULL};
static const char *const consumer_only[] = {"group.id",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "max.poll.interval.ms",
                                            "auto.offset.reset",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "fetch.min.bytes",
                                            "fetch.wait.max.ms",
                                            "fetch.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "partition.assignment.strategy",
                                            "isolation.level",
                                            "group.instance.id",
                                            "enable.partition.eof",
                                            "check.crcs",
                                            "allow.auto.create.topics",
                                            NULL};

static bool in_list(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

/* Properties Brook sets itself because its guarantees rest on them, and where to say instead
 * what they would say. */
static const struct {
    const char *name, *instead;
} brook_owned[] = {
    {"enable.auto.commit", "commits follow the listener's ack mode"},
    {"enable.auto.offset.store", "offsets are stored once a record is done"},
    {"group.id", "use listeners[].group"},
    {"bootstrap.servers", "use service.bootstrap or BROOK_BOOTSTRAP"},
};

int brook__kafka_apply_user(const brook_decl_t *d, rd_kafka_conf_t *conf, bool producer,
                            brook_error_t *err) {
    for (size_t i = 0; i < d->kafka_count; i++) {
        const char *name = d->kafka[i].name;
        for (size_t k = 0; k < sizeof(brook_owned) / sizeof(brook_owned[0]); k++)
            if (!strcmp(name, brook_owned[k].name))
                return brook_error_set(err, BROOK_ERR_DECL,
                                       "%s:%d: service.kafka: %s is set by "
                                       "Brook (%s)",
                                       d->source, d->kafka[i].line, name, brook_owned[k].instead);
        if (in_list(producer ? consumer_only : producer_only, name))
            continue;
        int rc = brook__kafka_conf_set(conf, name, d->kafka[i].value, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- consumers ------------------------------------------------------------------------------ */

int brook__kafka_consumer_defaults(rd_kafka_conf_t *conf, const brook_decl_t *d,
                                   const brook_decl_listener_t *l, bool embedded,
                                   brook_error_t *err) {
    struct {
        bool when;
        const char *name, *value;
    } defaults[] = {
        /* The embedded cluster rebalances after session.timeout.ms - 1 s; Kafka's 45 s
         * default would make every join crawl. */
        {embedded, "session.timeout.ms", "6000"},
        {embedded, "heartbeat.interval.ms", "500"},
        /* Incremental rebalancing: partitions that move are revoked (and committed) in a
         * first round while the group is stable, and handed over in a second; the others keep
         * flowing. With the eager protocol the revoke commit races the rebalance, and the
         * embedded cluster even refuses it. */
        {true, "partition.assignment.strategy", "cooperative-sticky"},
        /* The embedded cluster answers a fetch with no data only after fetch.wait.max.ms:
         * with the default 500 ms every hop of a chain of services would wait that long.
         * Elsewhere, a resumed partition's next fetch would otherwise wait behind one already
         * in flight. */
        {embedded || (l->retry.declared && l->retry.attempts > 1), "fetch.wait.max.ms",
         embedded ? "20" : "100"},
        {l->topic_pattern != NULL, "topic.metadata.refresh.interval.ms", "5000"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (!defaults[i].when || brook_decl_kafka_value(d, defaults[i].name))
            continue;
        int rc = brook__kafka_conf_set(conf, defaults[i].name, defaults[i].value, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the join state ------------------------------------------------------------------------- */

/* Runs on librdkafka's threads. */
static void join_state_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    brook__join_state_t *state = rd_kafka_opaque(rk);
    if (state && !strcmp(fac, "CGRPJOINSTATE")) {
        const char *to = strstr(buf, "-> ");
        if (to) {
            bool steady = !strncmp(to + 3, "steady ", 7), init = !strncmp(to + 3, "init ", 5);
            atomic_store(&state->steady, steady);
            atomic_store(&state->joining, !steady && !init);
            /* Out of wait-join other than back to init (an error): a JoinGroup answered. */
            if (!init && strstr(buf, "wait-join ->"))
                atomic_store(&state->joined, true);
        }
    }
    if (level >= 7 && state && !state->user_debug)
        return;
    brook__kafka_log(rk, level, fac, buf);
}

int brook__kafka_track_join_state(rd_kafka_conf_t *conf, brook__join_state_t *state,
                                  const brook_decl_t *d, brook_error_t *err) {
    state->user_debug = brook_decl_kafka_value(d, "debug") != NULL;
    atomic_store(&state->steady, false);
    atomic_store(&state->joining, false);
    atomic_store(&state->joined, false);
    rd_kafka_conf_set_log_cb(conf, join_state_log_cb);
    char debug[512] = "";
    size_t size = sizeof(debug);
    rd_kafka_conf_get(conf, "debug", debug, &size);
    char with_cgrp[600];
    snprintf(with_cgrp, sizeof(with_cgrp), "%s%scgrp", debug, debug[0] ? "," : "");
    return brook__kafka_conf_set(conf, "debug", with_cgrp, err);
}

void brook__kafka_instance_id(char *out, size_t size) {
    const char *id = getenv("BROOK_INSTANCE_ID");
    if (id && *id) {
        snprintf(out, size, "%s", id);
        return;
    }
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(out, size, "%s-%ld", host, (long)getpid());
}
