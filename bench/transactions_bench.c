/*
 * The transactions benchmark: consume-transform-produce of N records, three ways, in one run
 * on one cluster (the embedded one, or a real broker named by BROOK_TEST_KAFKA):
 *
 *   brook-alo  a Brook listener relaying each record through a template (at-least-once)
 *   brook-eos  the same listener declared exactly_once (transactions of up to 100 records)
 *   raw-eos    hand-written librdkafka: a read_committed consumer and a transactional
 *              producer, begin / produce / send_offsets_to_transaction / commit every 100
 *              records (the loop KIP-447 describes)
 *
 * Each reads the same N pre-produced records (values of about 106 bytes) from its own copy of the
 * input, writes them to its own output topic, and is timed from its first record until every
 * record is relayed and committed (the service stopped, its last commit made): joining the
 * group is left out. Prints records/s and
 * process CPU per record (all threads, the embedded cluster's included), and the ratios
 * against raw-eos.
 *
 *   transactions_bench [N]      (default 50000)
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "brook/brook_test.h"

#define TXN_RECORDS 100

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

typedef struct {
    const char *name;
    double per_s, cpu_us_per_record;
} result_t;

static void report(result_t *r, int n, int64_t wall, int64_t cpu) {
    r->per_s = n / (wall / 1e6);
    r->cpu_us_per_record = (double)cpu / n;
    printf("bench: transactions_%s %.0f records/s\n", r->name, r->per_s);
    printf("bench: transactions_%s_cpu %.2f us/record\n", r->name, r->cpu_us_per_record);
    fflush(stdout);
}

/* ---- Brook ---------------------------------------------------------------------------- */

static atomic_int handled;
static _Atomic int64_t first_us, first_cpu_us; /* when the first record came */

static void first_record(void) {
    int64_t zero = 0;
    int64_t t = now_us();
    if (atomic_compare_exchange_strong(&first_us, &zero, t))
        atomic_store(&first_cpu_us, cpu_us());
}

static brook_result_t relay(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    first_record();
    const brook_record_t *r = brook_ctx_record(ctx);
    if (brook_template_send_raw(op, r->key, r->key_len, r->value, r->value_len, NULL))
        return BROOK_RETRY;
    atomic_fetch_add(&handled, 1);
    return BROOK_OK;
}

static int run_brook(result_t *r, const char *in, const char *out, bool eos, int n) {
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"tb-%s\"; };\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; value = \"bytes\"; } );\n"
             "listeners = ( { id = \"relay\"; group = \"tb-%s\"; topics = [ \"%s\" ];\n"
             "  value = \"bytes\"; handler = \"relay\"; %s } );\n",
             r->name, out, r->name, in,
             eos ? "exactly_once = true; transaction = { max_records = 100; max_ms = 100; };" : "");
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "bench.brook", NULL, &err);
    if (!app) {
        fprintf(stderr, "transactions_bench: %s\n", err.message);
        return 1;
    }
    brook_app_set_handler(app, "relay", relay, brook_app_template(app, "out"));
    atomic_store(&handled, 0);
    atomic_store(&first_us, 0);
    if (brook_app_start(app, &err)) {
        fprintf(stderr, "transactions_bench: %s\n", err.message);
        return 1;
    }
    while (atomic_load(&handled) < n)
        brook_test_nap();
    int rc = brook_app_stop(app);
    report(r, n, now_us() - atomic_load(&first_us), cpu_us() - atomic_load(&first_cpu_us));
    brook_app_destroy(app);
    return rc;
}

/* ---- hand-written librdkafka ---------------------------------------------------------------- */

static bool embedded;

/* A client with Brook's settings for its kind (kafka/kafka.c): the comparison is of the
 * code, not of the configuration. */
static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *k1,
                          const char *v1, const char *k2, const char *v2) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, k1, v1, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, k2, v2, errstr, sizeof(errstr));
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", errstr,
                          sizeof(errstr));
        if (embedded) {
            rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", errstr, sizeof(errstr));
            rd_kafka_conf_set(conf, "session.timeout.ms", "6000", errstr, sizeof(errstr));
            rd_kafka_conf_set(conf, "heartbeat.interval.ms", "500", errstr, sizeof(errstr));
        }
    } else {
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr, sizeof(errstr));
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk)
        fprintf(stderr, "transactions_bench: %s\n", errstr);
    return rk;
}

static bool ok(rd_kafka_error_t *e, const char *what) {
    if (!e)
        return true;
    fprintf(stderr, "transactions_bench: raw %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return false;
}

static bool commit_raw(rd_kafka_t *c, rd_kafka_t *p) {
    rd_kafka_topic_partition_list_t *pos = NULL;
    rd_kafka_assignment(c, &pos);
    rd_kafka_position(c, pos);
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(c);
    bool good = ok(rd_kafka_send_offsets_to_transaction(p, pos, md, 30000), "send offsets") &&
                ok(rd_kafka_commit_transaction(p, 30000), "commit");
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(pos);
    return good;
}

static int run_raw(result_t *r, const char *bootstrap, const char *in, const char *out, int n) {
    atomic_store(&first_us, 0);
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, bootstrap, "group.id", "tb-raw", "isolation.level",
                           "read_committed");
    rd_kafka_t *p =
        client(RD_KAFKA_PRODUCER, bootstrap, "transactional.id", "tb-raw-0", "linger.ms", "5");
    if (!c || !p || !ok(rd_kafka_init_transactions(p, 30000), "init"))
        return 1;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, out, NULL);
    int done = 0, in_txn = 0;
    while (done < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        first_record();
        if (!in_txn && !ok(rd_kafka_begin_transaction(p), "begin"))
            return 1;
        while (rd_kafka_producev(p, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY(m->key, m->key_len),
                                 RD_KAFKA_V_VALUE(m->payload, m->len),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        rd_kafka_message_destroy(m);
        done++;
        if (++in_txn == TXN_RECORDS || done == n) {
            if (!commit_raw(c, p))
                return 1;
            in_txn = 0;
        }
        rd_kafka_poll(p, 0);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    report(r, n, now_us() - atomic_load(&first_us), cpu_us() - atomic_load(&first_cpu_us));
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50000;
    brook_log_set_level(BROOK_LOG_WARN);
    brook_test_cluster_t *cluster = brook_test_cluster_new(1);
    if (!cluster)
        return 1;
    /* The apps find the cluster themselves (the test kit points them at a real one). */
    const char *bootstrap = brook_test_bootstrap(cluster);
    embedded = brook_test_is_embedded(cluster);
    printf("transactions benchmark: %d records of about 106 bytes, %s cluster\n", n,
           embedded ? "embedded" : "real");
    result_t res[3] = {{.name = "brook_alo"}, {.name = "brook_eos"}, {.name = "raw_eos"}};
    const char *ins[3] = {"tb.alo.in", "tb.eos.in", "tb.raw.in"};
    const char *outs[3] = {"tb.alo.out", "tb.eos.out", "tb.raw.out"};
    char value[101];
    memset(value, 'v', 100);
    value[100] = 0;
    for (int v = 0; v < 3; v++) {
        if (brook_test_create_topic(cluster, ins[v], 4) ||
            brook_test_create_topic(cluster, outs[v], 4))
            return 1;
        if (brook_test_produce_n(cluster, ins[v], value, 0, n))
            return 1;
    }
    int rc = run_brook(&res[0], ins[0], outs[0], false, n) ||
             run_brook(&res[1], ins[1], outs[1], true, n) ||
             run_raw(&res[2], bootstrap, ins[2], outs[2], n);
    if (!rc) {
        printf("ratio: transactions_brook_eos_vs_raw_eos_throughput %.2f\n",
               res[1].per_s / res[2].per_s);
        printf("ratio: transactions_brook_eos_vs_raw_eos_cpu %.2f\n",
               res[1].cpu_us_per_record / res[2].cpu_us_per_record);
        printf("ratio: transactions_brook_eos_vs_brook_alo_throughput %.2f\n",
               res[1].per_s / res[0].per_s);
    }
    brook_test_cluster_destroy(cluster);
    return rc;
}
