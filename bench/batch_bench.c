/*
 * Batch listener benchmark (docs/batch-listeners.md): the same records, already in a topic,
 * consumed by a record listener and by batch listeners of several sizes, each in a consumer
 * group of its own, one after another, in one process on the embedded cluster (or a real one
 * with BROOK_TEST_KAFKA / BROOK_TEST_BOOTSTRAP). Measures records per second from the first
 * record handled to the last (the group join is left out) with ack = "record"; every record
 * must be handled exactly once.
 *
 *   batch_bench [RECORDS]      default 120000 records of 100 bytes on 4 partitions
 *
 * Prints `bench: <name> <value> <unit>` and `ratio: <name> <value>` lines.
 *
 * The embedded cluster keeps ~5 MiB / 100k records per partition: the default stays well
 * under (30k records, 3 MB per partition).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook_test.h"

#define TOPIC "bench.batch"
#define PARTITIONS 4
#define VALUE_SIZE 100

static atomic_long handled, calls;
static atomic_llong first_ns, last_ns;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void note(long n) {
    long long t = now_ns(), zero = 0;
    atomic_compare_exchange_strong(&first_ns, &zero, t);
    atomic_fetch_add(&handled, n);
    atomic_fetch_add(&calls, 1);
    atomic_store(&last_ns, t);
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    const brook_bytes_t *v = value;
    if (v->len != VALUE_SIZE)
        abort();
    note(1);
    return BROOK_OK;
}

static brook_result_t on_batch(brook_batch_t *b, size_t n, const void *const *keys,
                               const void *const *values, void *op) {
    for (size_t i = 0; i < n; i++)
        if (((const brook_bytes_t *)values[i])->len != VALUE_SIZE)
            abort();
    note((long)n);
    return BROOK_OK;
}

static int produce(const char *bootstrap, long records) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p)
        return -1;
    char value[VALUE_SIZE];
    memset(value, 'v', sizeof(value));
    for (long i = 0; i < records; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "k-%ld", i);
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(i % PARTITIONS),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY(key, (size_t)len),
                                 RD_KAFKA_V_VALUE(value, sizeof(value)),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
    }
    int rc = rd_kafka_flush(p, 60000);
    rd_kafka_destroy(p);
    return rc;
}

/* Consumes the topic with a listener of its own group; records per second. */
static double run(const char *name, const char *listener_extra, bool batch, long records) {
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"batch-bench\"; kafka = { fetch_wait_max_ms = 10; }; };\n"
             "topics = ( { name = \"" TOPIC "\"; partitions = %d; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"" TOPIC "\" ]; group = \"bench-%s\";\n"
             "  value = \"bytes\"; handler = \"h\"; %s } );\n",
             PARTITIONS, name, listener_extra);
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "batch_bench", NULL, &err);
    if (!app) {
        fprintf(stderr, "%s: %s\n", name, err.message);
        exit(1);
    }
    if (batch)
        brook_app_set_batch_handler(app, "l", on_batch, NULL);
    else
        brook_app_set_handler(app, "l", on_record, NULL);
    atomic_store(&handled, 0);
    atomic_store(&calls, 0);
    atomic_store(&first_ns, 0);
    atomic_store(&last_ns, 0);
    if (brook_app_start(app, &err)) {
        fprintf(stderr, "%s: start: %s\n", name, err.message);
        exit(1);
    }
    long long deadline = now_ns() + 120LL * 1000000000LL;
    while (atomic_load(&handled) < records && now_ns() < deadline)
        brook_test_nap();
    long got = atomic_load(&handled);
    brook_app_stop(app);
    brook_app_destroy(app);
    if (got != records) {
        fprintf(stderr, "%s: handled %ld of %ld records\n", name, got, records);
        exit(1);
    }
    double secs = (double)(atomic_load(&last_ns) - atomic_load(&first_ns)) / 1e9;
    double rps = secs > 0 ? (double)records / secs : 0;
    printf("bench: batch_%s_records_per_s %.0f records/s (%ld handler calls, %.1f records each)\n",
           name, rps, atomic_load(&calls), (double)records / (double)atomic_load(&calls));
    return rps;
}

int main(int argc, char **argv) {
    long records = argc > 1 ? atol(argv[1]) : 120000;
    brook_log_set_level(BROOK_LOG_WARN);
    brook_test_cluster_t *cluster = brook_test_cluster_new(1);
    if (!cluster || brook_test_create_topic(cluster, TOPIC, PARTITIONS) ||
        produce(brook_test_bootstrap(cluster), records)) {
        fprintf(stderr, "cannot set up the cluster\n");
        return 1;
    }
    double rec = run("record", "", false, records);
    double b50 = run("batch50", "batch = { max_records = 50; max_wait_ms = 100; };", true, records);
    double b500 =
        run("batch500", "batch = { max_records = 500; max_wait_ms = 100; };", true, records);
    printf("ratio: batch50_vs_record %.2f\n", b50 / rec);
    printf("ratio: batch500_vs_record %.2f\n", b500 / rec);
    brook_test_cluster_destroy(cluster);
    return 0;
}
