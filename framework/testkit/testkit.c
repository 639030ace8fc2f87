/* The test fixture (brook/brook_test.h). Built on libbrook's public API only, and on
 * librdkafka directly for its own clients and the embedded cluster's fault injection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "brook/brook_test.h"

struct brook_test_cluster_s {
    brook_cluster_t *cluster; /* the embedded cluster, or NULL on a real one */
    char *bootstrap;
    char *kafka_dir; /* a cluster of tests/kafka/kafka-cluster: faults are real */
    int brokers;
    rd_kafka_t *producer;
};

typedef struct {
    bool done;
    rd_kafka_resp_err_t err;
} produce_wait_t;

static void test_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    produce_wait_t *w = m->_private;
    if (w) {
        w->err = m->err;
        w->done = true;
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fixture's clients log as the runtime's do: through brook_log(), so a test's sink and
 * level see librdkafka's lines too. librdkafka's levels are syslog's. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    brook_log_level_t l = level <= 3   ? BROOK_LOG_ERROR
                          : level == 4 ? BROOK_LOG_WARN
                          : level <= 6 ? BROOK_LOG_INFO
                                       : BROOK_LOG_DEBUG;
    brook_log(l, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static rd_kafka_conf_t *kafka_conf_new(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    return conf;
}

/* The embedded cluster's mock handle, for fault injection; NULL on a real cluster. */
static rd_kafka_mock_cluster_t *mock_of(brook_test_cluster_t *c) {
    return c->cluster ? brook_cluster_mock(c->cluster) : NULL;
}

static rd_kafka_t *test_client(brook_test_cluster_t *c, rd_kafka_type_t type, const char *group) {
    rd_kafka_conf_t *conf = kafka_conf_new();
    char errstr[512] = "";
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, NULL, 0);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(conf, "linger.ms", "0", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(conf, test_dr);
    } else {
        rd_kafka_conf_set(conf, "group.id", group ? group : "brook-test", NULL, 0);
        if (group && !strcmp(group, "brook-test-uncommitted"))
            rd_kafka_conf_set(conf, "isolation.level", "read_uncommitted", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        brook_log(BROOK_LOG_ERROR, "test", "client: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* The bootstrap list of a real cluster named by the environment, or NULL (embedded). */
static char *real_bootstrap(char **kafka_dir) {
    const char *b = getenv("BROOK_TEST_BOOTSTRAP");
    const char *dir = getenv("BROOK_TEST_KAFKA");
    *kafka_dir = NULL;
    if (b && *b && strcmp(b, "embedded") != 0)
        return strdup(b);
    if (!dir || !*dir)
        return NULL;
    char path[4096], line[4096] = "";
    snprintf(path, sizeof(path), "%s/bootstrap", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        brook_log(BROOK_LOG_ERROR, "test", "BROOK_TEST_KAFKA=%s: no %s (is the cluster running?)",
                  dir, path);
        return NULL;
    }
    if (!fgets(line, sizeof(line), f))
        line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (!*line)
        return NULL;
    *kafka_dir = strdup(dir);
    return strdup(line);
}

static int cluster_brokers(rd_kafka_t *rk) {
    const struct rd_kafka_metadata *md;
    int n = 0;
    for (int i = 0; i < 50 && !n; i++) {
        if (rd_kafka_metadata(rk, 0, NULL, &md, 5000) == 0) {
            n = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
        }
    }
    return n;
}

brook_test_cluster_t *brook_test_cluster_new(int brokers) {
    brook_test_cluster_t *c = calloc(1, sizeof(*c));
    brook_error_t err = {0};
    if (!c)
        return NULL;
    const char *want_real = getenv("BROOK_TEST_KAFKA");
    c->bootstrap = real_bootstrap(&c->kafka_dir);
    if (!c->bootstrap && want_real && *want_real) {
        brook_test_cluster_destroy(c);
        return NULL;
    }
    if (c->bootstrap) {
        /* Apps declared "embedded" go to the real cluster; a member that vanished (a test's
         * crash-like destroy) is replaced within seconds, not Kafka's default 45 s. */
        setenv("BROOK_BOOTSTRAP", c->bootstrap, 1);
        setenv("BROOK_KAFKA_SESSION_TIMEOUT_MS", "6000", 0);
        setenv("BROOK_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 0);
    } else if ((c->cluster = brook_cluster_acquire(brokers, &err))) {
        c->bootstrap = strdup(brook_cluster_bootstrap(c->cluster));
    }
    if (!c->bootstrap || !(c->producer = test_client(c, RD_KAFKA_PRODUCER, NULL))) {
        brook_log(BROOK_LOG_ERROR, "test", "cannot start the test cluster: %s",
                  err.message[0] ? err.message : "see above");
        brook_test_cluster_destroy(c);
        return NULL;
    }
    c->brokers = c->cluster ? brook_cluster_broker_count(c->cluster) : cluster_brokers(c->producer);
    if (c->brokers < 1) {
        brook_log(BROOK_LOG_ERROR, "test", "no broker answers at %s", c->bootstrap);
        brook_test_cluster_destroy(c);
        return NULL;
    }
    brook_log(BROOK_LOG_INFO, "test", "test cluster: %s, %d broker(s) at %s",
              c->cluster ? "embedded" : "real", c->brokers, c->bootstrap);
    return c;
}

void brook_test_cluster_destroy(brook_test_cluster_t *c) {
    if (!c)
        return;
    if (c->producer) {
        rd_kafka_flush(c->producer, 5000);
        rd_kafka_destroy(c->producer);
    }
    brook_cluster_release(c->cluster);
    free(c->bootstrap);
    free(c->kafka_dir);
    free(c);
}

const char *brook_test_bootstrap(const brook_test_cluster_t *c) {
    return c->bootstrap;
}

brook_cluster_t *brook_test_embedded(brook_test_cluster_t *c) {
    return c->cluster;
}

bool brook_test_is_embedded(const brook_test_cluster_t *c) {
    return c->cluster != NULL;
}

int brook_test_broker_count(const brook_test_cluster_t *c) {
    return c->brokers;
}

/* Partitions of topic with a leader each, or -1 while it is unknown or being created. */
static int ready_partitions(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            n = md->topics[0].partition_cnt;
            for (int p = 0; p < md->topics[0].partition_cnt; p++)
                if (md->topics[0].partitions[p].leader < 0 || md->topics[0].partitions[p].err)
                    n = -1;
        }
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return n;
}

int brook_test_create_topic(brook_test_cluster_t *c, const char *topic, int partitions) {
    if (c->cluster)
        return brook_cluster_create_topic(c->cluster, topic, partitions, 1);
    char errstr[512];
    int replication = c->brokers < 3 ? c->brokers : 3;
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, partitions, replication, errstr, sizeof(errstr));
    if (!nt)
        return BROOK_ERR_INVALID_ARG;
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->producer);
    rd_kafka_CreateTopics(c->producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = ev ? rd_kafka_event_error(ev) : BROOK_ERR_TIMEOUT;
    if (ev && !rc) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = n == 1 ? rd_kafka_topic_result_error(res[0]) : BROOK_ERR_KAFKA;
        if (rc == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    /* Created is not yet served: wait until every partition has a leader. */
    if (!rc && !BROOK_TEST_WAIT_UNTIL(ready_partitions(c->producer, topic) > 0, 30000))
        rc = BROOK_ERR_TIMEOUT;
    if (rc)
        brook_log(BROOK_LOG_ERROR, "test", "cannot create topic %s: %s", topic, brook_err2str(rc));
    return rc;
}

int brook_test_produce(brook_test_cluster_t *c, const char *topic, int32_t partition,
                       const void *key, size_t key_len, const void *value, size_t value_len,
                       const brook_header_t *headers, size_t header_count) {
    produce_wait_t w = {0};
    rd_kafka_headers_t *h = NULL;
    if (header_count) {
        h = rd_kafka_headers_new(header_count);
        for (size_t i = 0; i < header_count; i++)
            rd_kafka_header_add(h, headers[i].name, -1, headers[i].value,
                                headers[i].value ? (ssize_t)headers[i].len : 0);
    }
    rd_kafka_resp_err_t err =
        rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                          RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (err) {
        if (h)
            rd_kafka_headers_destroy(h);
        return err;
    }
    /* The report is served by rd_kafka_poll on this thread. */
    while (!w.done)
        rd_kafka_poll(c->producer, 10);
    return w.err;
}

int brook_test_produce_n(brook_test_cluster_t *c, const char *topic, const char *prefix, int first,
                         int n) {
    char buf[256];
    for (int i = first; i < first + n; i++) {
        int len = snprintf(buf, sizeof(buf), "%s-%d", prefix, i);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(buf, (size_t)len), RD_KAFKA_V_VALUE(buf, (size_t)len),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(c->producer, 10);
        if (err)
            return err;
    }
    return rd_kafka_flush(c->producer, 30000);
}

static void *dup_bytes(const void *p, size_t len) {
    if (!p)
        return NULL;
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, p, len);
        d[len] = 0;
    }
    return d;
}

static size_t consume(brook_test_cluster_t *c, const char *topic, size_t n, int timeout_ms,
                      bool uncommitted, brook_test_record_t **out) {
    *out = NULL;
    rd_kafka_t *rk =
        test_client(c, RD_KAFKA_CONSUMER, uncommitted ? "brook-test-uncommitted" : NULL);
    if (!rk)
        return 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int parts = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == 0) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                parts = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (parts > 0)
            break;
        brook_test_nap();
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(assign, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    size_t count = 0, cap = n ? n : 1;
    brook_test_record_t *recs = calloc(cap, sizeof(*recs));
    while (recs && count < n && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m)
            continue;
        if (!m->err) {
            brook_test_record_t *r = &recs[count++];
            rd_kafka_timestamp_type_t tt;
            r->topic = strdup(topic);
            r->partition = m->partition;
            r->offset = m->offset;
            r->timestamp = rd_kafka_message_timestamp(m, &tt);
            r->timestamp_type = tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? BROOK_TS_LOG_APPEND_TIME
                                                                         : BROOK_TS_CREATE_TIME;
            r->key = dup_bytes(m->key, m->key_len);
            r->key_len = m->key_len;
            r->value = dup_bytes(m->payload, m->len);
            r->value_len = m->len;
            rd_kafka_headers_t *h;
            if (!rd_kafka_message_headers(m, &h)) {
                size_t hn = rd_kafka_header_cnt(h);
                r->headers = calloc(hn ? hn : 1, sizeof(*r->headers));
                for (size_t i = 0; r->headers && i < hn; i++) {
                    const char *name;
                    const void *v;
                    size_t len;
                    rd_kafka_header_get_all(h, i, &name, &v, &len);
                    r->headers[i].name = strdup(name);
                    r->headers[i].value = dup_bytes(v, len);
                    r->headers[i].len = len;
                    r->header_count = i + 1;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *out = recs;
    return count;
}

size_t brook_test_consume(brook_test_cluster_t *c, const char *topic, size_t n, int timeout_ms,
                          brook_test_record_t **out) {
    return consume(c, topic, n, timeout_ms, false, out);
}

size_t brook_test_consume_uncommitted(brook_test_cluster_t *c, const char *topic, size_t n,
                                      int timeout_ms, brook_test_record_t **out) {
    return consume(c, topic, n, timeout_ms, true, out);
}

void brook_test_records_free(brook_test_record_t *records, size_t count) {
    if (!records)
        return;
    for (size_t i = 0; i < count; i++) {
        brook_test_record_t *r = &records[i];
        free(r->topic);
        free(r->key);
        free(r->value);
        for (size_t k = 0; k < r->header_count; k++) {
            free((void *)r->headers[k].name);
            free((void *)r->headers[k].value);
        }
        free(r->headers);
    }
    free(records);
}

const brook_header_t *brook_test_record_header(const brook_test_record_t *r, const char *name) {
    for (size_t i = r->header_count; i-- > 0;)
        if (!strcmp(r->headers[i].name, name))
            return &r->headers[i];
    return NULL;
}

/* A failed query is BROOK_ERR_KAFKA, never librdkafka's code: a broker error is positive and
 * would read as an offset. */
int64_t brook_test_committed(brook_test_cluster_t *c, const char *group, const char *topic,
                             int32_t partition) {
    rd_kafka_t *rk = test_client(c, RD_KAFKA_CONSUMER, group);
    if (!rk)
        return BROOK_ERR_KAFKA;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, 10000);
    if (!err)
        err = l->elems[0].err;
    int64_t off = err ? BROOK_ERR_KAFKA : l->elems[0].offset;
    if (err)
        brook_log(BROOK_LOG_ERROR, "test", "committed offset of group %s on %s[%d]: %s", group,
                  topic, (int)partition, rd_kafka_err2str(err));
    else if (off < 0)
        off = BROOK_TEST_NO_OFFSET;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

int brook_test_group_members(brook_test_cluster_t *c, const char *group) {
    if (c->cluster)
        return BROOK_ERR_UNSUPPORTED; /* librdkafka's mock has no DescribeGroups */
    const struct rd_kafka_group_list *groups = NULL;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(c->producer, group, &groups, 10000);
    int n = BROOK_ERR_KAFKA;
    if (err)
        brook_log(BROOK_LOG_ERROR, "test", "describing group %s: %s", group, rd_kafka_err2str(err));
    else if (groups->group_cnt == 0)
        n = 0; /* the broker does not know it (yet) */
    else if (groups->groups[0].err)
        brook_log(BROOK_LOG_ERROR, "test", "describing group %s: %s", group,
                  rd_kafka_err2str(groups->groups[0].err));
    else
        n = groups->groups[0].member_cnt;
    if (groups)
        rd_kafka_group_list_destroy(groups);
    return n;
}

int64_t brook_test_end_offsets(brook_test_cluster_t *c, const char *topic) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->producer, topic, NULL);
    int64_t sum = BROOK_ERR_KAFKA;
    if (rd_kafka_metadata(c->producer, 0, rkt, &md, 5000) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            sum = 0;
            for (int p = 0; p < md->topics[0].partition_cnt && sum >= 0; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(c->producer, topic, p, &lo, &hi, 5000))
                    sum = BROOK_ERR_KAFKA;
                else
                    sum += hi;
            }
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return sum;
}

int brook_test_push_request_errors(brook_test_cluster_t *c, int16_t api_key, size_t count,
                                   int error_code) {
    rd_kafka_mock_cluster_t *mock = mock_of(c);
    if (!mock)
        return BROOK_ERR_UNSUPPORTED;
    rd_kafka_resp_err_t *errs = calloc(count ? count : 1, sizeof(*errs));
    if (!errs)
        return BROOK_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        errs[i] = (rd_kafka_resp_err_t)error_code;
    rd_kafka_mock_push_request_errors_array(mock, api_key, count, errs);
    free(errs);
    return 0;
}

int brook_test_partition_leader(brook_test_cluster_t *c, const char *topic, int32_t partition,
                                int32_t broker_id) {
    rd_kafka_mock_cluster_t *mock = mock_of(c);
    if (!mock)
        return BROOK_ERR_UNSUPPORTED;
    return rd_kafka_mock_partition_set_leader(mock, topic, partition, broker_id);
}

/* Runs `DIR/ctl ACTION BROKER` of a kafka-cluster cluster; its exit status. */
static int kafka_ctl(brook_test_cluster_t *c, const char *action, int32_t broker_id) {
    if (!c->kafka_dir)
        return BROOK_ERR_UNSUPPORTED;
    char ctl[4096], id[16];
    snprintf(ctl, sizeof(ctl), "%s/ctl", c->kafka_dir);
    snprintf(id, sizeof(id), "%d", (int)broker_id);
    pid_t pid = fork();
    if (pid == 0) {
        execl(ctl, ctl, action, id, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return BROOK_ERR_IO;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : BROOK_ERR_IO;
}

int brook_test_broker_down(brook_test_cluster_t *c, int32_t broker_id) {
    rd_kafka_mock_cluster_t *mock = mock_of(c);
    if (!mock)
        return kafka_ctl(c, "kill", broker_id);
    return rd_kafka_mock_broker_set_down(mock, broker_id);
}

int brook_test_broker_up(brook_test_cluster_t *c, int32_t broker_id) {
    rd_kafka_mock_cluster_t *mock = mock_of(c);
    if (!mock)
        return kafka_ctl(c, "start-broker", broker_id);
    return rd_kafka_mock_broker_set_up(mock, broker_id);
}

int brook_test_broker_rtt(brook_test_cluster_t *c, int32_t broker_id, int rtt_ms) {
    rd_kafka_mock_cluster_t *mock = mock_of(c);
    if (!mock)
        return BROOK_ERR_UNSUPPORTED;
    return rd_kafka_mock_broker_set_rtt(mock, broker_id, rtt_ms);
}

int64_t brook_test_now_ms(void) {
    return now_ms();
}

void brook_test_nap(void) {
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL);
}

static bool all_assigned(void *arg) {
    brook_app_t *app = arg;
    for (size_t i = 0; i < brook_app_listener_count(app); i++) {
        brook_listener_t *l = brook_app_listener_at(app, i);
        /* A listener stopped on purpose (auto_startup = false, brook_listener_stop) has none. */
        if (brook_listener_running(l) && !brook_listener_assigned(l))
            return false;
    }
    return true;
}

bool brook_test_wait_assigned(brook_app_t *app, int timeout_ms) {
    return brook_test_wait(all_assigned, app, timeout_ms);
}

bool brook_test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (now_ms() >= deadline)
            return false;
        brook_test_nap();
    }
}

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2). */
static int32_t murmur2(const uint8_t *data, size_t length) {
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)length;
    size_t len4 = length / 4;
    for (size_t i = 0; i < len4; i++) {
        size_t i4 = i * 4;
        uint32_t k = (uint32_t)data[i4] | ((uint32_t)data[i4 + 1] << 8) |
                     ((uint32_t)data[i4 + 2] << 16) | ((uint32_t)data[i4 + 3] << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (length % 4) {
    case 3:
        h ^= (uint32_t)data[(length & ~(size_t)3) + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[(length & ~(size_t)3) + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[length & ~(size_t)3];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t brook_test_murmur2(const void *key, size_t len) {
    return murmur2(key, len);
}

int32_t brook_test_murmur2_partition(const void *key, size_t len, int32_t partitions) {
    return (int32_t)(((uint32_t)murmur2(key, len) & 0x7fffffff) % (uint32_t)partitions);
}
